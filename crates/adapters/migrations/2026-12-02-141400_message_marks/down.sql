DROP INDEX messages_by_thread;
ALTER TABLE messages DROP COLUMN reactions;
ALTER TABLE messages DROP COLUMN edited_by;
ALTER TABLE messages DROP COLUMN edited_at;
