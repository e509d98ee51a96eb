-- genq schema, version 8: webhooks. A job may name a URL to call when it starts, makes
-- progress, has outputs or ends (webhook, webhook_events: a JSON array of those events). Each
-- call due is a row of webhook_deliveries, written in the same transaction as the change of
-- the job that makes it due (an outbox), and sent by the API processes' dispatchers. Each
-- account's default signing secret is kept in the clear: genq must hold it to sign.
ALTER TABLE jobs ADD COLUMN webhook TEXT;
ALTER TABLE jobs ADD COLUMN webhook_events TEXT NOT NULL DEFAULT '[]';
CREATE TABLE webhook_secrets (
    account_id  TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    secret      TEXT NOT NULL,
    created_at  REAL NOT NULL
);
CREATE TABLE webhook_deliveries (
    id           TEXT PRIMARY KEY,       -- the webhook-id header, the same on every attempt
    job_id       TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    event        TEXT NOT NULL,          -- start, progress, output, completed
    url          TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'pending',
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_status  INTEGER,                -- the receiver's last HTTP status; NULL: no answer
    last_error   TEXT,
    created_at   REAL NOT NULL,
    next_at      REAL NOT NULL,          -- when it is due, or when a taken attempt lapses
    finished_at  REAL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_job ON webhook_deliveries (job_id, created_at)
