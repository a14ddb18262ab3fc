-- capcover warehouse, version 90: the raw archive in two tables, so a daily run's commit and
-- checkpoint touch only what it wrote. DuckDB rewrites the last segments of a table it appends
-- to at every checkpoint: with the backfill's market charts in the same table (108 MB of
-- bodies at 10 years), every daily run rewrote them. `raw_http` stays the name to query: a
-- view over both tables, every response as before.
--
-- Also: a row may stand for a response the run did not fetch again because the archive already
-- holds it (a gpuhunt catalog whose version did not change): its body is empty and
-- same_as_run_id / same_as_seq name the row that holds it.

ALTER TABLE raw_http RENAME TO raw_http_daily;
ALTER TABLE raw_http_daily ADD COLUMN same_as_run_id VARCHAR;
ALTER TABLE raw_http_daily ADD COLUMN same_as_seq INTEGER;

CREATE TABLE raw_http_backfill (
    run_id          VARCHAR NOT NULL,
    seq             INTEGER NOT NULL,
    source          VARCHAR NOT NULL,
    endpoint        VARCHAR NOT NULL,
    method          VARCHAR NOT NULL,
    url             VARCHAR NOT NULL,
    params          JSON,
    request_body    VARCHAR,
    status          INTEGER NOT NULL,
    body            VARCHAR NOT NULL,
    sha256          VARCHAR NOT NULL,
    fetched_at      TIMESTAMPTZ NOT NULL,
    elapsed_ms      DOUBLE,
    attempt         INTEGER,
    same_as_run_id  VARCHAR,
    same_as_seq     INTEGER,
    PRIMARY KEY (run_id, seq)
);

-- The backfill's runs: finished ones, every job (its first invocation archived the sector
-- answers under the job's id) and every invocation that archived a coin's chart.
INSERT INTO raw_http_backfill
SELECT * FROM raw_http_daily
WHERE run_id IN (
    SELECT run_id FROM runs WHERE kind = 'backfill'
    UNION SELECT job_id FROM backfill_jobs
    UNION SELECT run_id FROM backfill_progress WHERE run_id IS NOT NULL
);
DELETE FROM raw_http_daily WHERE run_id IN (SELECT DISTINCT run_id FROM raw_http_backfill);

CREATE VIEW raw_http AS
SELECT * FROM raw_http_daily
UNION ALL
SELECT * FROM raw_http_backfill;

COMMENT ON TABLE raw_http_daily IS 'The raw archive of every run but backfills (daily, demo, rebuild): each HTTP response and the curated quotes file as read; query the view raw_http for all of it.';
COMMENT ON COLUMN raw_http_daily.same_as_run_id IS 'For a response not fetched again because the archive holds it (an unchanged gpuhunt catalog): the run of the row holding its body (this row''s body is empty); else null.';
COMMENT ON COLUMN raw_http_daily.same_as_seq IS 'With same_as_run_id: the seq of the row holding the body.';

COMMENT ON TABLE raw_http_backfill IS 'The raw archive of backfill runs (market charts, the constituents answer, the curated file), apart from the daily archive so daily runs never rewrite it; query the view raw_http for all of it.';
COMMENT ON COLUMN raw_http_backfill.run_id IS 'The capcover run that wrote the row (runs.run_id).';
COMMENT ON COLUMN raw_http_backfill.seq IS 'Order within the run or job (1-based).';
COMMENT ON COLUMN raw_http_backfill.source IS 'Where the data came from (API name or publication).';
COMMENT ON COLUMN raw_http_backfill.endpoint IS 'The API endpoint or file read.';
COMMENT ON COLUMN raw_http_backfill.method IS 'HTTP method.';
COMMENT ON COLUMN raw_http_backfill.url IS 'Request URL (never carries a key).';
COMMENT ON COLUMN raw_http_backfill.params IS 'Query parameters (JSON).';
COMMENT ON COLUMN raw_http_backfill.request_body IS 'Request body as sent (VARCHAR: kept byte for byte), null for GET.';
COMMENT ON COLUMN raw_http_backfill.status IS 'HTTP status code.';
COMMENT ON COLUMN raw_http_backfill.body IS 'Response body exactly as received (VARCHAR: may be HTML or truncated JSON).';
COMMENT ON COLUMN raw_http_backfill.sha256 IS 'SHA-256 of the content (hex).';
COMMENT ON COLUMN raw_http_backfill.fetched_at IS 'When capcover fetched the data (TIMESTAMPTZ, UTC).';
COMMENT ON COLUMN raw_http_backfill.elapsed_ms IS 'Response time, milliseconds.';
COMMENT ON COLUMN raw_http_backfill.attempt IS 'Attempt number of the request (1 = first try).';
COMMENT ON COLUMN raw_http_backfill.same_as_run_id IS 'Always null here (kept for one shape with raw_http_daily).';
COMMENT ON COLUMN raw_http_backfill.same_as_seq IS 'Always null here (kept for one shape with raw_http_daily).';

COMMENT ON VIEW raw_http IS 'Every HTTP response (and the curated quotes file) exactly as received, daily and backfill archives together; URLs carry no secrets and headers are not stored.';
COMMENT ON COLUMN raw_http.run_id IS 'The capcover run that wrote the row (runs.run_id).';
COMMENT ON COLUMN raw_http.seq IS 'Order within the run or job (1-based).';
COMMENT ON COLUMN raw_http.source IS 'Where the data came from (API name or publication).';
COMMENT ON COLUMN raw_http.endpoint IS 'The API endpoint or file read.';
COMMENT ON COLUMN raw_http.method IS 'HTTP method.';
COMMENT ON COLUMN raw_http.url IS 'Request URL (never carries a key).';
COMMENT ON COLUMN raw_http.params IS 'Query parameters (JSON).';
COMMENT ON COLUMN raw_http.request_body IS 'Request body as sent (VARCHAR: kept byte for byte), null for GET.';
COMMENT ON COLUMN raw_http.status IS 'HTTP status code.';
COMMENT ON COLUMN raw_http.body IS 'Response body exactly as received (VARCHAR: may be HTML or truncated JSON); empty when same_as_run_id names the row holding it.';
COMMENT ON COLUMN raw_http.sha256 IS 'SHA-256 of the content (hex).';
COMMENT ON COLUMN raw_http.fetched_at IS 'When capcover fetched the data (TIMESTAMPTZ, UTC).';
COMMENT ON COLUMN raw_http.elapsed_ms IS 'Response time, milliseconds.';
COMMENT ON COLUMN raw_http.attempt IS 'Attempt number of the request (1 = first try).';
COMMENT ON COLUMN raw_http.same_as_run_id IS 'For a response not fetched again because the archive holds it (an unchanged gpuhunt catalog): the run of the row holding its body; else null.';
COMMENT ON COLUMN raw_http.same_as_seq IS 'With same_as_run_id: the seq of the row holding the body.';
