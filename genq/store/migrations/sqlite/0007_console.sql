-- genq schema, version 7: admin accounts (the account made on the first start is one), when
-- each key was last used (to the minute), and the console's one-time sign-in tokens, kept
-- only as hashes.
ALTER TABLE accounts ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
-- The first start's account is the one holding the key it made (not any account named
-- `default`, which an operator may have made for a tenant); with that key gone, none is.
UPDATE accounts SET admin = 1
WHERE id IN (SELECT account_id FROM api_keys WHERE name = 'created on first start');
ALTER TABLE api_keys ADD COLUMN last_used_at REAL;
CREATE TABLE sign_in_tokens (
    token_hash  TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at  REAL NOT NULL,
    expires_at  REAL NOT NULL,
    used_at     REAL
)
