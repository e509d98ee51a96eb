-- genq schema, version 2: live workers and the models they serve.
CREATE TABLE workers (
    id          TEXT PRIMARY KEY,
    models      TEXT[] NOT NULL,
    host        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    started_at  DOUBLE PRECISION NOT NULL,
    seen_at     DOUBLE PRECISION NOT NULL
);
