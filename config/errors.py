"""The one error configuration raises (kept apart so catching it loads no settings model)."""


class ConfigError(Exception):
    """A setting has a bad value; the message names the setting."""
