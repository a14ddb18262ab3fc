-- capcover warehouse, version 62: the committed terms are markets of the one tier taxonomy
-- (model/tiers.py), and a scenario's own staleness window is kept on its report rows.
--
-- A scenario may price with a committed term (`market = "committed_1y"`): a contract price is
-- its own market, never mixed with list prices. gpu_quotes.market is the market that selects a
-- quote's tier, so a committed quote's market is its term (migration 050 left it NULL when no
-- market selected committed tiers yet).
UPDATE gpu_quotes SET market = tier
WHERE kind = 'rental_hourly'
  AND tier IN ('committed_1m', 'committed_3m', 'committed_6m', 'committed_1y');

-- A scenario with `max_age_days` prices with its own window for its quotes' kind (a monthly
-- contract index stays valid for months, a live offer 7 days). Its price_method names that
-- window (e.g. provider-vote-v2+age365d/1095d); this column says the window was the
-- scenario's, so `capcover rebuild` and `verify` re-derive a date with the settings' windows
-- the other rows name and the scenario's own on its rows.
ALTER TABLE report_daily ADD COLUMN price_max_age_days INTEGER;

COMMENT ON COLUMN report_daily.price_max_age_days IS 'The scenario''s own staleness window for its quotes, days (model/scenarios.toml max_age_days); NULL: the settings'' window of its kind. price_method names the window used either way.';
COMMENT ON COLUMN report_daily.price_market IS 'Market of the quotes that priced the row: on_demand, spot or a committed term (committed_1m, committed_3m, committed_6m, committed_1y) for rentals; NULL otherwise.';
COMMENT ON COLUMN gpu_quotes.market IS 'The market that selects the quote''s tier (model/tiers.py): on_demand, spot or a committed term (committed_1m/3m/6m/1y); NULL for other tiers (reserved, cluster, interruptible, unknown) and for purchases.';
COMMENT ON COLUMN quote_stats_daily.market IS 'on_demand, spot or a committed term for those tiers; NULL otherwise.';
COMMENT ON COLUMN price_decisions.rule IS 'Why it was excluded (NULL when kept): form_factor, condition, flag, tier, computed, unavailable, stale, route, duplicate, outlier (docs/methodology.md).';

-- v_latest_report (SELECT * FROM report_daily) shows the new column once bound again.
SELECT * FROM v_latest_report LIMIT 0;
COMMENT ON COLUMN v_latest_report.price_max_age_days IS 'The scenario''s own staleness window for its quotes, days; NULL: the settings'' window of its kind.';
COMMENT ON COLUMN v_latest_report.price_market IS 'Market of the quotes that priced the row: on_demand, spot or a committed term (rentals); NULL otherwise.';

-- Migrations 060 and 061 bound v_latest_report and v_quote_prices (both SELECT * views) again,
-- which lists migration 050's and 052's columns there for the first time: their comments.
SELECT * FROM v_quote_prices LIMIT 0;
COMMENT ON COLUMN v_latest_report.price_provider_count IS 'Providers whose value entered the price (price method provider-vote-v2: one vote each); NULL for fixed prices and older methods.';
COMMENT ON COLUMN v_latest_report.price_providers IS 'Comma-separated providers that voted (v_price_decisions lists each quote and why it was kept or excluded).';
COMMENT ON COLUMN v_latest_report.coingecko_category_cap_usd IS 'CoinGecko''s own reported cap of the configured categories, summed (USD); NULL on backfilled (basis history) rows.';
COMMENT ON COLUMN v_latest_report.sector_cap_method IS 'How sector_market_cap_usd is made: coingecko-category, constituent-union, category-sum or history-union (report_daily.sector_cap_method).';
COMMENT ON COLUMN v_latest_report.survivorship_biased IS 'True on backfilled rows (basis history): the cap sums TODAY''s constituents over a past day, a lower bound biased toward the survivors.';
COMMENT ON COLUMN v_quote_prices.tier_label IS 'The feed''s own words for the terms; the curated file''s tier as written.';
COMMENT ON COLUMN v_quote_prices.provider IS 'Who sells the capacity (the publisher for curated quotes): the price method gives each provider one vote.';
COMMENT ON COLUMN v_quote_prices.flags IS 'gpuhunt''s flags on the catalog row as published; empty for other feeds.';
COMMENT ON COLUMN v_quote_prices.computed_price IS 'True when the feed computed the price from another one (gpuhunt oci-spot); never priced.';
COMMENT ON COLUMN v_quote_prices.unavailable_reason IS 'Why the feed says the offer cannot be had now; NULL: nothing said against it.';
COMMENT ON COLUMN v_quote_prices.capacity_id IS 'The capacity a listing sells within its provider: listings of one capacity vote once.';
COMMENT ON COLUMN v_quote_prices.machine_id IS 'Vast.ai machine_id; NULL for other feeds.';
COMMENT ON COLUMN v_quote_prices.host_id IS 'Vast.ai host_id; NULL for other feeds.';
COMMENT ON COLUMN v_quote_prices.instance_name IS 'The feed''s instance type or GPU type id (gpuhunt instance_name, RunPod GPU id).';
COMMENT ON COLUMN v_quote_prices.form_factor_v1 IS 'The form factor price method mad3.5-median-v1 gave the offer; kept so `capcover verify` re-derives that method''s rows.';
COMMENT ON COLUMN v_quote_prices.market IS 'The market that selects the quote''s tier: on_demand, spot or a committed term; NULL for other tiers and purchases.';
