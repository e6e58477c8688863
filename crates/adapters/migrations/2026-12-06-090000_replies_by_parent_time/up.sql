-- A reply keeps its parent's time (`thread_ts`, the `ts` of the message its `tmid`
-- names), and the replies are indexed by room, then by that time: a personal export
-- asks for the replies to a batch of consecutive messages, and finds them in one
-- slice of the index instead of at a random place per parent. NULL while the parent
-- is not stored (yet); the writers fill it when either side arrives, and the triggers
-- below keep it when a parent moves in time or goes.
ALTER TABLE messages ADD COLUMN thread_ts BIGINT;
UPDATE messages SET thread_ts = (SELECT parent.ts FROM messages AS parent
                                 WHERE parent.id = messages.thread_id)
    WHERE thread_id IS NOT NULL;
DROP INDEX messages_by_thread;
CREATE INDEX messages_by_thread ON messages (room_id, thread_ts, thread_id, ts, id)
    WHERE thread_id IS NOT NULL;
-- A parent written at another time takes its replies along.
CREATE TRIGGER messages_parent_moved AFTER UPDATE OF ts ON messages
    WHEN old.ts <> new.ts
BEGIN
    UPDATE messages SET thread_ts = new.ts
        WHERE room_id = old.room_id AND thread_ts = old.ts AND thread_id = old.id;
END;
-- A parent deleted leaves its replies waiting for it again.
CREATE TRIGGER messages_parent_deleted AFTER DELETE ON messages
BEGIN
    UPDATE messages SET thread_ts = NULL
        WHERE room_id = old.room_id AND thread_ts = old.ts AND thread_id = old.id;
END;
