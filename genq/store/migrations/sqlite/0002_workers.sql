-- genq schema, version 2: live workers and the models they serve.
CREATE TABLE workers (
    id          TEXT PRIMARY KEY,
    models      TEXT NOT NULL,      -- JSON list of model names
    host        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    started_at  REAL NOT NULL,
    seen_at     REAL NOT NULL
);
