-- genq schema, version 10: fair scheduling and limits. Per account: its weight in the fair
-- share of worker time and its virtual time (the worker time it was given, divided by its
-- weight: the claim serves the account that is furthest behind), and its limits (NULL: the
-- configured default; 0: none) on jobs running and queued at once, requests per second per
-- key and their burst, and stored output bytes. Per job: what the claim charged its account
-- (fair_charge, corrected by the run's real time when it ends), the time it must have started
-- by (start_deadline) and may run for (timeout_seconds), the job it retries (retry_of) and the
-- one that retried it (retried_by), the time before which no worker takes it again after an
-- automatic retry (run_after), and the bytes its outputs hold (output_bytes, counted for the
-- quota). jobs_fair: the queued jobs of a model by account, for the claim's walk of accounts.
ALTER TABLE accounts ADD COLUMN weight REAL NOT NULL DEFAULT 1;
ALTER TABLE accounts ADD COLUMN vtime REAL NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN max_running INTEGER;
ALTER TABLE accounts ADD COLUMN max_queued INTEGER;
ALTER TABLE accounts ADD COLUMN rate_per_second REAL;
ALTER TABLE accounts ADD COLUMN rate_burst INTEGER;
ALTER TABLE accounts ADD COLUMN storage_quota_bytes INTEGER;
ALTER TABLE jobs ADD COLUMN fair_charge REAL;
ALTER TABLE jobs ADD COLUMN start_deadline REAL;
ALTER TABLE jobs ADD COLUMN timeout_seconds REAL;
ALTER TABLE jobs ADD COLUMN retry_of TEXT;
ALTER TABLE jobs ADD COLUMN retried_by TEXT;
ALTER TABLE jobs ADD COLUMN run_after REAL;
ALTER TABLE jobs ADD COLUMN output_bytes INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET output_bytes = (SELECT COALESCE(SUM(json_extract(value, '$.size')), 0) FROM json_each(jobs.outputs)) WHERE outputs <> '[]';
CREATE INDEX jobs_fair ON jobs (model, account_id, priority DESC, seq) WHERE status = 'queued';
CREATE INDEX jobs_start_deadline ON jobs (start_deadline) WHERE status = 'queued' AND start_deadline IS NOT NULL;
CREATE INDEX jobs_retry_of ON jobs (retry_of) WHERE retry_of IS NOT NULL
