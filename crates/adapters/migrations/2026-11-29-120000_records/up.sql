-- Records for the data protection officer: who asked for an operation (the owner, who
-- is mailed, or the officer, whose subject-access export mails nobody), and indexes for
-- the download audit and for retention of the download log.
ALTER TABLE export_operations ADD COLUMN requested_by TEXT NOT NULL DEFAULT 'owner';
CREATE INDEX downloads_by_time ON downloads (at);
CREATE INDEX downloads_by_user ON downloads (user_id, at);
-- Retention of operation records: finished operations by age.
CREATE INDEX export_operations_by_update ON export_operations (updated_at);
