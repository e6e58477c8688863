-- The messages that quote another (Rocket.Chat keeps a quote as an attachment with a
-- `message_link`), for the one pass a personal export makes over its rooms' quotes
-- before it writes a page: the quoted messages get anchors. Covering, so the pass reads
-- this small index alone instead of every message of the rooms.
CREATE INDEX messages_quoting ON messages (room_id, ts, attachments)
    WHERE attachments LIKE '%message_link%';
