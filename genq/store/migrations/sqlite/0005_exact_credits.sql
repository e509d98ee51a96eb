-- genq schema, version 5: money is exact. Balances and costs move from floating-point credits
-- to whole micro-credits (one millionth of a credit) in integer columns named for their unit
-- (accounts.credits_micros NULL: no limit). Each old value is rounded to the nearest
-- micro-credit, halves away from zero, which also clears the dust that float sums left
-- behind (a spent balance of -1.9e-19 becomes 0). SQLite cannot change a column's type: each
-- gets a new column, and the old one is dropped.
ALTER TABLE accounts ADD COLUMN credits_micros INTEGER;
UPDATE accounts SET credits_micros = CAST(ROUND(credits * 1000000) AS INTEGER);
ALTER TABLE accounts DROP COLUMN credits;
ALTER TABLE jobs ADD COLUMN cost_estimate_micros INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN cost_actual_micros INTEGER;
UPDATE jobs SET
    cost_estimate_micros = CAST(ROUND(cost_estimate * 1000000) AS INTEGER),
    cost_actual_micros = CAST(ROUND(cost_actual * 1000000) AS INTEGER);
ALTER TABLE jobs DROP COLUMN cost_estimate;
ALTER TABLE jobs DROP COLUMN cost_actual
