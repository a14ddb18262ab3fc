"""Alert delivery: channels (Apprise URLs, the Prefect event), exactly-once delivery after a
run commits, and the redaction that keeps webhook URLs out of every text."""
