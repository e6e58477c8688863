-- Every process that runs export workers registers itself, so a restarted process can
-- tell at once that its predecessor on the same host is dead and take back its work.
CREATE TABLE worker_instances (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    host TEXT COLLATE "C" NOT NULL,
    pid BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    dead_at BIGINT
);
CREATE INDEX worker_instances_host ON worker_instances (host);
