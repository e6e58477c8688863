-- Packaging reads an operation's uploads a page at a time in asset order (keyset paging
-- on asset, then file id): this index serves each page without sorting them all.
CREATE INDEX export_files_by_asset ON export_files (operation_id, asset, file_id);
