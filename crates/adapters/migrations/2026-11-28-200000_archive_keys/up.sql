-- Archives are named by storage keys, never by host paths: the working folders are
-- the worker's own business, and a zip is `exports/<operation id>.zip` wherever it is kept.
ALTER TABLE export_operations DROP COLUMN export_path;
ALTER TABLE export_operations DROP COLUMN assets_path;
ALTER TABLE export_operations RENAME COLUMN generated_file TO archive_key;
UPDATE export_operations SET archive_key = 'exports/' || id || '.zip'
    WHERE archive_key IS NOT NULL;
ALTER TABLE user_data_files RENAME COLUMN path TO archive_key;
UPDATE user_data_files SET archive_key = COALESCE(
    (SELECT 'exports/' || o.id || '.zip' FROM export_operations o WHERE o.file_id = user_data_files.id),
    archive_key);
