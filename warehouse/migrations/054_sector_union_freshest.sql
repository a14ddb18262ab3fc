-- capcover warehouse, version 54: with several categories, a coin listed by more than one
-- counts once with its freshest record (newest last_updated, then the larger cap), whatever
-- the configured order of the categories (red team D09: the first configured category's
-- record was taken, so the headline depended on the order of CAPCOVER_CATEGORIES). Rows from
-- now on name the rule `constituent-union-v2`; rows before keep `constituent-union` and are
-- re-derived with their own rule (docs/methodology.md, "The sector market cap").

COMMENT ON COLUMN report_daily.sector_cap_method IS 'How sector_market_cap_usd is made: coingecko-category (one category: CoinGecko''s figure), constituent-union-v2 (several categories: their coins, each once, from its freshest record: newest last_updated, then the larger cap), constituent-union (several categories before migration 054: each coin once, from the first configured category listing it), category-sum (several categories before migration 052: figures summed), history-union (a backfilled day: TODAY''s constituents that day).';
