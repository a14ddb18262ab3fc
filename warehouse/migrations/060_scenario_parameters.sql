-- capcover warehouse, version 60: the parameters of compute-equivalent and total-cost scenarios
-- on every report row (model/scenarios.py, model/throughput.toml), and one view listing them
-- per row, so a reader sees what a count or a unit price was made of.

-- Purchases: which quotes by condition priced the row (new | used | any).
ALTER TABLE report_daily ADD COLUMN price_condition VARCHAR;
-- Compute-equivalent scenarios ("N H100-equivalents bought as B200"):
-- gpu_count = round(compute_equivalents x compute_reference_tflops / compute_chip_tflops).
ALTER TABLE report_daily ADD COLUMN compute_equivalents BIGINT;
ALTER TABLE report_daily ADD COLUMN compute_reference VARCHAR;
ALTER TABLE report_daily ADD COLUMN compute_chip VARCHAR;
ALTER TABLE report_daily ADD COLUMN compute_metric VARCHAR;
ALTER TABLE report_daily ADD COLUMN compute_reference_tflops DOUBLE;
ALTER TABLE report_daily ADD COLUMN compute_chip_tflops DOUBLE;
ALTER TABLE report_daily ADD COLUMN compute_table_version INTEGER;
-- Total-cost scenarios: unit_price_usd = tco_capex_usd + tco_power_usd + tco_hosting_usd.
ALTER TABLE report_daily ADD COLUMN tco_years DOUBLE;
ALTER TABLE report_daily ADD COLUMN tco_watts_per_gpu DOUBLE;
ALTER TABLE report_daily ADD COLUMN tco_pue DOUBLE;
ALTER TABLE report_daily ADD COLUMN tco_usd_per_kwh DOUBLE;
ALTER TABLE report_daily ADD COLUMN tco_hosting_usd_per_kw_month DOUBLE;
ALTER TABLE report_daily ADD COLUMN tco_capex_usd DOUBLE;
ALTER TABLE report_daily ADD COLUMN tco_power_usd DOUBLE;
ALTER TABLE report_daily ADD COLUMN tco_hosting_usd DOUBLE;

-- One row per (report row, parameter), in a fixed order: what `capcover report` shows as the
-- rows' detail, `capcover explain` as its parameters section and the HTML report as a table.
CREATE VIEW v_report_parameters AS
WITH p AS (
    SELECT report_date, scenario, 1 AS position, 'compute_equivalents' AS parameter,
           compute_equivalents::DOUBLE AS value, compute_reference || ' GPUs' AS unit,
           'compute to buy, counted in ' || compute_reference || ' GPUs' AS note
    FROM report_daily WHERE compute_equivalents IS NOT NULL
    UNION ALL
    SELECT report_date, scenario, 2, 'compute_reference_tflops', compute_reference_tflops,
           compute_metric || ' TFLOPS per ' || compute_reference,
           'throughput table v' || compute_table_version
    FROM report_daily WHERE compute_equivalents IS NOT NULL
    UNION ALL
    SELECT report_date, scenario, 3, 'compute_chip_tflops', compute_chip_tflops,
           compute_metric || ' TFLOPS per ' || compute_chip,
           'throughput table v' || compute_table_version
    FROM report_daily WHERE compute_equivalents IS NOT NULL
    UNION ALL
    SELECT report_date, scenario, 4, 'gpu_count', gpu_count::DOUBLE, compute_chip || ' GPUs',
           'round(' || compute_equivalents || ' x ' || compute_reference_tflops || ' / '
           || compute_chip_tflops || ')'
    FROM report_daily WHERE compute_equivalents IS NOT NULL
    UNION ALL
    SELECT report_date, scenario, 5, 'tco_years', tco_years, 'years', 'useful life costed'
    FROM report_daily WHERE tco_years IS NOT NULL
    UNION ALL
    SELECT report_date, scenario, 6, 'tco_watts_per_gpu', tco_watts_per_gpu, 'W per GPU',
           'IT power drawn per GPU'
    FROM report_daily WHERE tco_years IS NOT NULL
    UNION ALL
    SELECT report_date, scenario, 7, 'tco_pue', tco_pue, 'ratio',
           'power usage effectiveness: facility power / IT power'
    FROM report_daily WHERE tco_years IS NOT NULL
    UNION ALL
    SELECT report_date, scenario, 8, 'tco_usd_per_kwh', tco_usd_per_kwh, 'USD per kWh',
           'electricity price'
    FROM report_daily WHERE tco_years IS NOT NULL
    UNION ALL
    SELECT report_date, scenario, 9, 'tco_hosting_usd_per_kw_month', tco_hosting_usd_per_kw_month,
           'USD per kW-month', 'colocation rent per kW of IT load'
    FROM report_daily WHERE tco_years IS NOT NULL
    UNION ALL
    SELECT report_date, scenario, 10, 'tco_capex_usd', tco_capex_usd, 'USD per GPU',
           'purchase price x multiplier'
    FROM report_daily WHERE tco_years IS NOT NULL
    UNION ALL
    SELECT report_date, scenario, 11, 'tco_power_usd', tco_power_usd, 'USD per GPU',
           'years x 8,760 h x kW x PUE x USD per kWh'
    FROM report_daily WHERE tco_years IS NOT NULL
    UNION ALL
    SELECT report_date, scenario, 12, 'tco_hosting_usd', tco_hosting_usd, 'USD per GPU',
           'years x 12 x kW x USD per kW-month'
    FROM report_daily WHERE tco_years IS NOT NULL
    UNION ALL
    SELECT report_date, scenario, 13, 'unit_price_usd', unit_price_usd, 'USD per GPU',
           'capex + power + hosting'
    FROM report_daily WHERE tco_years IS NOT NULL
)
SELECT report_date, scenario, position, parameter, value, unit, note FROM p;

COMMENT ON COLUMN report_daily.price_condition IS 'Purchases: the condition of the quotes that priced the row (new, used or any; a quote not saying used counts as new); NULL otherwise.';
COMMENT ON COLUMN report_daily.compute_equivalents IS 'Compute-equivalent scenarios: the compute to buy, as a number of compute_reference GPUs (e.g. 720,000 H100 SXM); NULL otherwise.';
COMMENT ON COLUMN report_daily.compute_reference IS 'Throughput-table chip the compute is counted in (e.g. H100 SXM); NULL for other scenarios.';
COMMENT ON COLUMN report_daily.compute_chip IS 'Throughput-table chip bought (e.g. B200 HGX); gpu_count = round(compute_equivalents x compute_reference_tflops / compute_chip_tflops).';
COMMENT ON COLUMN report_daily.compute_metric IS 'Throughput metric the chips are compared on: dense_fp8 or dense_bf16 (dense = without 2:4 sparsity).';
COMMENT ON COLUMN report_daily.compute_reference_tflops IS 'compute_metric of one compute_reference GPU, TFLOPS (model/throughput.toml).';
COMMENT ON COLUMN report_daily.compute_chip_tflops IS 'compute_metric of one compute_chip GPU, TFLOPS (model/throughput.toml).';
COMMENT ON COLUMN report_daily.compute_table_version IS 'Version of the throughput table (model/throughput.toml) the count was made with.';
COMMENT ON COLUMN report_daily.tco_years IS 'Total-cost scenarios: years of power and hosting costed per GPU; NULL otherwise.';
COMMENT ON COLUMN report_daily.tco_watts_per_gpu IS 'Total-cost scenarios: IT power drawn per GPU, W.';
COMMENT ON COLUMN report_daily.tco_pue IS 'Total-cost scenarios: power usage effectiveness (facility power / IT power).';
COMMENT ON COLUMN report_daily.tco_usd_per_kwh IS 'Total-cost scenarios: electricity price, USD per kWh.';
COMMENT ON COLUMN report_daily.tco_hosting_usd_per_kw_month IS 'Total-cost scenarios: colocation rent, USD per kW of IT load per month.';
COMMENT ON COLUMN report_daily.tco_capex_usd IS 'Total-cost scenarios: price part of unit_price_usd, USD per GPU (purchase price x multiplier).';
COMMENT ON COLUMN report_daily.tco_power_usd IS 'Total-cost scenarios: electricity per GPU over tco_years, USD (years x 8,760 h x kW x PUE x USD per kWh).';
COMMENT ON COLUMN report_daily.tco_hosting_usd IS 'Total-cost scenarios: hosting per GPU over tco_years, USD (years x 12 x kW x USD per kW-month).';

-- v_latest_report (SELECT * FROM report_daily) shows the new columns once bound again: bind it
-- before commenting them, or DuckDB answers that the view has no such column.
-- Binding it also lists migration 007's columns there for the first time: they get their
-- comments here too.
SELECT * FROM v_latest_report LIMIT 0;

COMMENT ON COLUMN v_latest_report.price_form_factor IS 'Form factor of the quotes that priced the row (SXM, PCIe, NVL, any); NULL for a fixed price.';
COMMENT ON COLUMN v_latest_report.price_market IS 'Market of the quotes that priced the row: on_demand, spot or a committed term (rentals); NULL otherwise.';
COMMENT ON COLUMN v_latest_report.quote_q1_usd IS 'Lower quartile of the eligible quotes after the outlier rule: USD per GPU (purchase) or per GPU-hour (rental); NULL for a fixed price.';
COMMENT ON COLUMN v_latest_report.quote_q3_usd IS 'Upper quartile of the eligible quotes after the outlier rule (same unit as quote_q1_usd); NULL for a fixed price.';
COMMENT ON COLUMN v_latest_report.coverage_ratio_low IS 'Coverage ratio at the upper-quartile price (the band''s low end); equal to coverage_ratio for a fixed price.';
COMMENT ON COLUMN v_latest_report.coverage_ratio_high IS 'Coverage ratio at the lower-quartile price (the band''s high end); equal to coverage_ratio for a fixed price.';
COMMENT ON COLUMN v_latest_report.price_method IS 'Id of the versioned price method that produced unit_price_usd (model/prices.py); fixed for a fixed price.';
COMMENT ON COLUMN report_daily.price_market IS 'Market of the quotes that priced the row: on_demand, spot or a committed term such as committed_1y (rentals); NULL otherwise.';
COMMENT ON COLUMN gpu_quotes.market IS 'Rental quotes: on_demand, spot, or a committed term from the quote''s tier (committed_1m/3m/6m/1y/3y); NULL for purchases and assumptions.';

COMMENT ON COLUMN v_latest_report.price_condition IS 'Purchases: the condition of the quotes that priced the row (new, used or any); NULL otherwise.';
COMMENT ON COLUMN v_latest_report.compute_equivalents IS 'Compute-equivalent scenarios: the compute to buy, as a number of compute_reference GPUs; NULL otherwise.';
COMMENT ON COLUMN v_latest_report.compute_reference IS 'Throughput-table chip the compute is counted in (e.g. H100 SXM).';
COMMENT ON COLUMN v_latest_report.compute_chip IS 'Throughput-table chip bought (e.g. B200 HGX).';
COMMENT ON COLUMN v_latest_report.compute_metric IS 'Throughput metric the chips are compared on: dense_fp8 or dense_bf16.';
COMMENT ON COLUMN v_latest_report.compute_reference_tflops IS 'compute_metric of one compute_reference GPU, TFLOPS.';
COMMENT ON COLUMN v_latest_report.compute_chip_tflops IS 'compute_metric of one compute_chip GPU, TFLOPS.';
COMMENT ON COLUMN v_latest_report.compute_table_version IS 'Version of the throughput table (model/throughput.toml) the count was made with.';
COMMENT ON COLUMN v_latest_report.tco_years IS 'Total-cost scenarios: years of power and hosting costed per GPU.';
COMMENT ON COLUMN v_latest_report.tco_watts_per_gpu IS 'Total-cost scenarios: IT power drawn per GPU, W.';
COMMENT ON COLUMN v_latest_report.tco_pue IS 'Total-cost scenarios: power usage effectiveness (facility power / IT power).';
COMMENT ON COLUMN v_latest_report.tco_usd_per_kwh IS 'Total-cost scenarios: electricity price, USD per kWh.';
COMMENT ON COLUMN v_latest_report.tco_hosting_usd_per_kw_month IS 'Total-cost scenarios: colocation rent, USD per kW of IT load per month.';
COMMENT ON COLUMN v_latest_report.tco_capex_usd IS 'Total-cost scenarios: price part of unit_price_usd, USD per GPU.';
COMMENT ON COLUMN v_latest_report.tco_power_usd IS 'Total-cost scenarios: electricity per GPU over tco_years, USD.';
COMMENT ON COLUMN v_latest_report.tco_hosting_usd IS 'Total-cost scenarios: hosting per GPU over tco_years, USD.';

COMMENT ON VIEW v_report_parameters IS 'The parameters behind each compute-equivalent or total-cost report row, one row per parameter in a fixed order (position): what the GPU count or the unit price was made of.';
COMMENT ON COLUMN v_report_parameters.report_date IS 'Report date (UTC calendar day the market figures are as of).';
COMMENT ON COLUMN v_report_parameters.scenario IS 'Scenario name (model/scenarios.toml or the user''s config).';
COMMENT ON COLUMN v_report_parameters.position IS 'Order of the parameter within its report row.';
COMMENT ON COLUMN v_report_parameters.parameter IS 'Name of the report_daily column the value comes from.';
COMMENT ON COLUMN v_report_parameters.value IS 'The parameter''s value, in unit.';
COMMENT ON COLUMN v_report_parameters.unit IS 'Unit of value (W per GPU, USD per kWh, TFLOPS per chip, ...).';
COMMENT ON COLUMN v_report_parameters.note IS 'What the parameter is, or how it was computed.';
