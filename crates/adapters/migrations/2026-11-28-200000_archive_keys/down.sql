-- Back to host paths: the keys are kept as they are (a path cannot be rebuilt without
-- the configuration), so run this only to roll back a release that never stored a zip.
ALTER TABLE user_data_files RENAME COLUMN archive_key TO path;
ALTER TABLE export_operations RENAME COLUMN archive_key TO generated_file;
ALTER TABLE export_operations ADD COLUMN assets_path TEXT NOT NULL DEFAULT '';
ALTER TABLE export_operations ADD COLUMN export_path TEXT NOT NULL DEFAULT '';
