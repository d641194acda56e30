DROP TABLE kb_documents;
