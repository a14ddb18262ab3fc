-- capcover warehouse, version 1: raw archive, typed snapshots, quotes, runs, daily report.
-- All timestamps are TIMESTAMPTZ in UTC; amounts are USD unless a column says otherwise.

CREATE TABLE runs (
    run_id              VARCHAR PRIMARY KEY,
    kind                VARCHAR NOT NULL,      -- daily | backfill | rebuild | demo
    started_at          TIMESTAMPTZ NOT NULL,
    finished_at         TIMESTAMPTZ,
    status              VARCHAR NOT NULL,      -- ok | failed
    as_of_date          DATE,                  -- the source's own date (category updated_at)
    http_requests       INTEGER,
    http_retries        INTEGER,
    rate_limited        INTEGER,               -- 429 answers seen (and survived, if status ok)
    quarantined         INTEGER,
    duplicates_dropped  INTEGER,
    reports_written     INTEGER,
    sources_failed      VARCHAR,               -- comma-separated quote feeds that failed
    message             VARCHAR,               -- one-line error for failed runs
    summary             JSON
);

-- Every HTTP response (and the curated quotes file as read), exactly as received.
-- URLs carry no secrets: keys travel only as headers, and headers are not stored.
CREATE TABLE raw_http (
    run_id        VARCHAR NOT NULL,
    seq           INTEGER NOT NULL,
    source        VARCHAR NOT NULL,
    endpoint      VARCHAR NOT NULL,
    method        VARCHAR NOT NULL,
    url           VARCHAR NOT NULL,
    params        JSON,
    request_body  VARCHAR,
    status        INTEGER NOT NULL,
    body          VARCHAR NOT NULL,
    sha256        VARCHAR NOT NULL,
    fetched_at    TIMESTAMPTZ NOT NULL,
    elapsed_ms    DOUBLE,
    attempt       INTEGER,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE category_snapshots (
    as_of_date                 DATE NOT NULL,
    category_id                VARCHAR NOT NULL,
    name                       VARCHAR,
    market_cap_usd             DOUBLE,
    market_cap_change_24h_pct  DOUBLE,
    volume_24h_usd             DOUBLE,
    top_3_coins_id             VARCHAR[],
    updated_at                 TIMESTAMPTZ,
    fetched_at                 TIMESTAMPTZ NOT NULL,
    run_id                     VARCHAR NOT NULL,
    PRIMARY KEY (as_of_date, category_id)
);

CREATE TABLE coin_snapshots (
    as_of_date                   DATE NOT NULL,
    category_id                  VARCHAR NOT NULL,
    coin_id                      VARCHAR NOT NULL,
    symbol                       VARCHAR,
    name                         VARCHAR,
    current_price_usd            DOUBLE,
    market_cap_usd               DOUBLE,       -- null and 0 are kept as reported
    market_cap_rank              INTEGER,
    fully_diluted_valuation_usd  DOUBLE,
    total_volume_usd             DOUBLE,
    circulating_supply           DOUBLE,
    total_supply                 DOUBLE,
    max_supply                   DOUBLE,
    last_updated                 TIMESTAMPTZ,
    fetched_at                   TIMESTAMPTZ NOT NULL,
    run_id                       VARCHAR NOT NULL,
    PRIMARY KEY (as_of_date, category_id, coin_id)
);

CREATE TABLE gpu_quotes (
    quote_id         VARCHAR PRIMARY KEY,     -- sha256 of the quote's natural key
    observed_at      TIMESTAMPTZ NOT NULL,
    observed_date    DATE NOT NULL,
    source           VARCHAR NOT NULL,
    source_url       VARCHAR,
    kind             VARCHAR NOT NULL,        -- purchase | rental_hourly | assumption
    sku_label        VARCHAR NOT NULL,
    sku              VARCHAR NOT NULL,        -- normalised; 'unmapped' if nothing matched
    form_factor      VARCHAR,
    memory_gb        DOUBLE,
    gpu_count_basis  INTEGER NOT NULL,
    price_raw        DOUBLE NOT NULL,
    price_unit       VARCHAR NOT NULL,
    currency         VARCHAR NOT NULL,
    usd_per_unit     DOUBLE NOT NULL,
    price_usd        DOUBLE NOT NULL,         -- per GPU (purchase) or per GPU-hour (rental)
    tier             VARCHAR,
    condition        VARCHAR,
    region           VARCHAR,
    note             VARCHAR,
    run_id           VARCHAR NOT NULL
);

CREATE TABLE quarantine (
    run_id       VARCHAR NOT NULL,
    seq          INTEGER NOT NULL,
    source       VARCHAR NOT NULL,
    endpoint     VARCHAR NOT NULL,
    record_key   VARCHAR,
    reason       VARCHAR NOT NULL,
    record_json  VARCHAR NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE report_daily (
    report_date                   DATE NOT NULL,
    scenario                      VARCHAR NOT NULL,
    basis                         VARCHAR NOT NULL,  -- category | history
    categories                    VARCHAR NOT NULL,
    sector_market_cap_usd         DOUBLE NOT NULL,
    constituents_market_cap_usd   DOUBLE,
    constituents_count            INTEGER,
    constituents_fdv_usd          DOUBLE,
    sector_volume_24h_usd         DOUBLE,
    constituents_volume_24h_usd   DOUBLE,
    gpu_sku                       VARCHAR NOT NULL,
    gpu_count                     BIGINT NOT NULL,
    price_basis                   VARCHAR NOT NULL,
    quote_median_usd              DOUBLE,
    unit_price_usd                DOUBLE NOT NULL,
    price_quote_count             INTEGER NOT NULL,
    price_sources                 VARCHAR,
    price_as_of                   DATE,
    buildout_cost_usd             DOUBLE NOT NULL,
    coverage_ratio                DOUBLE NOT NULL,
    gpus_affordable               DOUBLE NOT NULL,
    breakeven_unit_price_usd      DOUBLE NOT NULL,
    share_of_2023_h100_shipments  DOUBLE NOT NULL,
    market_as_of                  TIMESTAMPTZ NOT NULL,
    fetched_at                    TIMESTAMPTZ NOT NULL,
    run_id                        VARCHAR NOT NULL,
    PRIMARY KEY (report_date, scenario)
);
