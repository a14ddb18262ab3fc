-- capcover warehouse, version 7: one definition of "each source's latest quotes at or before
-- a date", the market (on-demand or spot) of every rental quote, and the price method's
-- numbers on every report row (model/prices.py computes them; SQL never takes a median).

-- on_demand | spot for rental quotes; NULL for purchase prices and assumptions.
ALTER TABLE gpu_quotes ADD COLUMN market VARCHAR;
UPDATE gpu_quotes SET market = CASE
    WHEN kind <> 'rental_hourly' THEN NULL
    WHEN lower(coalesce(tier, '')) LIKE '%spot%' OR lower(coalesce(tier, '')) LIKE '%interruptible%'
        THEN 'spot'
    ELSE 'on_demand' END;

-- THE definition: per (sku, kind, source), the quotes of that source's latest observed day at
-- or before `as_of` (every offer of a feed's latest snapshot counts; a curated source that
-- published both ends of a range contributes both). Unmapped labels are left out. The model's
-- inputs, the HTML report's quote list, `capcover quotes list` and v_quote_prices all read it.
CREATE MACRO latest_quotes(as_of) AS TABLE
SELECT *
FROM gpu_quotes
WHERE observed_date <= as_of AND sku <> 'unmapped'
QUALIFY observed_date = max(observed_date) OVER (PARTITION BY sku, kind, source);

-- The quotes the model would price with today (the statistic itself is model/prices.py's:
-- `capcover quotes list --stats`).
DROP VIEW IF EXISTS v_quote_prices;
CREATE VIEW v_quote_prices AS
SELECT * FROM latest_quotes(current_date);

-- Per observed day x SKU x form factor x kind x market: how many quotes and from whom. The
-- central value and quartiles are the price method's (model/prices.py), not SQL's.
DROP VIEW IF EXISTS quote_stats_daily;
CREATE VIEW quote_stats_daily AS
SELECT
    observed_date                                        AS day,
    sku,
    form_factor,
    kind,
    market,
    count(*)                                             AS quote_count,
    min(price_usd)                                       AS min_usd,
    max(price_usd)                                       AS max_usd,
    string_agg(DISTINCT source, ', ' ORDER BY source)    AS sources
FROM gpu_quotes
WHERE sku <> 'unmapped'
GROUP BY observed_date, sku, form_factor, kind, market;

-- What each report row was priced with: the quotes' form factor and market, the quartiles of
-- the eligible quotes, the ratio at those quartiles (low = at the upper-quartile price), and
-- the price method's id (model/prices.py), so a change of method never silently rewrites
-- history. Fixed prices: quartiles NULL, an equal band, method 'fixed'.
ALTER TABLE report_daily ADD COLUMN price_form_factor VARCHAR;
ALTER TABLE report_daily ADD COLUMN price_market VARCHAR;
ALTER TABLE report_daily ADD COLUMN quote_q1_usd DOUBLE;
ALTER TABLE report_daily ADD COLUMN quote_q3_usd DOUBLE;
ALTER TABLE report_daily ADD COLUMN coverage_ratio_low DOUBLE;
ALTER TABLE report_daily ADD COLUMN coverage_ratio_high DOUBLE;
ALTER TABLE report_daily ADD COLUMN price_method VARCHAR;
-- Rows written before this method existed: the band of one known price, the old method named.
UPDATE report_daily SET coverage_ratio_low = coverage_ratio, coverage_ratio_high = coverage_ratio,
    price_method = CASE WHEN quote_median_usd IS NULL THEN 'fixed' ELSE 'median-v0' END;
