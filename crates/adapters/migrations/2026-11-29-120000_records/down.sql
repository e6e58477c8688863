DROP INDEX export_operations_by_update;
DROP INDEX downloads_by_user;
DROP INDEX downloads_by_time;
ALTER TABLE export_operations DROP COLUMN requested_by;
