-- The whole schema on PostgreSQL, as the SQLite migrations leave it (same tables, same
-- column types as src/sqlite/schema.rs, which both backends compile against):
-- timestamps are BIGINT milliseconds since the Unix epoch (UTC), lists JSON text.
-- Text is compared byte by byte (COLLATE "C"), as SQLite does, so keyset paging and
-- every ORDER BY give the same order whatever the server's locale.

CREATE TABLE users (
    id              TEXT COLLATE "C" PRIMARY KEY,
    username        TEXT COLLATE "C" NOT NULL UNIQUE,
    name            TEXT,
    status_text     TEXT,
    roles           TEXT NOT NULL DEFAULT '[]',
    services        TEXT NOT NULL DEFAULT '[]',
    password_bcrypt TEXT,
    active          BOOLEAN NOT NULL DEFAULT TRUE,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    -- The user's Rocket.Chat language preference (`de`, `pt-BR`), for their mails.
    language        TEXT
);

CREATE TABLE user_emails (
    user_id       TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    address       TEXT NOT NULL,
    address_lower TEXT COLLATE "C" NOT NULL UNIQUE,
    verified      BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (user_id, position)
);

-- Second factors apart from the profile (see the SQLite migration of the same name).
CREATE TABLE user_second_factors (
    user_id               TEXT COLLATE "C" PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    totp_secret           TEXT,
    totp_backup_codes     TEXT NOT NULL DEFAULT '[]',
    totp_backup_used      TEXT NOT NULL DEFAULT '[]',
    totp_last_step        BIGINT,
    email2fa_enabled      BOOLEAN NOT NULL DEFAULT FALSE,
    email_code_hash       TEXT,
    email_code_expires_at BIGINT,
    email_code_attempts   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE login_tokens (
    hashed_token TEXT COLLATE "C" PRIMARY KEY,
    user_id      TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    -- From an imported dump (replaced by the next import) or from a login here (kept).
    imported     BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE INDEX login_tokens_by_user ON login_tokens (user_id);

CREATE TABLE rooms (
    id         TEXT COLLATE "C" PRIMARY KEY,
    room_type  TEXT NOT NULL,
    name       TEXT COLLATE "C",
    fname      TEXT,
    member_ids TEXT,
    team_main  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE subscriptions (
    id         TEXT COLLATE "C" PRIMARY KEY,
    user_id    TEXT COLLATE "C" NOT NULL,
    room_id    TEXT COLLATE "C" NOT NULL,
    room_type  TEXT NOT NULL,
    name       TEXT COLLATE "C",
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX subscriptions_by_user_room ON subscriptions (user_id, room_id);

-- No foreign keys from messages and uploads: dumps reference rooms and uploads that no
-- longer exist. The primary key (room_id, ts, id) is the index keyset paging reads one
-- room oldest-first from; the unique id is what imports upsert on.
CREATE TABLE messages (
    id           TEXT COLLATE "C" NOT NULL,
    room_id      TEXT COLLATE "C" NOT NULL,
    ts           BIGINT NOT NULL,
    user_id      TEXT COLLATE "C",
    username     TEXT COLLATE "C",
    msg          TEXT NOT NULL DEFAULT '',
    message_type TEXT,
    thread_id    TEXT,
    file_id      TEXT COLLATE "C",
    attachments  TEXT,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (room_id, ts, id)
);
CREATE UNIQUE INDEX messages_by_id ON messages (id);

CREATE TABLE uploads (
    id           TEXT COLLATE "C" PRIMARY KEY,
    room_id      TEXT COLLATE "C",
    user_id      TEXT COLLATE "C",
    name         TEXT NOT NULL,
    content_type TEXT,
    size         BIGINT NOT NULL DEFAULT 0,
    blob_path    TEXT,
    uploaded_at  BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX uploads_by_user ON uploads (user_id);

CREATE TABLE avatars (
    id           TEXT COLLATE "C" PRIMARY KEY,
    username     TEXT COLLATE "C" NOT NULL,
    user_id      TEXT COLLATE "C",
    content_type TEXT,
    size         BIGINT NOT NULL DEFAULT 0,
    blob_path    TEXT,
    uploaded_at  BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX avatars_by_username ON avatars (username, uploaded_at);

CREATE TABLE export_operations (
    id               TEXT COLLATE "C" PRIMARY KEY,
    user_id          TEXT COLLATE "C" NOT NULL,
    full_export      BOOLEAN NOT NULL,
    status           TEXT COLLATE "C" NOT NULL,
    archive_key      TEXT,
    file_id          TEXT COLLATE "C",
    failure_reason   TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    cutoff_at        BIGINT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    lease_owner      TEXT COLLATE "C",
    -- While leased: when the lease runs out. Released after a failure: when to retry.
    lease_expires_at BIGINT,
    -- `owner` (who is mailed) or `officer` (a subject-access export that mails nobody).
    requested_by     TEXT COLLATE "C" NOT NULL DEFAULT 'owner'
);
-- The request policy: the user's last operation of a kind.
CREATE INDEX export_operations_by_user_kind
    ON export_operations (user_id, full_export, requested_by, created_at);
-- The queue and the queue position: unfinished operations by age.
CREATE INDEX export_operations_by_status ON export_operations (status, created_at);
-- Retention of operation records: finished operations by age.
CREATE INDEX export_operations_by_update ON export_operations (updated_at);

CREATE TABLE export_rooms (
    operation_id   TEXT COLLATE "C" NOT NULL REFERENCES export_operations (id) ON DELETE CASCADE,
    position       INTEGER NOT NULL,
    room_id        TEXT COLLATE "C" NOT NULL,
    room_name      TEXT NOT NULL,
    user_id        TEXT COLLATE "C",
    exported_count BIGINT NOT NULL DEFAULT 0,
    status         TEXT NOT NULL,
    room_type      TEXT NOT NULL,
    target_file    TEXT NOT NULL,
    total          BIGINT NOT NULL DEFAULT 0,
    cursor_ts      BIGINT,
    cursor_id      TEXT COLLATE "C",
    file_length    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (operation_id, position)
);

CREATE TABLE export_pseudonyms (
    operation_id TEXT COLLATE "C" NOT NULL REFERENCES export_operations (id) ON DELETE CASCADE,
    username     TEXT COLLATE "C" NOT NULL,
    alias        TEXT NOT NULL,
    PRIMARY KEY (operation_id, username)
);

CREATE TABLE export_files (
    operation_id TEXT COLLATE "C" NOT NULL REFERENCES export_operations (id) ON DELETE CASCADE,
    file_id      TEXT COLLATE "C" NOT NULL,
    name         TEXT NOT NULL,
    asset        TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (operation_id, file_id)
);

CREATE TABLE user_data_files (
    id          TEXT COLLATE "C" PRIMARY KEY,
    user_id     TEXT COLLATE "C" NOT NULL,
    name        TEXT NOT NULL,
    size        BIGINT NOT NULL,
    sha256      TEXT NOT NULL,
    archive_key TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT,
    removed_at  BIGINT
);
CREATE INDEX user_data_files_by_user ON user_data_files (user_id, created_at);
CREATE INDEX user_data_files_by_expiry ON user_data_files (removed_at, expires_at);

-- The mail each finished operation owes its owner, written in the transaction that ends
-- the operation: `pending` until handed over, then `sent`, `no-address` or `gave-up`.
CREATE TABLE export_notices (
    operation_id TEXT COLLATE "C" PRIMARY KEY REFERENCES export_operations (id) ON DELETE CASCADE,
    status       TEXT COLLATE "C" NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    due_at       BIGINT,
    sent_at      BIGINT,
    error        TEXT
);
CREATE INDEX export_notices_due ON export_notices (status, due_at);

-- Every download. An identity column (SQLite's AUTOINCREMENT); BY DEFAULT so that
-- `udd db copy` keeps the ids it copies.
CREATE TABLE downloads (
    id             INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    file_id        TEXT COLLATE "C" NOT NULL,
    user_id        TEXT COLLATE "C" NOT NULL,
    at             BIGINT NOT NULL,
    bytes          BIGINT NOT NULL,
    client_address TEXT COLLATE "C",
    by_link        BOOLEAN NOT NULL
);
CREATE INDEX downloads_by_file ON downloads (file_id, at);
CREATE INDEX downloads_by_time ON downloads (at);
CREATE INDEX downloads_by_user ON downloads (user_id, at);

-- Failed logins since the subject's last success, counted with an upsert.
CREATE TABLE login_failures (
    scope           TEXT COLLATE "C" NOT NULL,
    subject         TEXT COLLATE "C" NOT NULL,
    failures        INTEGER NOT NULL,
    last_failure_at BIGINT NOT NULL,
    PRIMARY KEY (scope, subject)
);
CREATE INDEX login_failures_by_age ON login_failures (last_failure_at);
