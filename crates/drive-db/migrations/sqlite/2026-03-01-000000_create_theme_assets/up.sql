-- The live version of every theme file, served to browsers and kept across restarts.
-- path is the file's key inside its *.gbtheme/ folder; source_key the object it came from,
-- so that removing an object takes only what it provided. content_hash is the SHA-256 of
-- content in hex; size is the length of content, kept apart so listings skip the bytes.
CREATE TABLE theme_assets (
    bot TEXT NOT NULL,
    path TEXT NOT NULL,
    source_key TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    content BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (bot, path)
) STRICT;
CREATE INDEX theme_assets_by_source ON theme_assets (bot, source_key);
