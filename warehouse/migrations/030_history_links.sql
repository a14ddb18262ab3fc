-- capcover warehouse, version 30: each finished coin of a backfill points at the archived
-- market chart its history rows came from, so `capcover rebuild` can re-derive coin_history
-- from raw_http (a killed and resumed job spreads its coins over several runs' archives).
ALTER TABLE backfill_progress ADD COLUMN run_id VARCHAR;
ALTER TABLE backfill_progress ADD COLUMN raw_seq INTEGER;

-- Coins finished before this version: their chart is the last 200 market_chart response for
-- the coin archived between the job's start and the coin's finish.
UPDATE backfill_progress p SET run_id = link.run_id, raw_seq = link.seq
FROM (
    SELECT p.job_id, p.coin_id, arg_max(r.run_id, r.fetched_at) AS run_id,
           arg_max(r.seq, r.fetched_at) AS seq
    FROM backfill_progress p
    JOIN backfill_jobs j USING (job_id)
    JOIN raw_http r ON r.endpoint = '/coins/' || p.coin_id || '/market_chart'
        AND r.status = 200 AND r.fetched_at BETWEEN j.started_at AND p.finished_at
    WHERE p.status = 'done'
    GROUP BY p.job_id, p.coin_id
) link
WHERE p.job_id = link.job_id AND p.coin_id = link.coin_id;

COMMENT ON COLUMN backfill_progress.run_id IS 'Run whose raw_http archive holds the coin''s market chart (done coins).';
COMMENT ON COLUMN backfill_progress.raw_seq IS 'raw_http.seq of that market chart in run run_id.';
