-- Every statement is idempotent (IF NOT EXISTS): a repair runs this file again to recreate
-- what was dropped.
-- The chunks of every knowledge document, their lexical index and their vectors.
-- chunk_id is the hex SHA-256 of the document key, the chunk's text and its occurrence, so
-- re-indexing a document rewrites the same rows. model and dim name the vector's model and
-- dimension (NULL when the chunk has no vector); vector holds dim little-endian f32 values.
-- The lexical index is a generated column with the language-neutral 'simple' configuration
-- (documents come in many languages), so it cannot drift from the text.
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
    vector BYTEA,
    updated_at BIGINT NOT NULL,
    lexemes TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED,
    PRIMARY KEY (bot, chunk_id)
);
CREATE INDEX IF NOT EXISTS kb_chunks_by_document ON kb_chunks (bot, doc_key);
CREATE INDEX IF NOT EXISTS kb_chunks_by_collection ON kb_chunks (bot, collection);
CREATE INDEX IF NOT EXISTS kb_chunks_lexemes ON kb_chunks USING GIN (lexemes);
