-- genq schema, version 11: per job, the id of the last streamed piece (a text or partial
-- event) a consuming reader has taken (stream_taken): a stream that answers only what is new
-- since its last call hands out each piece once, whichever API process answers it.
ALTER TABLE jobs ADD COLUMN stream_taken BIGINT NOT NULL DEFAULT 0
