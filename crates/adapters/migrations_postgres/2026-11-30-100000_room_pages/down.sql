ALTER TABLE export_rooms DROP COLUMN page_state;
