-- capcover warehouse, version 55: price method provider-vote-v3.
--
-- Price method provider-vote-v3 (red team D08, #20): the `route` rule picks a provider's route
-- among the routes with fresh quotes of the SKU and kind, so RunPod's own feed saying "none in
-- stock" is not replaced by gpuhunt's copy. Rows priced before keep provider-vote-v2 (re-derived
-- by its frozen code). No data changes: the comments that named v2 now name both, and the runs'
-- HTTP counters say they count every source.
COMMENT ON COLUMN report_daily.price_provider_count IS 'Providers whose value entered the price (price methods provider-vote-v3 and v2: one vote each); NULL for fixed prices and older methods.';
COMMENT ON COLUMN report_daily.quote_median_usd IS 'The price method''s central value: USD per GPU (purchase) or per GPU-hour (rental); provider-vote-v3 and v2: the median of the voting providers'' values; NULL for fixed prices.';
COMMENT ON COLUMN report_daily.price_quote_count IS 'Quotes behind the price (provider-vote-v3 and v2: the kept quotes of the voting providers; 0 for fixed prices).';
COMMENT ON COLUMN report_daily.quote_q1_usd IS 'Lower quartile behind the band (provider-vote-v3 and v2: of the voting providers'' values; mad3.5-median-v1: of the kept quotes), same unit as quote_median_usd; NULL for a fixed price.';
COMMENT ON COLUMN report_daily.price_method IS 'Id of the versioned price method that produced unit_price_usd, e.g. provider-vote-v3+age7d/1095d (model/prices.py), provider-vote-v2+age7d/1095d or mad3.5-median-v1+age7d/1095d; fixed for a fixed price. Published rows keep theirs.';
COMMENT ON COLUMN runs.http_requests IS 'HTTP requests the run sent, every source (CoinGecko, Vast.ai, RunPod, gpuhunt), retries included.';
COMMENT ON COLUMN runs.http_retries IS 'HTTP retries taken, every source.';
COMMENT ON COLUMN runs.rate_limited IS '429 answers seen, every source (and survived, if status ok).';
