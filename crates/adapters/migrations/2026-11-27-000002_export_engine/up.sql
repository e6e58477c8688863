-- What the export engine needs to resume exactly where it stopped, and leases so that
-- one worker at a time holds an operation.

ALTER TABLE export_operations ADD COLUMN cutoff_at BIGINT;
ALTER TABLE export_operations ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE export_operations ADD COLUMN lease_owner TEXT;
-- While leased: when the lease runs out. Released after a failure: when to retry.
ALTER TABLE export_operations ADD COLUMN lease_expires_at BIGINT;

ALTER TABLE export_rooms ADD COLUMN total BIGINT NOT NULL DEFAULT 0;
ALTER TABLE export_rooms ADD COLUMN cursor_ts BIGINT;
ALTER TABLE export_rooms ADD COLUMN cursor_id TEXT;
ALTER TABLE export_rooms ADD COLUMN file_length BIGINT NOT NULL DEFAULT 0;

CREATE TABLE export_pseudonyms (
    operation_id TEXT NOT NULL REFERENCES export_operations (id) ON DELETE CASCADE,
    username     TEXT NOT NULL,
    alias        TEXT NOT NULL,
    PRIMARY KEY (operation_id, username)
);

CREATE TABLE export_files (
    operation_id TEXT NOT NULL REFERENCES export_operations (id) ON DELETE CASCADE,
    file_id      TEXT NOT NULL,
    name         TEXT NOT NULL,
    asset        TEXT NOT NULL,
    PRIMARY KEY (operation_id, file_id)
);
