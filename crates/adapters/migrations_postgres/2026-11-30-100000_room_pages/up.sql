-- What a personal export's room pages carry from one batch to the next (title, month
-- starts, last author, the current page's message ids), as JSON text committed with
-- each batch; empty for full exports and rooms not started.
ALTER TABLE export_rooms ADD COLUMN page_state TEXT NOT NULL DEFAULT '';
