-- capcover warehouse, version 61: how far a curated quote can be trusted, as its curator said
-- (ingest/data/quotes.toml `confidence`). Feed offers leave it NULL: they are prices asked, not
-- figures reported.

ALTER TABLE gpu_quotes ADD COLUMN confidence VARCHAR;

COMMENT ON COLUMN gpu_quotes.confidence IS 'Curated quotes: high, medium or low, as the quotes file says (vendor list price high; analyst survey medium; blog or marketplace summary low); NULL for feed offers.';
-- v_quote_prices (SELECT * of the latest_quotes macro) shows the column once bound again.
SELECT * FROM v_quote_prices LIMIT 0;
COMMENT ON COLUMN v_quote_prices.confidence IS 'Curated quotes: high, medium or low, as the quotes file says; NULL for feed offers.';
