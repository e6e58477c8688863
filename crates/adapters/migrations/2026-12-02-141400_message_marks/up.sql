-- What a personal archive shows around a message: Rocket.Chat's `editedAt` (milliseconds
-- since the epoch) and `editedBy.username`, and its `reactions` as JSON text
-- (`[{"emoji": ":thumbsup:", "usernames": [...]}, ...]`, in the document's order).
ALTER TABLE messages ADD COLUMN edited_at BIGINT;
ALTER TABLE messages ADD COLUMN edited_by TEXT;
ALTER TABLE messages ADD COLUMN reactions TEXT;
-- A thread's replies, for the parent's "N replies" link: counted and the first found
-- per parent without reading the room.
CREATE INDEX messages_by_thread ON messages (thread_id, room_id, ts, id)
    WHERE thread_id IS NOT NULL;
