-- capcover warehouse, version 4: per-coin market-chart history, backfill jobs (resumable), and
-- views for SQL users. Amounts are USD; timestamps TIMESTAMPTZ in UTC.

-- One daily point per coin from /coins/{id}/market_chart: the day's first point (00:00 UTC on
-- CoinGecko's daily granularity). A later backfill replaces the days it fetched again.
CREATE TABLE coin_history (
    coin_id          VARCHAR NOT NULL,
    day              DATE NOT NULL,
    point_at         TIMESTAMPTZ NOT NULL,   -- the source point's own timestamp
    market_cap_usd   DOUBLE,                 -- 0 kept as reported (CoinGecko's "no cap")
    price_usd        DOUBLE,
    volume_24h_usd   DOUBLE,
    fetched_at       TIMESTAMPTZ NOT NULL,
    job_id           VARCHAR NOT NULL,
    PRIMARY KEY (coin_id, day)
);

-- A backfill job: the constituents it froze when it started and how far it got. A job that
-- has not finished is resumed by the next `capcover backfill` with the same categories and days.
CREATE TABLE backfill_jobs (
    job_id        VARCHAR PRIMARY KEY,
    categories    VARCHAR NOT NULL,          -- comma-separated category ids
    days          INTEGER NOT NULL,
    status        VARCHAR NOT NULL,          -- running | done
    coins         INTEGER NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ,
    constituents_as_of DATE                  -- the coin_snapshots date membership came from
);

-- One row per (job, coin). A coin flips to done in the same transaction that writes its
-- history rows, so a killed backfill never leaves a half-written coin.
CREATE TABLE backfill_progress (
    job_id       VARCHAR NOT NULL,
    coin_id      VARCHAR NOT NULL,
    seq          INTEGER NOT NULL,           -- fetch order (largest market cap first)
    status       VARCHAR NOT NULL,           -- pending | done | missing (404 at the source)
    points       INTEGER,
    first_day    DATE,
    last_day     DATE,
    finished_at  TIMESTAMPTZ,
    PRIMARY KEY (job_id, coin_id)
);

-- Latest report date, every scenario.
CREATE VIEW v_latest_report AS
SELECT *
FROM report_daily
WHERE report_date = (SELECT max(report_date) FROM report_daily);

-- The coverage history per scenario, with the day-over-day change and 1.0 crossings.
CREATE VIEW v_coverage_history AS
SELECT
    report_date,
    scenario,
    basis,
    sector_market_cap_usd,
    gpu_sku,
    gpu_count,
    unit_price_usd,
    buildout_cost_usd,
    coverage_ratio,
    coverage_ratio >= 1.0 AS covers,
    lag(coverage_ratio) OVER w AS previous_ratio,
    coverage_ratio - lag(coverage_ratio) OVER w AS ratio_change,
    coalesce((lag(coverage_ratio) OVER w >= 1.0) <> (coverage_ratio >= 1.0), false)
        AS crossed_one
FROM report_daily
WINDOW w AS (PARTITION BY scenario ORDER BY report_date);

-- Constituents of each category on its latest snapshot date, largest first, with their share
-- of the category's constituent sum.
CREATE VIEW v_sector_constituents AS
WITH latest AS (
    SELECT category_id, max(as_of_date) AS as_of_date
    FROM coin_snapshots
    GROUP BY category_id
)
SELECT
    c.as_of_date,
    c.category_id,
    row_number() OVER (PARTITION BY c.category_id
                       ORDER BY c.market_cap_usd DESC NULLS LAST, c.coin_id) AS position,
    c.coin_id,
    c.symbol,
    c.name,
    c.market_cap_usd,
    c.market_cap_usd / sum(c.market_cap_usd) OVER (PARTITION BY c.category_id) AS share_of_sum,
    c.market_cap_rank,
    c.fully_diluted_valuation_usd,
    c.total_volume_usd,
    c.current_price_usd,
    c.last_updated
FROM coin_snapshots c
JOIN latest USING (category_id, as_of_date);
