"""The wiring: Prefect flows, the CLI, settings. The only place ingest, model and warehouse meet."""
