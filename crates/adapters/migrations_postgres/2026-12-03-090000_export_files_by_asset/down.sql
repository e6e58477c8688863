DROP INDEX export_files_by_asset;
