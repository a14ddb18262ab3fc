-- Delivery you can reason about (notify/deliver.py). Every send has one of three outcomes:
-- delivered (the receiver answered 2xx), failed (it never got the message, or refused it: a
-- connection error, a 3xx, 4xx or 5xx answer; sent again with the next run) or unknown (the
-- message went out and no valid answer came back in time: the receiver may have it). An
-- unknown delivery is sent once more; a second unknown holds it for a person
-- (`capcover alerts --undelivered`, `capcover alerts release` / `confirm`), never re-sent on
-- every run. A delivery row of a channel that is no longer configured, for an alert that no
-- receiver ever got, is superseded: the alert goes to the channels configured now.

ALTER TABLE alert_deliveries ADD COLUMN IF NOT EXISTS unknown_attempts INTEGER DEFAULT 0;
UPDATE alert_deliveries SET unknown_attempts = 0 WHERE unknown_attempts IS NULL;

COMMENT ON COLUMN alert_deliveries.unknown_attempts IS 'Sends whose outcome is unknown (sent, no valid answer in time, or a claim its run never recorded); a second one holds the delivery.';
COMMENT ON COLUMN alert_deliveries.state IS 'pending | sending | delivered | failed (retried next run) | unknown (sent once more) | held (for a person) | superseded (channel no longer configured) | withdrawn.';
COMMENT ON COLUMN alert_deliveries.last_error IS 'Last outcome that was not a delivery, one line, secrets redacted (a redirect names where it pointed).';
COMMENT ON COLUMN alerts.delivery_state IS 'pending | delivered | partial | failed | unknown | held | no_channel | withdrawn, from its delivery rows.';
