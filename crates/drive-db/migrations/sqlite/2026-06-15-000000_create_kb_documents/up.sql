-- Each indexed document's chunk list, the text that kb_chunks (with its lexical index and
-- vectors) is built from: a repair restores lost or dropped chunk rows from here without
-- reading the bucket. chunks is a JSON array of {id, ordinal, heading, text}; n_chunks its
-- length, so a repair finds damaged documents by counting. content_hash is the hex SHA-256
-- of the object version indexed (NULL for documents indexed before it was recorded).
CREATE TABLE IF NOT EXISTS kb_documents (
    bot TEXT NOT NULL,
    doc_key TEXT NOT NULL,
    collection TEXT NOT NULL,
    content_hash TEXT,
    n_chunks INTEGER NOT NULL,
    chunks TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (bot, doc_key)
) STRICT;

-- Documents indexed before this table existed get their list from their chunk rows.
INSERT OR IGNORE INTO kb_documents (bot, doc_key, collection, content_hash, n_chunks, chunks, updated_at)
SELECT bot, doc_key, min(collection), NULL, count(*),
       json_group_array(json_object('id', chunk_id, 'ordinal', ordinal, 'heading', heading, 'text', text)),
       max(updated_at)
FROM kb_chunks GROUP BY bot, doc_key;
