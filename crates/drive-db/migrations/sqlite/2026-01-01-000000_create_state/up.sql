-- Bots whose file state was committed at least once. Times are nanoseconds since the Unix
-- epoch, as drive-core's Timestamp counts them.
CREATE TABLE bots (
    name TEXT NOT NULL PRIMARY KEY,
    first_seen BIGINT NOT NULL
);

-- One row per object the monitor tracks. The current version is always present; the live
-- version's columns are all NULL when no version of the object was ever made live
-- (live_size is the marker, since a live version always has a size).
CREATE TABLE file_state (
    bot TEXT NOT NULL REFERENCES bots (name) ON DELETE CASCADE,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    etag TEXT,
    size BIGINT NOT NULL,
    last_modified BIGINT,
    content_hash TEXT,
    live_etag TEXT,
    live_size BIGINT,
    live_last_modified BIGINT,
    live_content_hash TEXT,
    status TEXT NOT NULL,
    attempts BIGINT,
    last_error TEXT,
    next_retry BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (bot, key)
);

-- Settings are grouped by the object they came from, so removing one config file takes
-- exactly the names it provided.
CREATE TABLE settings (
    bot TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    source_key TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (bot, name)
);
CREATE INDEX settings_by_source ON settings (bot, source_key);

CREATE TABLE prompts (
    bot TEXT NOT NULL,
    source_key TEXT NOT NULL,
    text TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (bot, source_key)
);
