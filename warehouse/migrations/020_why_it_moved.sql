-- capcover warehouse, version 20: why the ratio moved. Views only (nothing stored twice).
-- Every view compares a report row with the previous report of the same scenario.
-- Amounts are USD; unit prices USD per GPU (purchase, fixed) or the scenario's full unit cost.

-- The exact decomposition of each day-over-day change of a scenario's ratio:
--   ln(ratio / previous_ratio) = cap_effect - price_effect - count_effect
-- because ratio = sector cap / (gpu count x unit price). count_effect is 0 unless the
-- scenario's GPU count was changed. A scenario's first report has no row.
CREATE VIEW v_ratio_moves AS
WITH r AS (
    SELECT
        report_date, scenario, coverage_ratio, sector_market_cap_usd, unit_price_usd,
        gpu_count,
        lag(report_date) OVER w            AS previous_report_date,
        lag(coverage_ratio) OVER w         AS previous_ratio,
        lag(sector_market_cap_usd) OVER w  AS previous_sector_market_cap_usd,
        lag(unit_price_usd) OVER w         AS previous_unit_price_usd,
        lag(gpu_count) OVER w              AS previous_gpu_count
    FROM report_daily
    WINDOW w AS (PARTITION BY scenario ORDER BY report_date)
)
SELECT
    report_date,
    scenario,
    previous_report_date,
    coverage_ratio,
    previous_ratio,
    -- A zero ratio (a zero cap) has no logarithm: NULL instead of -inf.
    CASE WHEN coverage_ratio > 0 AND previous_ratio > 0
         THEN ln(coverage_ratio / previous_ratio) END                      AS log_change,
    CASE WHEN sector_market_cap_usd > 0 AND previous_sector_market_cap_usd > 0
         THEN ln(sector_market_cap_usd / previous_sector_market_cap_usd) END AS cap_effect,
    ln(unit_price_usd / previous_unit_price_usd)                            AS price_effect,
    ln(gpu_count::DOUBLE / previous_gpu_count)                              AS count_effect,
    sector_market_cap_usd,
    previous_sector_market_cap_usd,
    unit_price_usd,
    previous_unit_price_usd,
    gpu_count,
    previous_gpu_count
FROM r
WHERE previous_report_date IS NOT NULL;

-- The coins behind each report date, one row per coin (every scenario of a date shares its
-- market side): basis 'category' dates take the day's coin snapshots of their categories (a
-- coin in two categories counts once, as in the constituents' sum); basis 'history' dates take
-- the day's market-chart points of the coins a finished backfill of the same categories
-- fetched. Symbols and names come from each coin's latest snapshot.
CREATE VIEW v_report_constituents AS
WITH days AS (
    SELECT DISTINCT report_date, basis, categories FROM report_daily
), names AS (
    SELECT coin_id, arg_max(symbol, as_of_date) AS symbol, arg_max(name, as_of_date) AS name
    FROM coin_snapshots
    GROUP BY coin_id
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
LEFT JOIN names n USING (coin_id);

-- Each coin's contribution to the change of the constituents' sum between a report date and
-- a previous one, for every (report_date, previous_report_date) pair of v_ratio_moves (join
-- on both to get a scenario's): contribution_usd = market_cap_usd - previous_market_cap_usd,
-- a missing or null cap counting as 0, so a pair's contributions add up exactly to
-- constituents_change_usd. membership: 'entered' (not a constituent at the previous report),
-- 'left' (no longer one) or 'stayed'.
CREATE VIEW v_constituent_moves AS
WITH pairs AS (
    SELECT DISTINCT report_date, previous_report_date FROM v_ratio_moves
), now_ AS (
    SELECT p.report_date, p.previous_report_date, c.coin_id, c.symbol, c.name,
           c.market_cap_usd
    FROM pairs p JOIN v_report_constituents c ON c.report_date = p.report_date
), prev AS (
    SELECT p.report_date, p.previous_report_date, c.coin_id, c.symbol, c.name,
           c.market_cap_usd
    FROM pairs p JOIN v_report_constituents c ON c.report_date = p.previous_report_date
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

-- The category figure against its coins: CoinGecko's reported cap of the report's categories
-- (basis 'category'; on basis 'history' the sector cap IS the coins' sum, gap 0) minus the
-- constituents' sum, now and at the previous report. The sector cap's change is
-- constituents_change_usd + gap_change_usd: a gap that moves is the category figure moving
-- without its coins.
CREATE VIEW v_category_gap AS
SELECT
    m.report_date,
    m.scenario,
    m.previous_report_date,
    r.basis,
    r.sector_market_cap_usd,
    r.constituents_market_cap_usd,
    r.sector_market_cap_usd - coalesce(r.constituents_market_cap_usd, 0)       AS gap_usd,
    p.basis                                                                     AS previous_basis,
    p.sector_market_cap_usd                                                     AS previous_sector_market_cap_usd,
    p.constituents_market_cap_usd                                               AS previous_constituents_market_cap_usd,
    p.sector_market_cap_usd - coalesce(p.constituents_market_cap_usd, 0)       AS previous_gap_usd,
    (r.sector_market_cap_usd - coalesce(r.constituents_market_cap_usd, 0))
      - (p.sector_market_cap_usd - coalesce(p.constituents_market_cap_usd, 0)) AS gap_change_usd
FROM v_ratio_moves m
JOIN report_daily r USING (report_date, scenario)
JOIN report_daily p ON p.report_date = m.previous_report_date AND p.scenario = m.scenario;

-- The quotes behind each quote-priced report row: for the row's SKU and quote kind (from
-- price_basis), each source's latest quotes at or before the report date, as the model
-- priced it (warehouse/load.py quote_points). Fixed-price scenarios have no rows.
-- price_usd: USD per GPU (purchase) or per GPU-hour (rental_hourly).
CREATE VIEW v_report_quotes AS
WITH r AS (
    SELECT report_date, scenario, gpu_sku,
           CASE WHEN price_basis LIKE '%purchase%' THEN 'purchase'
                WHEN price_basis LIKE '%rental%' THEN 'rental_hourly' END AS kind
    FROM report_daily
    WHERE price_quote_count > 0
)
SELECT r.report_date, r.scenario, q.sku, q.kind, q.source, q.quote_id, q.observed_date,
       q.price_usd, q.form_factor, q.source_url
FROM r
JOIN gpu_quotes q ON q.sku = r.gpu_sku AND q.kind = r.kind AND q.observed_date <= r.report_date
QUALIFY q.observed_date = max(q.observed_date)
        OVER (PARTITION BY r.report_date, r.scenario, q.source);
