-- The messages that quote another (Rocket.Chat keeps a quote as an attachment with a
-- `message_link`), for the one pass a personal export makes over its rooms' quotes
-- before it writes a page: the quoted messages get anchors. Not covering: an index
-- entry holds at most a third of a page, and attachments can be longer.
CREATE INDEX messages_quoting ON messages (room_id, ts)
    WHERE attachments LIKE '%message_link%';
