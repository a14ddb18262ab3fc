-- capcover warehouse, version 3: GPU quotes from live feeds (Vast.ai, RunPod) beside the
-- curated file, and daily price statistics per (day, SKU, kind).

-- A feed's own id for one offer (Vast.ai offer id; RunPod "gpu type id|surface"). NULL for
-- published figures. A feed's snapshot of a day replaces its earlier snapshot of that day.
ALTER TABLE gpu_quotes ADD COLUMN listing_id VARCHAR;

-- Price statistics of the quotes OBSERVED on each day, per normalised SKU and kind:
-- purchase prices in USD per GPU, rental_hourly in USD per GPU-hour. Unmapped labels are left
-- out (they are in gpu_quotes with sku = 'unmapped'). The model itself prices a report date
-- with each source's latest quotes at or before it; see v_quote_prices.
CREATE VIEW quote_stats_daily AS
SELECT
    observed_date                                        AS day,
    sku,
    kind,
    count(*)                                             AS quote_count,
    min(price_usd)                                       AS min_usd,
    median(price_usd)                                    AS median_usd,
    max(price_usd)                                       AS max_usd,
    string_agg(DISTINCT source, ', ' ORDER BY source)    AS sources,
    string_agg(DISTINCT form_factor, ', ' ORDER BY form_factor) AS form_factors
FROM gpu_quotes
WHERE sku <> 'unmapped'
GROUP BY observed_date, sku, kind;

-- The prices the model would use today: each source's quotes of its latest observed day
-- (every offer of a feed's latest snapshot counts), pooled per (SKU, kind).
CREATE VIEW v_quote_prices AS
WITH latest AS (
    SELECT *
    FROM gpu_quotes
    WHERE sku <> 'unmapped'
    QUALIFY observed_date = max(observed_date) OVER (PARTITION BY sku, kind, source)
)
SELECT
    sku,
    kind,
    count(*)                                             AS quote_count,
    min(price_usd)                                       AS min_usd,
    median(price_usd)                                    AS median_usd,
    max(price_usd)                                       AS max_usd,
    string_agg(DISTINCT source, ', ' ORDER BY source)    AS sources,
    min(observed_date)                                   AS oldest_quote_date,
    max(observed_date)                                   AS newest_quote_date
FROM latest
GROUP BY sku, kind;
