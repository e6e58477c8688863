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
-- A parent written at another time takes its replies along; a parent deleted leaves
-- them waiting for it again. Once per statement, over the rows it changed (a room
-- deleted is one statement, not a call per message). The replies the first one moves
-- set it off again, and it stops there: nothing among them moved.
CREATE FUNCTION messages_parents_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM old_rows AS was JOIN new_rows AS moved
                   ON moved.id = was.id WHERE moved.ts <> was.ts) THEN
        RETURN NULL;
    END IF;
    UPDATE messages AS reply SET thread_ts = moved.ts
        FROM old_rows AS was JOIN new_rows AS moved ON moved.id = was.id
        WHERE moved.ts <> was.ts
          AND reply.room_id = was.room_id AND reply.thread_ts = was.ts
          AND reply.thread_id = was.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER messages_parents_moved AFTER UPDATE ON messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION messages_parents_moved();
CREATE FUNCTION messages_parents_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE messages AS reply SET thread_ts = NULL
        FROM old_rows AS gone
        WHERE reply.room_id = gone.room_id AND reply.thread_ts = gone.ts
          AND reply.thread_id = gone.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER messages_parents_deleted AFTER DELETE ON messages
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION messages_parents_deleted();
