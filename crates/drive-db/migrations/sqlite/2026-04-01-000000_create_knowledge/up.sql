-- Every statement is idempotent (IF NOT EXISTS): a repair runs this file again to recreate
-- what was dropped.
-- The chunks of every knowledge document, their lexical index and their vectors.
-- chunk_id is the hex SHA-256 of the document key, the chunk's text and its occurrence, so
-- re-indexing a document rewrites the same rows. model and dim name the vector's model and
-- dimension (NULL when the chunk has no vector); vector holds dim little-endian f32 values.
CREATE TABLE IF NOT EXISTS kb_chunks (
    bot TEXT NOT NULL,
    chunk_id TEXT NOT NULL,
    doc_key TEXT NOT NULL,
    collection TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    heading TEXT NOT NULL,
    text TEXT NOT NULL,
    model TEXT,
    dim INTEGER,
    vector BLOB,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (bot, chunk_id)
) STRICT;
CREATE INDEX IF NOT EXISTS kb_chunks_by_document ON kb_chunks (bot, doc_key);
CREATE INDEX IF NOT EXISTS kb_chunks_by_collection ON kb_chunks (bot, collection);

-- The lexical index over the chunks' text, kept in step by triggers, so it cannot drift
-- from kb_chunks whatever statement changes the table.
CREATE VIRTUAL TABLE IF NOT EXISTS kb_chunks_fts USING fts5(
    text,
    content = 'kb_chunks',
    content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS kb_chunks_fts_insert AFTER INSERT ON kb_chunks BEGIN
    INSERT INTO kb_chunks_fts (rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER IF NOT EXISTS kb_chunks_fts_delete AFTER DELETE ON kb_chunks BEGIN
    INSERT INTO kb_chunks_fts (kb_chunks_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
CREATE TRIGGER IF NOT EXISTS kb_chunks_fts_update AFTER UPDATE OF text ON kb_chunks BEGIN
    INSERT INTO kb_chunks_fts (kb_chunks_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
    INSERT INTO kb_chunks_fts (rowid, text) VALUES (new.rowid, new.text);
END;
