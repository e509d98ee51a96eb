-- genq schema, version 6: an account's jobs, of one status or unfinished, newest first, are
-- read from an index rather than found by checking the status of each of the account's jobs
-- in turn (listing an account's failed jobs no longer reads its whole history), and without
-- sorting them afterwards.
CREATE INDEX jobs_account_status ON jobs (account_id, status, seq DESC);
DROP INDEX jobs_unfinished;
CREATE INDEX jobs_unfinished ON jobs (account_id, seq DESC) WHERE status IN ('queued', 'running');
-- The queue in the order workers take it, whatever the model: a worker serving several models
-- walks it from the top instead of sorting every queued job of its models.
CREATE INDEX jobs_queue_order ON jobs (priority DESC, seq) WHERE status = 'queued'
