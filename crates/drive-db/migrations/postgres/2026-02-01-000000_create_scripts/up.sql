-- Compiled scripts of every bot. The live version's columns are NULL until a version of
-- the script compiled (live_hash is the marker); failed_hash and failure hold the newest
-- version that did not compile, while the live one stays. JSON documents (tree, manifest,
-- tool forms, diagnostic lists, schedule and webhook lists) are stored as text.
CREATE TABLE scripts (
    bot TEXT NOT NULL,
    key TEXT NOT NULL,
    live_hash TEXT,
    tree TEXT,
    warnings TEXT,
    tool_name TEXT,
    tool_openai TEXT,
    tool_mcp TEXT,
    manifest TEXT,
    schedules TEXT,
    webhooks TEXT,
    failed_hash TEXT,
    failure TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (bot, key)
);
CREATE INDEX scripts_by_tool ON scripts (bot, tool_name);
