DROP TABLE prompts;
DROP TABLE settings;
DROP TABLE file_state;
DROP TABLE bots;
