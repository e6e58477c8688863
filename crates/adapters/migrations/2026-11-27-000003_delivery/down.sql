DROP TABLE downloads;
DROP INDEX user_data_files_by_expiry;
ALTER TABLE user_data_files DROP COLUMN removed_at;
DROP TABLE export_notices;
