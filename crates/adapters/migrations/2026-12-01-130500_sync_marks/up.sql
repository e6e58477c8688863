-- For each Rocket.Chat collection an import has read, the newest `_updatedAt` applied
-- (for `trash`, the newest `_deletedAt`), in milliseconds since the Unix epoch: where
-- the next incremental dump (`udd import --delta-query`) starts.
CREATE TABLE sync_marks (
    collection TEXT PRIMARY KEY NOT NULL,
    newest     BIGINT NOT NULL
);
