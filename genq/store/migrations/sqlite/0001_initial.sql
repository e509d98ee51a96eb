-- genq schema, version 1.
CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    credits     REAL,               -- NULL: no limit
    created_at  REAL NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name        TEXT,
    key_hash    TEXT NOT NULL UNIQUE,
    prefix      TEXT NOT NULL,
    disabled    INTEGER NOT NULL DEFAULT 0,
    created_at  REAL NOT NULL
);

CREATE TABLE jobs (
    seq               INTEGER PRIMARY KEY,      -- submission order; keyset cursor
    id                TEXT NOT NULL UNIQUE,
    account_id        TEXT NOT NULL REFERENCES accounts(id),
    model             TEXT NOT NULL,
    input             TEXT NOT NULL,
    status            TEXT NOT NULL,
    priority          INTEGER NOT NULL DEFAULT 0,
    metadata          TEXT NOT NULL DEFAULT '{}',
    progress_step     INTEGER NOT NULL DEFAULT 0,
    progress_total    INTEGER NOT NULL DEFAULT 0,
    progress_message  TEXT,
    outputs           TEXT NOT NULL DEFAULT '[]',
    error_code        TEXT,
    error_message     TEXT,
    cost_estimate     REAL NOT NULL DEFAULT 0,
    cost_actual       REAL,
    created_at        REAL NOT NULL,
    started_at        REAL,
    finished_at       REAL,
    inference_time    REAL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    cancel_requested  INTEGER NOT NULL DEFAULT 0,
    worker_id         TEXT,
    lease_expires_at  REAL,
    expires_at        REAL NOT NULL,
    idempotency_key   TEXT,
    fingerprint       TEXT,
    UNIQUE (account_id, idempotency_key)
);

CREATE INDEX jobs_queue ON jobs (model, priority DESC, seq) WHERE status = 'queued';
CREATE INDEX jobs_running ON jobs (lease_expires_at) WHERE status = 'running';
CREATE INDEX jobs_account ON jobs (account_id, seq DESC);
CREATE INDEX jobs_expiry ON jobs (expires_at);
CREATE INDEX jobs_unfinished ON jobs (account_id) WHERE status IN ('queued', 'running');

CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      TEXT NOT NULL,
    type        TEXT NOT NULL,
    data        TEXT NOT NULL,
    created_at  REAL NOT NULL
);

CREATE INDEX events_job ON events (job_id, id);
