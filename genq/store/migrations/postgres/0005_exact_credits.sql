-- genq schema, version 5: money is exact. Balances and costs move from floating-point credits
-- to whole micro-credits (one millionth of a credit) in integer columns named for their unit
-- (accounts.credits_micros NULL: no limit). Each old value is rounded to the nearest
-- micro-credit, halves away from zero (as NUMERIC rounds), which also clears the dust that
-- float sums left behind (a spent balance of -1.9e-19 becomes 0). One ALTER per table: one
-- rewrite of each.
ALTER TABLE accounts ALTER COLUMN credits TYPE BIGINT USING round(credits::numeric * 1000000);
ALTER TABLE accounts RENAME COLUMN credits TO credits_micros;
ALTER TABLE jobs
    ALTER COLUMN cost_estimate TYPE BIGINT USING round(cost_estimate::numeric * 1000000),
    ALTER COLUMN cost_actual TYPE BIGINT USING round(cost_actual::numeric * 1000000);
ALTER TABLE jobs RENAME COLUMN cost_estimate TO cost_estimate_micros;
ALTER TABLE jobs RENAME COLUMN cost_actual TO cost_actual_micros
