-- capcover warehouse, version 70: runs and backfilled coins in the order they were committed,
-- not by the clock. A wall clock stepped back between two runs of one day made `rebuild`
-- replay the newer run first (ordered by started_at) and restore the older state; the same
-- clock decided which run `status` called the latest and which runs an incremental publish
-- had not yet seen. Every new row of `runs` takes the next value of runs_seq when it is
-- inserted, inside its run's transaction (writers are serialised by DuckDB's file lock; a
-- rerun's INSERT OR REPLACE keeps its number); the backfill gives each batch of coins it loads
-- the next load_seq. Existing rows are numbered in the order known so far.
CREATE SEQUENCE runs_seq;
ALTER TABLE runs ADD COLUMN run_seq BIGINT DEFAULT nextval('runs_seq');
UPDATE runs SET run_seq = s.n
FROM (SELECT run_id, row_number() OVER (ORDER BY started_at, run_id) AS n FROM runs) s
WHERE runs.run_id = s.run_id;

ALTER TABLE backfill_progress ADD COLUMN load_seq BIGINT;
UPDATE backfill_progress SET load_seq = s.n
FROM (
    SELECT job_id, coin_id, row_number() OVER (ORDER BY finished_at, job_id, seq) AS n
    FROM backfill_progress WHERE status = 'done'
) s
WHERE backfill_progress.job_id = s.job_id AND backfill_progress.coin_id = s.coin_id;

COMMENT ON COLUMN runs.run_seq IS 'Commit order of the runs (1, 2, ...): rebuild replays, status and publishing go by it, never by the wall clock.';
COMMENT ON COLUMN backfill_progress.load_seq IS 'Order in which finished coins were loaded (one number per batch): rebuild re-derives coin_history in this order.';
