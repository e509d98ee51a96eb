-- genq schema, version 4: where a job came from. A job submitted through a vendor dialect
-- remembers the dialect (origin_api), the model name its caller used (origin_model, an
-- alias or the model's own name) and what the dialect needs to answer in its own terms.
ALTER TABLE jobs ADD COLUMN origin_api TEXT;
ALTER TABLE jobs ADD COLUMN origin_model TEXT;
ALTER TABLE jobs ADD COLUMN origin_request JSONB NOT NULL DEFAULT '{}';
CREATE INDEX jobs_origin ON jobs (account_id, origin_api, seq DESC) WHERE origin_api IS NOT NULL
