DROP TRIGGER messages_parents_deleted ON messages;
DROP TRIGGER messages_parents_moved ON messages;
DROP FUNCTION messages_parents_deleted();
DROP FUNCTION messages_parents_moved();
DROP INDEX messages_by_thread;
CREATE INDEX messages_by_thread ON messages (thread_id, room_id, ts, id)
    WHERE thread_id IS NOT NULL;
ALTER TABLE messages DROP COLUMN thread_ts;
