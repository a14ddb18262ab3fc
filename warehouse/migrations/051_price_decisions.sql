-- capcover warehouse, version 51: every quote the price method considered for a report row,
-- kept or excluded, and why (docs/methodology.md, "Reading a price from v_price_decisions").
-- Written by the run that writes the row, in the same transaction; replaced with it.

CREATE TABLE price_decisions (
    report_date         DATE NOT NULL,
    scenario            VARCHAR NOT NULL,
    quote_id            VARCHAR NOT NULL,
    source              VARCHAR NOT NULL,
    provider            VARCHAR NOT NULL,
    sku                 VARCHAR NOT NULL,
    kind                VARCHAR NOT NULL,
    form_factor         VARCHAR,
    tier                VARCHAR,
    price_usd           DOUBLE NOT NULL,
    observed_date       DATE NOT NULL,
    capacity_id         VARCHAR,
    kept                BOOLEAN NOT NULL,
    rule                VARCHAR,
    reason              VARCHAR,
    provider_value_usd  DOUBLE,
    price_method        VARCHAR NOT NULL,
    run_id              VARCHAR NOT NULL,
    PRIMARY KEY (report_date, scenario, quote_id)
);

-- Per report row, every quote considered, what became of it and the numbers behind the row.
-- The central value (report_daily.quote_median_usd) is the median of the distinct
-- provider_value_usd of the kept quotes, one per provider.
CREATE VIEW v_price_decisions AS
SELECT
    d.report_date,
    d.scenario,
    d.price_method,
    d.provider,
    d.source,
    d.quote_id,
    d.kept,
    d.rule,
    d.reason,
    d.price_usd,
    d.provider_value_usd,
    r.quote_median_usd AS central_usd,
    d.tier,
    d.form_factor,
    d.sku,
    d.kind,
    d.capacity_id,
    d.observed_date,
    q.sku_label,
    q.instance_name,
    q.gpu_count_basis,
    q.region,
    q.condition,
    q.unavailable_reason,
    q.flags,
    q.source_url,
    d.run_id
FROM price_decisions d
JOIN report_daily r USING (report_date, scenario)
LEFT JOIN gpu_quotes q ON q.quote_id = d.quote_id;

COMMENT ON TABLE price_decisions IS 'Every quote the price method considered for a report row (report_date, scenario): kept or excluded, the rule and the reason; written with the row, in the same transaction.';
COMMENT ON COLUMN price_decisions.report_date IS 'Report date (UTC calendar day the market figures are as of).';
COMMENT ON COLUMN price_decisions.scenario IS 'Scenario name (model/scenarios.toml or the user''s config).';
COMMENT ON COLUMN price_decisions.quote_id IS 'The quote considered (gpu_quotes.quote_id).';
COMMENT ON COLUMN price_decisions.source IS 'The route the quote came by (vastai, runpod, gpuhunt/aws, a publication).';
COMMENT ON COLUMN price_decisions.provider IS 'Who sells the capacity; each provider has one vote.';
COMMENT ON COLUMN price_decisions.sku IS 'Normalised GPU SKU.';
COMMENT ON COLUMN price_decisions.kind IS 'purchase (USD per GPU) | rental_hourly (USD per GPU-hour).';
COMMENT ON COLUMN price_decisions.form_factor IS 'SXM, PCIe, NVL, OAM or unknown.';
COMMENT ON COLUMN price_decisions.tier IS 'Price tier (model/tiers.py).';
COMMENT ON COLUMN price_decisions.price_usd IS 'The quote''s price: USD per GPU (purchase) or per GPU-hour (rental).';
COMMENT ON COLUMN price_decisions.observed_date IS 'UTC day the quote was observed.';
COMMENT ON COLUMN price_decisions.capacity_id IS 'The capacity it sells (gpu_quotes.capacity_id): one vote per capacity within a provider.';
COMMENT ON COLUMN price_decisions.kept IS 'True when the quote counts toward its provider''s value and that provider votes.';
COMMENT ON COLUMN price_decisions.rule IS 'Why it was excluded (NULL when kept): form_factor, tier, flag, computed, unavailable, stale, route, duplicate, outlier (docs/methodology.md).';
COMMENT ON COLUMN price_decisions.reason IS 'The exclusion in one line a person can read (NULL when kept).';
COMMENT ON COLUMN price_decisions.provider_value_usd IS 'The provider''s value: the median of its kept quotes'' prices (same unit as price_usd); also on an outlier provider''s quotes; NULL otherwise.';
COMMENT ON COLUMN price_decisions.price_method IS 'The price method of the row (report_daily.price_method).';
COMMENT ON COLUMN price_decisions.run_id IS 'The capcover run that wrote the row (runs.run_id).';

COMMENT ON VIEW v_price_decisions IS 'Per report row, every quote the price method considered, kept or excluded and why, with the row''s central value: the median of one provider_value_usd per voting provider.';
COMMENT ON COLUMN v_price_decisions.report_date IS 'Report date (UTC calendar day the market figures are as of).';
COMMENT ON COLUMN v_price_decisions.scenario IS 'Scenario name (model/scenarios.toml or the user''s config).';
COMMENT ON COLUMN v_price_decisions.price_method IS 'The price method of the row (report_daily.price_method).';
COMMENT ON COLUMN v_price_decisions.provider IS 'Who sells the capacity; each provider has one vote.';
COMMENT ON COLUMN v_price_decisions.source IS 'The route the quote came by (vastai, runpod, gpuhunt/aws, a publication).';
COMMENT ON COLUMN v_price_decisions.quote_id IS 'The quote considered (gpu_quotes.quote_id).';
COMMENT ON COLUMN v_price_decisions.kept IS 'True when the quote counts toward its provider''s value and that provider votes.';
COMMENT ON COLUMN v_price_decisions.rule IS 'Why it was excluded (NULL when kept): form_factor, tier, flag, computed, unavailable, stale, route, duplicate, outlier.';
COMMENT ON COLUMN v_price_decisions.reason IS 'The exclusion in one line a person can read (NULL when kept).';
COMMENT ON COLUMN v_price_decisions.price_usd IS 'The quote''s price: USD per GPU (purchase) or per GPU-hour (rental).';
COMMENT ON COLUMN v_price_decisions.provider_value_usd IS 'The provider''s value: the median of its kept quotes'' prices (same unit as price_usd).';
COMMENT ON COLUMN v_price_decisions.central_usd IS 'The row''s central value (report_daily.quote_median_usd): the median of the voting providers'' values.';
COMMENT ON COLUMN v_price_decisions.tier IS 'Price tier (model/tiers.py).';
COMMENT ON COLUMN v_price_decisions.form_factor IS 'SXM, PCIe, NVL, OAM or unknown.';
COMMENT ON COLUMN v_price_decisions.sku IS 'Normalised GPU SKU.';
COMMENT ON COLUMN v_price_decisions.kind IS 'purchase (USD per GPU) | rental_hourly (USD per GPU-hour).';
COMMENT ON COLUMN v_price_decisions.capacity_id IS 'The capacity it sells: one vote per capacity within a provider.';
COMMENT ON COLUMN v_price_decisions.observed_date IS 'UTC day the quote was observed.';
COMMENT ON COLUMN v_price_decisions.sku_label IS 'The GPU label as the source wrote it.';
COMMENT ON COLUMN v_price_decisions.instance_name IS 'The feed''s instance type or GPU type id.';
COMMENT ON COLUMN v_price_decisions.gpu_count_basis IS 'GPUs the raw price covers (a Vast.ai slice: its num_gpus).';
COMMENT ON COLUMN v_price_decisions.region IS 'Region or geolocation, if stated.';
COMMENT ON COLUMN v_price_decisions.condition IS 'The feed''s condition words (Vast.ai verification), if any.';
COMMENT ON COLUMN v_price_decisions.unavailable_reason IS 'Why the feed says it cannot be had now, if it does.';
COMMENT ON COLUMN v_price_decisions.flags IS 'gpuhunt''s flags on the catalog row.';
COMMENT ON COLUMN v_price_decisions.source_url IS 'Public URL of the quote''s source (no secrets).';
COMMENT ON COLUMN v_price_decisions.run_id IS 'The capcover run that wrote the row (runs.run_id).';
