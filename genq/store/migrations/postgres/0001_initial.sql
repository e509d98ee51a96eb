-- genq schema, version 1. Times are Unix seconds, as in the SQLite schema.
CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    credits     DOUBLE PRECISION,       -- NULL: no limit
    created_at  DOUBLE PRECISION NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name        TEXT,
    key_hash    TEXT NOT NULL UNIQUE,
    prefix      TEXT NOT NULL,
    disabled    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  DOUBLE PRECISION NOT NULL
);

CREATE TABLE jobs (
    seq               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    account_id        TEXT NOT NULL REFERENCES accounts(id),
    model             TEXT NOT NULL,
    input             JSONB NOT NULL,
    status            TEXT NOT NULL,
    priority          INTEGER NOT NULL DEFAULT 0,
    metadata          JSONB NOT NULL DEFAULT '{}',
    progress_step     INTEGER NOT NULL DEFAULT 0,
    progress_total    INTEGER NOT NULL DEFAULT 0,
    progress_message  TEXT,
    outputs           JSONB NOT NULL DEFAULT '[]',
    error_code        TEXT,
    error_message     TEXT,
    cost_estimate     DOUBLE PRECISION NOT NULL DEFAULT 0,
    cost_actual       DOUBLE PRECISION,
    created_at        DOUBLE PRECISION NOT NULL,
    started_at        DOUBLE PRECISION,
    finished_at       DOUBLE PRECISION,
    inference_time    DOUBLE PRECISION,
    attempts          INTEGER NOT NULL DEFAULT 0,
    cancel_requested  BOOLEAN NOT NULL DEFAULT FALSE,
    worker_id         TEXT,
    lease_expires_at  DOUBLE PRECISION,
    expires_at        DOUBLE PRECISION NOT NULL,
    idempotency_key   TEXT,
    fingerprint       TEXT,
    UNIQUE (account_id, idempotency_key)
);

CREATE INDEX jobs_queue ON jobs (model, priority DESC, seq) WHERE status = 'queued';
CREATE INDEX jobs_running ON jobs (lease_expires_at) WHERE status = 'running';
CREATE INDEX jobs_worker ON jobs (worker_id) WHERE status = 'running';
CREATE INDEX jobs_account ON jobs (account_id, seq DESC);
CREATE INDEX jobs_expiry ON jobs (expires_at);
CREATE INDEX jobs_unfinished ON jobs (account_id) WHERE status IN ('queued', 'running');

-- A queue table: every job's row is rewritten a few times and then deleted, which leaves dead
-- index entries that claims must step over until VACUUM clears them. Vacuum and analyze it
-- after a small share of changes rather than PostgreSQL's default 20 %.
ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.02);

CREATE TABLE events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      TEXT NOT NULL,
    type        TEXT NOT NULL,
    data        JSONB NOT NULL,
    created_at  DOUBLE PRECISION NOT NULL
);

CREATE INDEX events_job ON events (job_id, id);

ALTER TABLE events SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05);
