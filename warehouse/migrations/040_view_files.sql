-- capcover warehouse, version 40: the view files read by migrations, with their checksums.
-- From here on a view lives in its own file, warehouse/views/<view>.<n>.sql, immutable once a
-- migration has read it (`.read ../views/<view>.<n>.sql`, see warehouse/migrate.py); the runner
-- records each file read beside the migration, and every open compares both records with the
-- files this capcover ships, as it compares schema_migrations.sha256.
CREATE TABLE schema_view_files (
    version INTEGER NOT NULL,
    file    VARCHAR NOT NULL,
    sha256  VARCHAR NOT NULL,
    PRIMARY KEY (version, file)
);

COMMENT ON TABLE schema_view_files IS 'View files (warehouse/views/<view>.<n>.sql) read by applied migrations, with their checksums; compared with the shipped files at every open.';
COMMENT ON COLUMN schema_view_files.version IS 'The migration that read the file (schema_migrations.version).';
COMMENT ON COLUMN schema_view_files.file IS 'The view file''s name, <view>.<n>.sql (n: the view''s definition number).';
COMMENT ON COLUMN schema_view_files.sha256 IS 'SHA-256 of the view file''s SQL as applied.';
