-- Alerts fired by the rules in model/alerts.py, and their delivery per channel.
-- An alert's identity is (report_date, scenario, rule, level): rerunning a day fires the same
-- key, so it is stored once and never sent twice. Channels are identified by a label made of
-- the URL's scheme and a SHA-256 prefix of the whole URL: webhook URLs are secrets and are
-- never stored.

CREATE TABLE alerts (
    report_date     DATE NOT NULL,
    scenario        VARCHAR NOT NULL,
    rule            VARCHAR NOT NULL,      -- threshold_crossed | relative_change | stale_data
    level           VARCHAR NOT NULL,      -- the level ("1.0"), change ("10%") or source checked
    alert_id        VARCHAR NOT NULL UNIQUE,  -- sha256 of the key, 16 hex digits
    previous_date   DATE,                  -- the previous report date of the same scenario
    previous_ratio  DOUBLE,
    current_ratio   DOUBLE,
    message         VARCHAR NOT NULL,      -- one line a person understands
    inputs          JSON,                  -- the numbers behind the message
    delivery_state  VARCHAR NOT NULL,  -- pending|delivered|partial|failed|no_channel|withdrawn
    channels        INTEGER NOT NULL,      -- channels it was addressed to when it fired
    delivered_at    TIMESTAMPTZ,           -- when the last channel confirmed delivery
    created_at      TIMESTAMPTZ NOT NULL,
    run_id          VARCHAR NOT NULL,      -- the run that first fired it
    PRIMARY KEY (report_date, scenario, rule, level)
);

CREATE TABLE alert_deliveries (
    alert_id         VARCHAR NOT NULL,
    channel_id       VARCHAR NOT NULL,     -- e.g. json:3f2a9c0d41b7e6aa, or prefect-event
    state            VARCHAR NOT NULL,     -- pending | sending | delivered | failed | withdrawn
    attempts         INTEGER NOT NULL,
    last_error       VARCHAR,              -- one line, secrets redacted
    last_attempt_at  TIMESTAMPTZ,
    claimed_by       VARCHAR,              -- run id that is (or was last) sending it
    delivered_at     TIMESTAMPTZ,
    PRIMARY KEY (alert_id, channel_id)
);
