DROP TABLE prompts;
DROP INDEX settings_by_source;
DROP TABLE settings;
DROP TABLE file_state;
DROP TABLE bots;
