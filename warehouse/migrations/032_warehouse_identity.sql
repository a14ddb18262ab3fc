-- capcover warehouse, version 32: a random id made once, when the file is created (or
-- migrated to this version), so the Parquet snapshot can tell its own previous snapshot from
-- another warehouse's in a shared publish folder (warehouse/publish.py rewrites everything
-- when they differ). A copied file keeps the id; the snapshot also records the file's path.
CREATE TABLE warehouse_identity (
    warehouse_id VARCHAR NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO warehouse_identity (warehouse_id) VALUES (uuid()::VARCHAR);

COMMENT ON TABLE warehouse_identity IS 'One row: this warehouse''s random id, made when the file reached migration 032.';
COMMENT ON COLUMN warehouse_identity.warehouse_id IS 'Random UUID identifying this warehouse file (its Parquet snapshots record it).';
COMMENT ON COLUMN warehouse_identity.created_at IS 'When the id was made (TIMESTAMPTZ, UTC).';
