DROP TRIGGER kb_chunks_fts_update;
DROP TRIGGER kb_chunks_fts_delete;
DROP TRIGGER kb_chunks_fts_insert;
DROP TABLE kb_chunks_fts;
DROP TABLE kb_chunks;
