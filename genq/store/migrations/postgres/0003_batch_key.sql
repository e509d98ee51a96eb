-- genq schema, version 3: jobs that may share one model call carry the same batch key.
ALTER TABLE jobs ADD COLUMN batch_key TEXT;
CREATE INDEX jobs_batch ON jobs (model, batch_key, priority DESC, seq) WHERE status = 'queued' AND batch_key IS NOT NULL
