-- Login protection: failed logins counted per subject, and the origin of login tokens.

-- Failures since the subject's last successful login. `scope` is `user` (a user id),
-- `login` (a login name that matches nobody, lowercased) or `ip` (a client address).
-- One row per subject, counted with an upsert, so concurrent failures from several
-- processes are all counted.
CREATE TABLE login_failures (
    scope         TEXT NOT NULL,
    subject       TEXT NOT NULL,
    failures      INTEGER NOT NULL,
    last_failure_at BIGINT NOT NULL,
    PRIMARY KEY (scope, subject)
);
CREATE INDEX login_failures_by_age ON login_failures (last_failure_at);

-- Whether a token came from an imported dump (replaced by the next import) or from a
-- login here (kept). Tokens stored before this migration cannot be told apart; they are
-- taken as imported, so the next import revokes any the dump no longer lists.
ALTER TABLE login_tokens ADD COLUMN imported BOOLEAN NOT NULL DEFAULT TRUE;
