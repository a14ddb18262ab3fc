-- Operational visibility for scheduled runs: durations per step, counts, alerts sent, the
-- Prefect flow run behind a run, and where its Parquet snapshot was published.
-- IF NOT EXISTS: other migrations may add some of these columns first; either order works.

ALTER TABLE runs ADD COLUMN IF NOT EXISTS duration_s DOUBLE;       -- wall time, start to commit
ALTER TABLE runs ADD COLUMN IF NOT EXISTS step_durations JSON;     -- {"fetch_market": s, ...}
ALTER TABLE runs ADD COLUMN IF NOT EXISTS coins_loaded INTEGER;    -- constituents written
ALTER TABLE runs ADD COLUMN IF NOT EXISTS quotes_loaded INTEGER;   -- GPU quotes upserted
ALTER TABLE runs ADD COLUMN IF NOT EXISTS alerts_sent INTEGER;     -- filled by the alerting step
ALTER TABLE runs ADD COLUMN IF NOT EXISTS flow_run_id VARCHAR;     -- Prefect flow run, if any
ALTER TABLE runs ADD COLUMN IF NOT EXISTS published_to VARCHAR;    -- Parquet snapshot folder
