-- The chat workspace that exports read, and the export bookkeeping.
-- Timestamps are BIGINT milliseconds since the Unix epoch (UTC) and lists are JSON text,
-- so the same schema serves SQLite and PostgreSQL.

CREATE TABLE users (
    id              TEXT PRIMARY KEY NOT NULL,
    username        TEXT NOT NULL UNIQUE,
    name            TEXT,
    status_text     TEXT,
    roles           TEXT NOT NULL DEFAULT '[]',
    services        TEXT NOT NULL DEFAULT '[]',
    password_bcrypt TEXT,
    active          BOOLEAN NOT NULL DEFAULT TRUE,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE user_emails (
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    address  TEXT NOT NULL,
    address_lower TEXT NOT NULL UNIQUE,
    verified BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (user_id, position)
);

CREATE TABLE login_tokens (
    hashed_token TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL
);
CREATE INDEX login_tokens_by_user ON login_tokens (user_id);

CREATE TABLE rooms (
    id         TEXT PRIMARY KEY NOT NULL,
    room_type  TEXT NOT NULL,
    name       TEXT,
    fname      TEXT,
    member_ids TEXT,
    team_main  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE subscriptions (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL,
    room_id    TEXT NOT NULL,
    room_type  TEXT NOT NULL,
    name       TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX subscriptions_by_user_room ON subscriptions (user_id, room_id);

-- No foreign keys from messages and uploads: Rocket.Chat dumps can reference rooms and
-- uploads that no longer exist, and such messages are still exported.
-- Clustered by (room_id, ts, id): an export reads one room oldest-first, so its pages are
-- contiguous on disk (keyset paging: WHERE room_id = ? AND (ts, id) > (?, ?)).
CREATE TABLE messages (
    id          TEXT NOT NULL,
    room_id     TEXT NOT NULL,
    ts          BIGINT NOT NULL,
    user_id     TEXT,
    username    TEXT,
    msg         TEXT NOT NULL DEFAULT '',
    message_type TEXT,
    thread_id   TEXT,
    file_id     TEXT,
    attachments TEXT,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (room_id, ts, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX messages_by_id ON messages (id);

CREATE TABLE uploads (
    id           TEXT PRIMARY KEY NOT NULL,
    room_id      TEXT,
    user_id      TEXT,
    name         TEXT NOT NULL,
    content_type TEXT,
    size         BIGINT NOT NULL DEFAULT 0,
    blob_path    TEXT,
    uploaded_at  BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX uploads_by_user ON uploads (user_id);

CREATE TABLE avatars (
    id           TEXT PRIMARY KEY NOT NULL,
    username     TEXT NOT NULL,
    user_id      TEXT,
    content_type TEXT,
    size         BIGINT NOT NULL DEFAULT 0,
    blob_path    TEXT,
    uploaded_at  BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX avatars_by_username ON avatars (username, uploaded_at);

CREATE TABLE export_operations (
    id             TEXT PRIMARY KEY NOT NULL,
    user_id        TEXT NOT NULL,
    full_export    BOOLEAN NOT NULL,
    status         TEXT NOT NULL,
    export_path    TEXT NOT NULL,
    assets_path    TEXT NOT NULL,
    generated_file TEXT,
    file_id        TEXT,
    failure_reason TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
-- The request policy: the user's last operation of a kind.
CREATE INDEX export_operations_by_user_kind ON export_operations (user_id, full_export, created_at);
-- The worker's queue and the queue position: unfinished operations by age.
CREATE INDEX export_operations_by_status ON export_operations (status, created_at);

CREATE TABLE export_rooms (
    operation_id   TEXT NOT NULL REFERENCES export_operations (id) ON DELETE CASCADE,
    position       INTEGER NOT NULL,
    room_id        TEXT NOT NULL,
    room_name      TEXT NOT NULL,
    user_id        TEXT,
    exported_count BIGINT NOT NULL DEFAULT 0,
    status         TEXT NOT NULL,
    room_type      TEXT NOT NULL,
    target_file    TEXT NOT NULL,
    PRIMARY KEY (operation_id, position)
);

CREATE TABLE user_data_files (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL,
    name       TEXT NOT NULL,
    size       BIGINT NOT NULL,
    sha256     TEXT NOT NULL,
    path       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT
);
CREATE INDEX user_data_files_by_user ON user_data_files (user_id, created_at);
