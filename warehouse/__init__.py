"""DuckDB: schema, migrations, loads and queries. Nothing else in capcover writes SQL."""
