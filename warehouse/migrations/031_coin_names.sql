-- capcover warehouse, version 31: each coin's latest symbol and name, kept by the load, and
-- the why-it-moved views that name coins reading only the report dates they are asked for.
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

-- v_constituent_moves of migration 020, the same rows, with each pair's constituents found
-- from the pair down: 020 joined the pairs to v_report_constituents, which DuckDB may evaluate
-- for every report date before the join (a whole-history aggregate on every read of one
-- month); here the dates a pair needs are joined to coin_snapshots below the aggregate.
CREATE OR REPLACE VIEW v_constituent_moves AS
WITH pairs AS (
    SELECT DISTINCT report_date, previous_report_date FROM v_ratio_moves
), wanted AS (  -- the two dates of each pair: its report date (now) and the previous one
    SELECT report_date, previous_report_date, report_date AS at_date, true AS is_now
    FROM pairs
    UNION ALL
    SELECT report_date, previous_report_date, previous_report_date, false FROM pairs
), days AS (
    SELECT DISTINCT w.report_date, w.previous_report_date, w.is_now, w.at_date, r.basis,
           r.categories
    FROM wanted w JOIN report_daily r ON r.report_date = w.at_date
), snap AS (
    SELECT d.report_date, d.previous_report_date, d.is_now, d.basis, d.categories, c.coin_id,
           any_value(c.market_cap_usd) AS market_cap_usd
    FROM days d
    JOIN coin_snapshots c
      ON c.as_of_date = d.at_date
     AND list_contains(string_split(d.categories, ','), c.category_id)
    WHERE d.basis = 'category'
    GROUP BY d.report_date, d.previous_report_date, d.is_now, d.basis, d.categories, c.coin_id
), hist AS (
    SELECT d.report_date, d.previous_report_date, d.is_now, d.basis, d.categories, h.coin_id,
           any_value(h.market_cap_usd) AS market_cap_usd
    FROM days d
    JOIN backfill_jobs j ON j.categories = d.categories AND j.status = 'done'
    JOIN backfill_progress p ON p.job_id = j.job_id AND p.status = 'done'
    JOIN coin_history h ON h.coin_id = p.coin_id AND h.day = d.at_date
    WHERE d.basis = 'history'
    GROUP BY d.report_date, d.previous_report_date, d.is_now, d.basis, d.categories, h.coin_id
), cons AS (
    SELECT m.report_date, m.previous_report_date, m.is_now, m.coin_id, n.symbol, n.name,
           m.market_cap_usd
    FROM (SELECT * FROM snap UNION ALL SELECT * FROM hist) m
    LEFT JOIN coin_names n USING (coin_id)
), now_ AS (
    SELECT report_date, previous_report_date, coin_id, symbol, name, market_cap_usd
    FROM cons WHERE is_now
), prev AS (
    SELECT report_date, previous_report_date, coin_id, symbol, name, market_cap_usd
    FROM cons WHERE NOT is_now
), joined AS (
    SELECT
        coalesce(n.report_date, p.report_date)                   AS report_date,
        coalesce(n.previous_report_date, p.previous_report_date) AS previous_report_date,
        coalesce(n.coin_id, p.coin_id)                           AS coin_id,
        coalesce(n.symbol, p.symbol)                             AS symbol,
        coalesce(n.name, p.name)                                 AS name,
        n.market_cap_usd                                         AS market_cap_usd,
        p.market_cap_usd                                         AS previous_market_cap_usd,
        CASE WHEN p.coin_id IS NULL THEN 'entered'
             WHEN n.coin_id IS NULL THEN 'left'
             ELSE 'stayed' END                                   AS membership
    FROM now_ n
    FULL OUTER JOIN prev p USING (report_date, previous_report_date, coin_id)
)
SELECT
    report_date,
    previous_report_date,
    coin_id,
    symbol,
    name,
    membership,
    market_cap_usd,
    previous_market_cap_usd,
    coalesce(market_cap_usd, 0) - coalesce(previous_market_cap_usd, 0) AS contribution_usd,
    sum(coalesce(previous_market_cap_usd, 0)) OVER s                    AS previous_sum_usd,
    sum(coalesce(market_cap_usd, 0) - coalesce(previous_market_cap_usd, 0)) OVER s
                                                                        AS constituents_change_usd
FROM joined
WINDOW s AS (PARTITION BY report_date, previous_report_date);

COMMENT ON VIEW v_constituent_moves IS 'Each coin''s contribution (USD) to the change of the constituents'' sum between a report date and a previous one (pairs of v_ratio_moves), with membership entered/left/stayed.';
COMMENT ON COLUMN v_constituent_moves.report_date IS 'Report date (UTC calendar day the market figures are as of).';
COMMENT ON COLUMN v_constituent_moves.previous_report_date IS 'The scenario''s previous report date (UTC day).';
COMMENT ON COLUMN v_constituent_moves.coin_id IS 'CoinGecko coin id.';
COMMENT ON COLUMN v_constituent_moves.symbol IS 'Ticker symbol as CoinGecko reports it (the coin''s latest snapshot, coin_names).';
COMMENT ON COLUMN v_constituent_moves.name IS 'Display name as the source reports it (the coin''s latest snapshot, coin_names).';
COMMENT ON COLUMN v_constituent_moves.membership IS 'entered (not a constituent at the previous report) | left | stayed.';
COMMENT ON COLUMN v_constituent_moves.market_cap_usd IS 'The coin''s market cap at this report, USD (null if it left).';
COMMENT ON COLUMN v_constituent_moves.previous_market_cap_usd IS 'The coin''s market cap at the previous report, USD (null if it entered).';
COMMENT ON COLUMN v_constituent_moves.contribution_usd IS 'market_cap_usd - previous_market_cap_usd, missing as 0, USD; sums to constituents_change_usd.';
COMMENT ON COLUMN v_constituent_moves.previous_sum_usd IS 'The constituents'' sum at the previous report, USD.';
COMMENT ON COLUMN v_constituent_moves.constituents_change_usd IS 'Change of the constituents'' sum since the previous report, USD.';
