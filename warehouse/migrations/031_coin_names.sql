-- capcover warehouse, version 31: each coin's latest symbol and name, kept by the load.
-- v_report_constituents named every coin with arg_max over ALL coin_snapshots, so every read
-- of it (the Parquet snapshot's daily export of one month, the report's why-it-moved
-- paragraph) aggregated the whole history: 949k rows at 10 years for 260 coins. coin_names
-- holds the same answer, one row per coin; warehouse/load.py keeps it in step with every
-- load of coin_snapshots (and re-derives it after `capcover rebuild` deletes rows).
CREATE TABLE coin_names (
    coin_id    VARCHAR NOT NULL,
    symbol     VARCHAR,
    name       VARCHAR,
    as_of_date DATE NOT NULL
);

INSERT INTO coin_names
SELECT coin_id, arg_max(symbol, as_of_date), arg_max(name, as_of_date), max(as_of_date)
FROM coin_snapshots
GROUP BY coin_id;

-- The view of migration 020 with its names read from coin_names (same rows, same columns).
CREATE OR REPLACE VIEW v_report_constituents AS
WITH days AS (
    SELECT DISTINCT report_date, basis, categories FROM report_daily
), snap AS (
    SELECT d.report_date, d.basis, d.categories, c.coin_id,
           any_value(c.market_cap_usd) AS market_cap_usd
    FROM days d
    JOIN coin_snapshots c
      ON c.as_of_date = d.report_date
     AND list_contains(string_split(d.categories, ','), c.category_id)
    WHERE d.basis = 'category'
    GROUP BY d.report_date, d.basis, d.categories, c.coin_id
), hist AS (
    SELECT d.report_date, d.basis, d.categories, h.coin_id,
           any_value(h.market_cap_usd) AS market_cap_usd
    FROM days d
    JOIN backfill_jobs j ON j.categories = d.categories AND j.status = 'done'
    JOIN backfill_progress p ON p.job_id = j.job_id AND p.status = 'done'
    JOIN coin_history h ON h.coin_id = p.coin_id AND h.day = d.report_date
    WHERE d.basis = 'history'
    GROUP BY d.report_date, d.basis, d.categories, h.coin_id
)
SELECT m.report_date, m.basis, m.categories, m.coin_id, n.symbol, n.name, m.market_cap_usd
FROM (SELECT * FROM snap UNION ALL SELECT * FROM hist) m
LEFT JOIN coin_names n USING (coin_id);

COMMENT ON TABLE coin_names IS 'Each coin''s symbol and name on its latest coin_snapshots date, one row per coin (kept by the load; what v_report_constituents names coins with).';
COMMENT ON COLUMN coin_names.coin_id IS 'CoinGecko coin id.';
COMMENT ON COLUMN coin_names.symbol IS 'Ticker symbol as CoinGecko reports it, on the coin''s latest snapshot.';
COMMENT ON COLUMN coin_names.name IS 'Display name as the source reports it, on the coin''s latest snapshot.';
COMMENT ON COLUMN coin_names.as_of_date IS 'The coin''s latest coin_snapshots as_of_date (UTC day), where symbol and name come from.';

COMMENT ON VIEW v_report_constituents IS 'The coins behind each report date and their market caps (USD): coin snapshots (basis category) or backfilled history (basis history).';
COMMENT ON COLUMN v_report_constituents.report_date IS 'Report date (UTC calendar day the market figures are as of).';
COMMENT ON COLUMN v_report_constituents.basis IS 'category = CoinGecko''s reported category cap; history = the sum of backfilled constituent caps.';
COMMENT ON COLUMN v_report_constituents.categories IS 'Comma-separated CoinGecko category ids behind the sector cap.';
COMMENT ON COLUMN v_report_constituents.coin_id IS 'CoinGecko coin id.';
COMMENT ON COLUMN v_report_constituents.symbol IS 'Ticker symbol as CoinGecko reports it (the coin''s latest snapshot, coin_names).';
COMMENT ON COLUMN v_report_constituents.name IS 'Display name as the source reports it (the coin''s latest snapshot, coin_names).';
COMMENT ON COLUMN v_report_constituents.market_cap_usd IS 'The coin''s market cap behind the report, USD.';
