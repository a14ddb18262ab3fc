-- capcover warehouse, version 52: the sector cap defined once, the price method's providers,
-- and survivorship said on every row (docs/methodology.md, "The sector cap", "Survivorship").
--
-- With several configured categories the headline cap is the de-duplicated union of their
-- constituents (each coin once); CoinGecko's own figure (the categories' reported caps summed)
-- is kept beside it. With one category the headline stays CoinGecko's reported figure.

ALTER TABLE report_daily ADD COLUMN price_provider_count INTEGER;
ALTER TABLE report_daily ADD COLUMN price_providers VARCHAR;
ALTER TABLE report_daily ADD COLUMN coingecko_category_cap_usd DOUBLE;
ALTER TABLE report_daily ADD COLUMN sector_cap_method VARCHAR;
ALTER TABLE report_daily ADD COLUMN survivorship_biased BOOLEAN;

-- Rows written before this migration keep what they were: a daily row's cap was CoinGecko's
-- figure (several categories: their figures summed, a coin in two counted twice); a history
-- row's cap sums today's constituents over a past day. Their price method voted by quote, not
-- by provider: no provider count.
UPDATE report_daily SET
    coingecko_category_cap_usd = CASE WHEN basis = 'category' THEN sector_market_cap_usd END,
    sector_cap_method = CASE WHEN basis = 'history' THEN 'history-union'
                             WHEN categories LIKE '%,%' THEN 'category-sum'
                             ELSE 'coingecko-category' END,
    survivorship_biased = (basis = 'history');

-- The gap is CoinGecko's own category figure against its coins' sum: with several categories
-- the headline is that sum, so the gap is taken from the figure kept beside it.
DROP VIEW IF EXISTS v_category_gap;
CREATE VIEW v_category_gap AS
SELECT
    m.report_date,
    m.scenario,
    m.previous_report_date,
    r.basis,
    r.sector_market_cap_usd,
    r.constituents_market_cap_usd,
    coalesce(r.coingecko_category_cap_usd, r.sector_market_cap_usd)
      - coalesce(r.constituents_market_cap_usd, 0)                              AS gap_usd,
    p.basis                                                                     AS previous_basis,
    p.sector_market_cap_usd                                                     AS previous_sector_market_cap_usd,
    p.constituents_market_cap_usd                                               AS previous_constituents_market_cap_usd,
    coalesce(p.coingecko_category_cap_usd, p.sector_market_cap_usd)
      - coalesce(p.constituents_market_cap_usd, 0)                              AS previous_gap_usd,
    (coalesce(r.coingecko_category_cap_usd, r.sector_market_cap_usd)
      - coalesce(r.constituents_market_cap_usd, 0))
      - (coalesce(p.coingecko_category_cap_usd, p.sector_market_cap_usd)
      - coalesce(p.constituents_market_cap_usd, 0))                             AS gap_change_usd,
    r.coingecko_category_cap_usd,
    p.coingecko_category_cap_usd                                                AS previous_coingecko_category_cap_usd
FROM v_ratio_moves m
JOIN report_daily r USING (report_date, scenario)
JOIN report_daily p ON p.report_date = m.previous_report_date AND p.scenario = m.scenario;

COMMENT ON VIEW v_category_gap IS 'CoinGecko''s category figure minus its coins'' de-duplicated sum (USD), now and at the previous report.';
COMMENT ON COLUMN v_category_gap.report_date IS 'Report date (UTC calendar day the market figures are as of).';
COMMENT ON COLUMN v_category_gap.scenario IS 'Scenario name (model/scenarios.toml or the user''s config).';
COMMENT ON COLUMN v_category_gap.previous_report_date IS 'The scenario''s previous report date (UTC day).';
COMMENT ON COLUMN v_category_gap.basis IS 'category = a daily run''s report; history = a backfilled day (today''s constituents).';
COMMENT ON COLUMN v_category_gap.sector_market_cap_usd IS 'The headline sector cap of the row, USD (report_daily.sector_cap_method says how it is made).';
COMMENT ON COLUMN v_category_gap.constituents_market_cap_usd IS 'De-duplicated sum of the constituents'' market caps, USD.';
COMMENT ON COLUMN v_category_gap.gap_usd IS 'CoinGecko''s category figure (coingecko_category_cap_usd, else the headline) minus constituents_market_cap_usd, USD; with several categories a coin in two counts twice in the figure.';
COMMENT ON COLUMN v_category_gap.previous_basis IS 'basis of the previous report.';
COMMENT ON COLUMN v_category_gap.previous_sector_market_cap_usd IS 'sector_market_cap_usd of the previous report, USD.';
COMMENT ON COLUMN v_category_gap.previous_constituents_market_cap_usd IS 'constituents_market_cap_usd of the previous report, USD.';
COMMENT ON COLUMN v_category_gap.previous_gap_usd IS 'gap_usd of the previous report, USD.';
COMMENT ON COLUMN v_category_gap.gap_change_usd IS 'gap_usd - previous_gap_usd: the category figure moving without its coins, USD.';
COMMENT ON COLUMN v_category_gap.coingecko_category_cap_usd IS 'CoinGecko''s reported cap of the configured categories, summed (USD); NULL on a backfilled day.';
COMMENT ON COLUMN v_category_gap.previous_coingecko_category_cap_usd IS 'coingecko_category_cap_usd of the previous report, USD.';

COMMENT ON COLUMN report_daily.price_provider_count IS 'Providers whose value entered the price (price method provider-vote-v2: one vote each); NULL for fixed prices and older methods.';
COMMENT ON COLUMN report_daily.price_providers IS 'Comma-separated providers that voted (v_price_decisions lists each quote and why it was kept or excluded).';
COMMENT ON COLUMN report_daily.coingecko_category_cap_usd IS 'CoinGecko''s own reported cap of the configured categories, summed (USD; with several categories a coin in two counts twice); NULL on backfilled (basis history) rows.';
COMMENT ON COLUMN report_daily.sector_cap_method IS 'How sector_market_cap_usd is made: coingecko-category (one category: CoinGecko''s figure), constituent-union (several categories: their coins, each once), category-sum (several categories before migration 052: figures summed), history-union (a backfilled day: TODAY''s constituents that day).';
COMMENT ON COLUMN report_daily.survivorship_biased IS 'True on backfilled rows (basis history): the cap sums TODAY''s constituents over a past day, missing the coins that left the category or died since: a lower bound biased toward the survivors.';
COMMENT ON COLUMN report_daily.basis IS 'category = a daily run''s report; history = a backfilled day whose cap sums TODAY''s constituents (survivorship-biased, see survivorship_biased).';
COMMENT ON COLUMN report_daily.sector_market_cap_usd IS 'The headline sector cap, USD: CoinGecko''s category figure (one category), the union of the categories'' coins (several), or on basis history the sum of TODAY''s constituents that day (survivorship-biased); sector_cap_method says which.';
COMMENT ON COLUMN report_daily.quote_median_usd IS 'The price method''s central value: USD per GPU (purchase) or per GPU-hour (rental); provider-vote-v2: the median of the voting providers'' values; NULL for fixed prices.';
COMMENT ON COLUMN report_daily.price_quote_count IS 'Quotes behind the price (provider-vote-v2: the kept quotes of the voting providers; 0 for fixed prices).';
COMMENT ON COLUMN report_daily.quote_q1_usd IS 'Lower quartile behind the band (provider-vote-v2: of the voting providers'' values; mad3.5-median-v1: of the kept quotes), same unit as quote_median_usd; NULL for a fixed price.';
COMMENT ON COLUMN report_daily.quote_q3_usd IS 'Upper quartile behind the band (same rule and unit as quote_q1_usd); NULL for a fixed price.';
COMMENT ON COLUMN report_daily.price_method IS 'Id of the versioned price method that produced unit_price_usd, e.g. provider-vote-v2+age7d/1095d (model/prices.py) or mad3.5-median-v1+age7d/1095d; fixed for a fixed price. Published rows keep theirs.';
