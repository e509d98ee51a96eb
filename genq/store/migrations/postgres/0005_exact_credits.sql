-- genq schema, version 5: money is exact. Balances and costs move from floating-point credits
-- to whole micro-credits (one millionth of a credit) in integer columns named for their unit
-- (accounts.credits_micros NULL: no limit). Each old value is rounded to the nearest
-- micro-credit, halves away from zero (as NUMERIC rounds), which also clears the dust that
-- float sums left behind (a spent balance of -1.9e-19 becomes 0). One ALTER per table: one
-- rewrite of each. A value beyond what a BIGINT holds (a balance of 1e15 or infinity, which
-- float columns took) becomes the largest one, as SQLite's conversion does.
ALTER TABLE accounts ALTER COLUMN credits TYPE BIGINT USING CASE WHEN credits IS NOT NULL
    THEN least(greatest(round(credits::numeric * 1000000), -9223372036854775807),
               9223372036854775807) END;
ALTER TABLE accounts RENAME COLUMN credits TO credits_micros;
ALTER TABLE jobs
    ALTER COLUMN cost_estimate TYPE BIGINT USING
        least(greatest(round(cost_estimate::numeric * 1000000), -9223372036854775807),
              9223372036854775807),
    ALTER COLUMN cost_actual TYPE BIGINT USING CASE WHEN cost_actual IS NOT NULL
        THEN least(greatest(round(cost_actual::numeric * 1000000), -9223372036854775807),
                   9223372036854775807) END;
ALTER TABLE jobs RENAME COLUMN cost_estimate TO cost_estimate_micros;
ALTER TABLE jobs RENAME COLUMN cost_actual TO cost_actual_micros