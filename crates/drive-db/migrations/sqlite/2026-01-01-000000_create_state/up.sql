-- The same shape as the PostgreSQL schema. Tables are STRICT so that a value of the wrong
-- type is refused when written rather than silently converted when read; STRICT spells
-- 64-bit integers INTEGER.

-- Bots whose file state was committed at least once. Times are nanoseconds since the Unix
-- epoch, as drive-core's Timestamp counts them.
CREATE TABLE bots (
    name TEXT NOT NULL PRIMARY KEY,
    first_seen INTEGER NOT NULL
) STRICT;

-- One row per object the monitor tracks. The current version is always present; the live
-- version's columns are all NULL when no version of the object was ever made live
-- (live_size is the marker, since a live version always has a size).
CREATE TABLE file_state (
    bot TEXT NOT NULL REFERENCES bots (name) ON DELETE CASCADE,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    etag TEXT,
    size INTEGER NOT NULL,
    last_modified INTEGER,
    content_hash TEXT,
    live_etag TEXT,
    live_size INTEGER,
    live_last_modified INTEGER,
    live_content_hash TEXT,
    status TEXT NOT NULL,
    attempts INTEGER,
    last_error TEXT,
    next_retry INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (bot, key)
) STRICT;

-- Settings are grouped by the object they came from, so removing one config file takes
-- exactly the names it provided.
CREATE TABLE settings (
    bot TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    source_key TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (bot, name)
) STRICT;
CREATE INDEX settings_by_source ON settings (bot, source_key);

CREATE TABLE prompts (
    bot TEXT NOT NULL,
    source_key TEXT NOT NULL,
    text TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (bot, source_key)
) STRICT;
