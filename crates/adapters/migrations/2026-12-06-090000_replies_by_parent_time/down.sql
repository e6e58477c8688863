DROP TRIGGER messages_parent_deleted;
DROP TRIGGER messages_parent_moved;
DROP INDEX messages_by_thread;
CREATE INDEX messages_by_thread ON messages (thread_id, room_id, ts, id)
    WHERE thread_id IS NOT NULL;
ALTER TABLE messages DROP COLUMN thread_ts;
