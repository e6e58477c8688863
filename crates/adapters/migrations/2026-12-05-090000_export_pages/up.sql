-- Where each page of a personal export's room begins: its first message, and its first
-- byte in the room's pages file. One row per page, written once, when the batch that
-- begins the page commits; in the room's page_state the list was written again with
-- every batch, and a room of a thousand pages rewrote tens of kilobytes per batch.
CREATE TABLE export_pages (
    operation_id TEXT NOT NULL,
    position     INTEGER NOT NULL,
    page         INTEGER NOT NULL,
    first_ts     BIGINT NOT NULL,
    first_id     TEXT NOT NULL,
    first_byte   BIGINT NOT NULL,
    PRIMARY KEY (operation_id, position, page),
    FOREIGN KEY (operation_id, position)
        REFERENCES export_rooms (operation_id, position) ON DELETE CASCADE
);
