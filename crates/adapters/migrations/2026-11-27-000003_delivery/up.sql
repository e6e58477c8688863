-- Delivery: the mail each finished operation owes its owner, the download log, and
-- retention's mark on removed zips.

-- One row per operation that owes (or owed) its owner a mail: written in the
-- transaction that completes or fails the operation, so a crash delays a mail but never
-- loses it. `pending` until handed over, then `sent`, `no-address` (the owner has none)
-- or `gave-up` (sending kept failing).
CREATE TABLE export_notices (
    operation_id TEXT PRIMARY KEY NOT NULL REFERENCES export_operations (id) ON DELETE CASCADE,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    -- While pending: when the next attempt is due (a claim pushes it forward).
    due_at       BIGINT,
    sent_at      BIGINT,
    error        TEXT
);
CREATE INDEX export_notices_due ON export_notices (status, due_at);

ALTER TABLE user_data_files ADD COLUMN removed_at BIGINT;
CREATE INDEX user_data_files_by_expiry ON user_data_files (removed_at, expires_at);

CREATE TABLE downloads (
    id             INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    file_id        TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    at             BIGINT NOT NULL,
    bytes          BIGINT NOT NULL,
    client_address TEXT,
    by_link        BOOLEAN NOT NULL
);
CREATE INDEX downloads_by_file ON downloads (file_id, at);
