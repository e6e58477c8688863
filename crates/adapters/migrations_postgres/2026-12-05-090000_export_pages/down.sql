DROP TABLE export_pages;
