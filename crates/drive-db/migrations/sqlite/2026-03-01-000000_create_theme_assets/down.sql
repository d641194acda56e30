DROP TABLE theme_assets;
