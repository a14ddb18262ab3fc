-- capcover warehouse, version 50: every quote carries a tier from one taxonomy (model/tiers.py)
-- and what the price method needs to decide about it: who sells it, the feed's own words and
-- flags, whether the feed computed the price, whether it can be had now, and which capacity it
-- sells (so one machine listing several slices votes once). docs/methodology.md, "Tiers".

ALTER TABLE gpu_quotes ADD COLUMN tier_label VARCHAR;
ALTER TABLE gpu_quotes ADD COLUMN provider VARCHAR;
ALTER TABLE gpu_quotes ADD COLUMN flags VARCHAR[];
ALTER TABLE gpu_quotes ADD COLUMN computed_price BOOLEAN;
ALTER TABLE gpu_quotes ADD COLUMN unavailable_reason VARCHAR;
ALTER TABLE gpu_quotes ADD COLUMN capacity_id VARCHAR;
ALTER TABLE gpu_quotes ADD COLUMN machine_id VARCHAR;
ALTER TABLE gpu_quotes ADD COLUMN host_id VARCHAR;
ALTER TABLE gpu_quotes ADD COLUMN instance_name VARCHAR;
ALTER TABLE gpu_quotes ADD COLUMN form_factor_v1 VARCHAR;

-- Rows stored before this migration. `tier` held the feed's own words: they move to
-- tier_label, and `tier` becomes the taxonomy value where the old row can tell it:
--   purchases and assumptions: purchase;
--   Vast.ai ('on-demand'; its parser already left bids out) and RunPod's on-demand surfaces:
--   on_demand;
--   curated rentals: their label read as model/tiers.py tier_from_label reads it;
--   gpuhunt spot rows: spot (OCI's are computed: on-demand x 0.5);
--   gpuhunt on-demand rows: NULL. Their flags were never stored, so a GCP DWS calendar-mode
--   reservation or a RunPod cluster row cannot be told from an on-demand one: NULL prices
--   nothing, and `capcover rebuild` re-derives them from the archived catalogs.
UPDATE gpu_quotes SET
    tier_label = tier,
    form_factor_v1 = form_factor,
    provider = CASE WHEN source LIKE 'gpuhunt/%' THEN substr(source, 9) ELSE source END,
    flags = [],
    computed_price = (source = 'gpuhunt/oci' AND tier = 'spot'),
    machine_id = CASE WHEN source = 'vastai'
                      THEN nullif(regexp_extract(note, 'machine ([0-9]+)', 1), '') END,
    instance_name = CASE WHEN source LIKE 'gpuhunt/%' THEN split_part(note, ',', 1)
                         WHEN source = 'runpod' THEN split_part(listing_id, '|', 1) END;
UPDATE gpu_quotes SET
    capacity_id = CASE WHEN source = 'vastai' AND machine_id IS NOT NULL
                       THEN 'machine ' || machine_id
                       WHEN source LIKE 'gpuhunt/%' THEN instance_name
                       WHEN source = 'runpod' THEN instance_name || '|' || split_part(tier_label, ' ', 1) || ' cloud' END,
    tier = CASE
        WHEN kind <> 'rental_hourly' THEN 'purchase'
        WHEN source = 'vastai' OR source = 'runpod' THEN 'on_demand'
        WHEN source LIKE 'gpuhunt/%' THEN CASE WHEN tier = 'spot' THEN 'spot' END
        WHEN coalesce(trim(tier_label), '') = '' THEN 'on_demand'
        WHEN replace(replace(lower(trim(tier_label)), '-', '_'), ' ', '_') IN
             ('on_demand', 'spot', 'interruptible', 'reserved', 'cluster', 'committed_1m',
              'committed_3m', 'committed_6m', 'committed_1y', 'purchase', 'unknown')
            THEN replace(replace(lower(trim(tier_label)), '-', '_'), ' ', '_')
        WHEN lower(tier_label) LIKE '%spot%' OR lower(tier_label) LIKE '%interruptible%'
            THEN 'spot'
        WHEN replace(replace(lower(tier_label), '-', '_'), ' ', '_') LIKE '%on_demand%'
            OR lower(trim(tier_label)) IN ('ondemand', 'list', 'list price')
            THEN 'on_demand'
        ELSE 'unknown' END;
-- The form factor is "unknown" where the source did not tell it, never NULL.
UPDATE gpu_quotes SET form_factor = 'unknown' WHERE form_factor IS NULL;
-- A scenario's market is a view of the tier: on_demand and spot, nothing else.
UPDATE gpu_quotes SET market = CASE tier WHEN 'on_demand' THEN 'on_demand'
                                         WHEN 'spot' THEN 'spot' END;

-- Per observed day x SKU x form factor x kind x tier: how many quotes and from whom.
DROP VIEW IF EXISTS quote_stats_daily;
CREATE VIEW quote_stats_daily AS
SELECT
    observed_date                                        AS day,
    sku,
    form_factor,
    kind,
    market,
    tier,
    count(*)                                             AS quote_count,
    min(price_usd)                                       AS min_usd,
    max(price_usd)                                       AS max_usd,
    string_agg(DISTINCT source, ', ' ORDER BY source)    AS sources,
    count(DISTINCT provider)                             AS providers
FROM gpu_quotes
WHERE sku <> 'unmapped'
GROUP BY observed_date, sku, form_factor, kind, market, tier;

COMMENT ON VIEW quote_stats_daily IS 'Per observed day x SKU x form factor x kind x tier: quote count, min and max price (USD per GPU or per GPU-hour), sources and providers. The central value is the price method''s (model/prices.py).';
COMMENT ON COLUMN quote_stats_daily.day IS 'UTC day the quotes were observed.';
COMMENT ON COLUMN quote_stats_daily.sku IS 'Normalised GPU SKU.';
COMMENT ON COLUMN quote_stats_daily.form_factor IS 'SXM, PCIe, NVL, OAM or unknown.';
COMMENT ON COLUMN quote_stats_daily.kind IS 'purchase | rental_hourly | assumption.';
COMMENT ON COLUMN quote_stats_daily.market IS 'on_demand | spot for those tiers; NULL otherwise.';
COMMENT ON COLUMN quote_stats_daily.tier IS 'Price tier (model/tiers.py); NULL for gpuhunt rows stored before migration 050.';
COMMENT ON COLUMN quote_stats_daily.quote_count IS 'Quotes in the group.';
COMMENT ON COLUMN quote_stats_daily.min_usd IS 'Lowest price in the group, USD per GPU or per GPU-hour.';
COMMENT ON COLUMN quote_stats_daily.max_usd IS 'Highest price in the group, USD per GPU or per GPU-hour.';
COMMENT ON COLUMN quote_stats_daily.sources IS 'Comma-separated sources (routes) of the group.';
COMMENT ON COLUMN quote_stats_daily.providers IS 'Distinct providers (sellers) in the group.';

COMMENT ON COLUMN gpu_quotes.tier IS 'Price tier from one taxonomy (model/tiers.py): on_demand, spot, interruptible, reserved, cluster, committed_1m/3m/6m/1y, purchase, unknown (a flag capcover does not know: never priced). NULL: a gpuhunt on-demand row stored before migration 050, whose flags were not kept.';
COMMENT ON COLUMN gpu_quotes.tier_label IS 'The feed''s own words for the terms (on-demand, spot, bid, secure cloud, on-demand, ...); the curated file''s tier as written.';
COMMENT ON COLUMN gpu_quotes.provider IS 'Who sells the capacity (vastai, runpod, aws, gcp, ...; the publication for curated quotes): the price method gives each provider one vote.';
COMMENT ON COLUMN gpu_quotes.flags IS 'gpuhunt''s flags on the catalog row as published (e.g. gcp-dws-calendar-mode, runpod-cluster, oci-spot); empty for other feeds.';
COMMENT ON COLUMN gpu_quotes.computed_price IS 'True when the feed computed the price from another one (gpuhunt oci-spot: on-demand x 0.5); never priced.';
COMMENT ON COLUMN gpu_quotes.unavailable_reason IS 'Why the feed says the offer cannot be had now (not rented out, not offered on that cloud, none in stock, host not verified or unverified); NULL: nothing said against it.';
COMMENT ON COLUMN gpu_quotes.capacity_id IS 'The capacity a listing sells within its provider (Vast.ai: machine <machine_id>; gpuhunt: the instance type; RunPod: GPU type and cloud): listings of one capacity vote once, with the cheapest price per GPU.';
COMMENT ON COLUMN gpu_quotes.machine_id IS 'Vast.ai machine_id (one machine lists several slices); NULL for other feeds.';
COMMENT ON COLUMN gpu_quotes.host_id IS 'Vast.ai host_id (one host may run several machines); NULL for other feeds.';
COMMENT ON COLUMN gpu_quotes.instance_name IS 'The feed''s instance type or GPU type id (gpuhunt instance_name, RunPod GPU id).';
COMMENT ON COLUMN gpu_quotes.form_factor_v1 IS 'The form factor price method mad3.5-median-v1 gave the offer (before the SKU catalogue''s instance conventions); kept so `capcover verify` re-derives that method''s rows.';
COMMENT ON COLUMN gpu_quotes.form_factor IS 'GPU form factor: SXM, PCIe, NVL, OAM, or unknown when the source does not tell it (never guessed).';
COMMENT ON COLUMN gpu_quotes.market IS 'on_demand | spot: the market a scenario selects, a view of tier (model/tiers.py); NULL for other tiers and purchases.';
COMMENT ON COLUMN gpu_quotes.gpu_count_basis IS 'GPUs the raw price covers: an 8-GPU server = 8; a Vast.ai slice = its num_gpus.';
