"""Settings (environment over the TOML file over built-in defaults), the schedule, scenarios.

`config.settings` holds the settings model, `config.schedule` the cron checks. Nothing is
re-exported here, so importing `config.schedule` does not load the settings model.
"""
