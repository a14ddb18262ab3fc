-- capcover warehouse, version 53: the scenario definitions each run priced its report rows
-- with (red team D15). A scenario is the user's definition (CAPCOVER_CONFIG) or a built-in of
-- the capcover that ran; `capcover rebuild` and `capcover verify` re-derive a run's rows from
-- the definitions it recorded here, not from whatever config the checker has. Runs before this
-- migration recorded none: they re-derive with the current definitions, which the rebuild then
-- records for them.

CREATE TABLE run_scenarios (
    run_id      VARCHAR NOT NULL,
    scenario    VARCHAR NOT NULL,
    position    INTEGER NOT NULL,
    definition  JSON NOT NULL,
    PRIMARY KEY (run_id, scenario)
);

COMMENT ON TABLE run_scenarios IS 'The scenario definitions each run priced with, one row per run and scenario; capcover rebuild and verify re-derive the run''s report rows from them.';
COMMENT ON COLUMN run_scenarios.run_id IS 'The run (runs.run_id).';
COMMENT ON COLUMN run_scenarios.scenario IS 'Scenario name (report_daily.scenario).';
COMMENT ON COLUMN run_scenarios.position IS 'The scenario''s place in the run''s list (0 first).';
COMMENT ON COLUMN run_scenarios.definition IS 'The definition as the run read it (model/scenarios.py Scenario as JSON: gpu_sku, gpu_count, price rule, form_factor, market, ...).';
