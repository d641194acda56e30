DROP TABLE kb_chunks;
