-- capcover warehouse, version 91: each run says the earliest date whose rows it wrote, so the
-- Parquet snapshot after a backfill rewrites only the months from that date on (the months
-- before it are hard links to the previous snapshot, as after a daily run), not the whole
-- history. Null: a dated run (its as_of_date says it), or a run that could have changed any
-- date (a rebuild, or a backfill recorded before this version): the snapshot rewrites all.
ALTER TABLE runs ADD COLUMN changed_since DATE;
COMMENT ON COLUMN runs.changed_since IS 'The earliest date whose rows the run wrote (a backfill: the first day of history or report it replaced); null for dated runs (as_of_date) and for runs that may have changed any date.';
