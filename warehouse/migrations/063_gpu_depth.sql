-- capcover warehouse, version 63: depth — how many GPUs the sources show as rentable now, per
-- day, SKU and form factor, each GPU once (model/depth.py, docs/methodology.md "Depth"), and
-- the de-duplicated total on every rental report row beside the scenario's GPU count.
CREATE TABLE gpu_depth (
    day          DATE NOT NULL,
    sku          VARCHAR NOT NULL,
    form_factor  VARCHAR NOT NULL,
    source       VARCHAR NOT NULL,
    gpus_seen    BIGINT,
    offers_seen  INTEGER NOT NULL,
    counted      BOOLEAN NOT NULL,
    basis        VARCHAR NOT NULL,
    observed_at  TIMESTAMPTZ NOT NULL,
    run_id       VARCHAR NOT NULL,
    PRIMARY KEY (day, sku, form_factor, source)
);

COMMENT ON TABLE gpu_depth IS 'How many GPUs each source showed as rentable now, per report day, SKU, form factor and source (one row each; a rerun of the day replaces the day). A source that failed has no row: its count is absent, never zero. report_daily.rentable_gpus_seen sums the counted rows.';
COMMENT ON COLUMN gpu_depth.day IS 'Report date of the run that saw it (the as-of date of the daily report).';
COMMENT ON COLUMN gpu_depth.sku IS 'Normalised GPU SKU (H100, H200, B200, ...).';
COMMENT ON COLUMN gpu_depth.form_factor IS 'SXM, PCIe, NVL, OAM, or unknown when the source does not tell.';
COMMENT ON COLUMN gpu_depth.source IS 'vastai, runpod, or gpuhunt/<provider> (one gpuhunt catalog).';
COMMENT ON COLUMN gpu_depth.gpus_seen IS 'GPUs rentable now by the source''s own fields (basis says which); NULL: the source said no number (a RunPod stock word without a count).';
COMMENT ON COLUMN gpu_depth.offers_seen IS 'Listings behind the count: Vast.ai rentable offers, RunPod GPU types, gpuhunt (instance type, location) pairs.';
COMMENT ON COLUMN gpu_depth.counted IS 'True when the row enters report_daily.rentable_gpus_seen; false for gpuhunt/runpod where RunPod''s own feed answered and lists the same SKU and form factor (counted once).';
COMMENT ON COLUMN gpu_depth.basis IS 'What was counted, in words: Vast.ai machines at their largest rentable slice, RunPod maxUnreservedGpuCount or the largest availableGpuCounts (a floor), a gpuhunt catalog''s instance-location pairs (a listing, not stock).';
COMMENT ON COLUMN gpu_depth.observed_at IS 'Fetch time of the answer counted (UTC).';
COMMENT ON COLUMN gpu_depth.run_id IS 'The run that saw it (runs.run_id).';

-- On report rows: the day's de-duplicated count for the scenario's SKU and form factor
-- (rentals only; purchases and rows published before this migration leave them NULL).
ALTER TABLE report_daily ADD COLUMN rentable_gpus_seen BIGINT;
ALTER TABLE report_daily ADD COLUMN rentable_gpus_sources VARCHAR;
ALTER TABLE report_daily ADD COLUMN rentable_gpus_missing VARCHAR;
ALTER TABLE report_daily ADD COLUMN rentable_gpus_method VARCHAR;

COMMENT ON COLUMN report_daily.rentable_gpus_seen IS 'Rental rows: GPUs of the scenario''s SKU and form factor the sources showed as rentable that day, each GPU once (the counted gpu_depth rows summed); NULL when no source gave a number, and on purchase rows.';
COMMENT ON COLUMN report_daily.rentable_gpus_sources IS 'Comma-separated sources behind rentable_gpus_seen (vastai, runpod, gpuhunt/<provider>).';
COMMENT ON COLUMN report_daily.rentable_gpus_missing IS 'Comma-separated depth sources that did not answer that run: their counts are absent from rentable_gpus_seen, not zero.';
COMMENT ON COLUMN report_daily.rentable_gpus_method IS 'Version of the depth rules that filled the rentable_gpus columns (depth-v1, model/depth.py); NULL on purchase rows and on rows published before migration 063.';

SELECT * FROM v_latest_report LIMIT 0;
COMMENT ON COLUMN v_latest_report.rentable_gpus_seen IS 'Rental rows: GPUs rentable that day for the scenario''s SKU and form factor, each once; NULL when no source gave a number, and on purchase rows.';
COMMENT ON COLUMN v_latest_report.rentable_gpus_sources IS 'Sources behind rentable_gpus_seen.';
COMMENT ON COLUMN v_latest_report.rentable_gpus_missing IS 'Depth sources that did not answer that run (counts absent, not zero).';
COMMENT ON COLUMN v_latest_report.rentable_gpus_method IS 'Version of the depth rules (depth-v1); NULL on purchase rows and rows published before migration 063.';
