-- Second factors at login, imported from Rocket.Chat's `services.totp` and
-- `services.email2fa`, and the single-use state udd keeps around them. One row per
-- user who has (or had) one; a user without a row has none, which is what every user
-- had before. A table of its own rather than columns on `users`: the secrets stay apart
-- from the profile, and `users` stays within diesel's default 16 columns.
CREATE TABLE user_second_factors (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The authenticator app's base32 secret; NULL when TOTP is off.
    totp_secret TEXT,
    -- `services.totp.hashedBackup`: JSON list of hex SHA-256 backup codes, as dumped.
    totp_backup_codes TEXT NOT NULL DEFAULT '[]',
    -- Backup codes used here (same hashes): kept across re-imports, so a code used
    -- here does not come back with a dump taken before it was used.
    totp_backup_used TEXT NOT NULL DEFAULT '[]',
    -- The last TOTP step whose code was accepted: that code and older ones are refused.
    totp_last_step BIGINT,
    -- `services.email2fa.enabled`.
    email2fa_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    -- The code last e-mailed, hashed, with its expiry and the wrong codes tried on it.
    email_code_hash TEXT,
    email_code_expires_at BIGINT,
    email_code_attempts INTEGER NOT NULL DEFAULT 0
);
