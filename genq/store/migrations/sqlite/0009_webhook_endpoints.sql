-- genq schema, version 9: webhook endpoints and load times. An account may register
-- endpoints: a URL called for the events it names, for every job of the account or those of
-- some models (models: a JSON array; NULL: every model), signed with a secret of its own.
-- After a rotation the previous secret signs too, until previous_until. A call for an
-- endpoint is a row of webhook_deliveries with its endpoint_id (NULL: the job's own
-- webhook), written in the same transaction as the job's change. retry_from: when the
-- call's retry window starts (NULL: created_at; a redelivery starts a new one). A job's
-- load_time: how long its worker spent loading the model before running it.
CREATE TABLE webhook_endpoints (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    url              TEXT NOT NULL,
    events           TEXT NOT NULL,
    models           TEXT,
    description      TEXT,
    secret           TEXT NOT NULL,
    previous_secret  TEXT,
    previous_until   REAL,
    disabled_at      REAL,
    disabled_reason  TEXT,
    created_at       REAL NOT NULL
);
CREATE INDEX webhook_endpoints_account ON webhook_endpoints (account_id, created_at);
ALTER TABLE webhook_deliveries ADD COLUMN endpoint_id TEXT;
ALTER TABLE webhook_deliveries ADD COLUMN retry_from REAL;
CREATE INDEX webhook_deliveries_account ON webhook_deliveries (account_id, created_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at) WHERE endpoint_id IS NOT NULL;
ALTER TABLE jobs ADD COLUMN load_time REAL
