"""gpuhunt catalogs through capcover's HTTP layer: every configured provider, per-GPU prices,
spot and form factor kept, the zip archived losslessly and replayed exactly by `rebuild`."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from capcover.cli.main import main
from capcover.config.settings import load_settings
from capcover.fakeapi import gpuhunt as fake
from capcover.fakeapi.server import FakeAPI
from capcover.flows.rebuild import rebuild
from capcover.flows.sequence import run_daily
from capcover.ingest.errors import BadPayload
from capcover.ingest.gpuhunt import GpuhuntClient, form_factor_of, parse_raws
from capcover.model.prices import estimate
from capcover.report.summary import summary_text
from capcover.warehouse.db import open_warehouse
from tests.conftest import category_payload, table_snapshot

PROVIDERS = ("lambdalabs", "aws", "azure", "gcp", "verda", "nebius")


def serve(api: FakeAPI, table, prefix="/gpuhunt") -> str:
    api.mount(table, prefix)
    return api.url_for(prefix)


@pytest.fixture
def hunt_api():
    """The fake API router serving gpuhunt's static route tables (fakeapi/gpuhunt.py)."""
    with FakeAPI() as api:
        yield api


@pytest.fixture
def gpuhunt(hunt_api, env, monkeypatch) -> str:
    url = serve(hunt_api, fake.routes(PROVIDERS))
    monkeypatch.setenv("CAPCOVER_GPUHUNT_BASE_URL", url)
    monkeypatch.setenv("CAPCOVER_GPUHUNT_PROVIDERS", ",".join(PROVIDERS))
    monkeypatch.setenv("CAPCOVER_GPUHUNT_RATE_PER_MINUTE", "60000")
    return url


def client(url, providers=PROVIDERS, **kw) -> GpuhuntClient:
    return GpuhuntClient(base_url=url, providers=providers, rate_per_minute=60000, **kw)


def test_gpuhunt_client_prices_per_gpu_hour_with_spot_form_factor_and_provider(gpuhunt):
    c = client(gpuhunt)
    quotes, bad = c.parse(c.fetch())
    assert bad == []
    assert {q.source for q in quotes} == {f"gpuhunt/{p}" for p in PROVIDERS}
    by = {(q.source, q.note.split(",")[0], q.tier): q for q in quotes}
    p5 = by[("gpuhunt/aws", "p5.48xlarge", "on-demand")]
    assert (p5.price_raw, p5.gpu_count_basis, p5.price_usd) == (98.32, 8, 98.32 / 8)
    assert p5.region == "us-east-1" and p5.form_factor == "SXM"  # cheapest location; HGX
    assert "cheapest of 2 location(s)" in p5.note
    assert by[("gpuhunt/aws", "p5.48xlarge", "spot")].price_usd == 5.0
    assert by[("gpuhunt/lambdalabs", "gpu_1x_h100_pcie", "on-demand")].form_factor == "PCIe"
    assert by[("gpuhunt/azure", "Standard_NC40ads_H100_v5", "on-demand")].form_factor == "NVL"
    assert all(q.sku == "H100" for q in quotes)  # the CPU row and the unmapped T4 left out
    assert len(quotes) == 12


def test_gpuhunt_zip_is_archived_losslessly(gpuhunt):
    raws = client(gpuhunt, ("aws",)).fetch()
    assert [r.endpoint for r in raws] == ["/aws/version", f"/aws/{fake.VERSION}/catalog.zip"]
    body = raws[1].body
    assert body.startswith("base64:")
    assert base64.b64decode(body[len("base64:") :]) == fake.catalog_zip("aws")


def test_gpuhunt_replay_clock_stamps_the_quotes(gpuhunt):
    replay = datetime(2024, 4, 3, 6, 45, tzinfo=UTC)
    c = client(gpuhunt, ("verda",), now=lambda: replay)
    quotes, _ = c.parse(c.fetch())
    assert {q.observed_at for q in quotes} == {replay}


def test_gpuhunt_one_provider_down_the_others_still_count(hunt_api):
    table = fake.routes(("aws",))
    table["/oci/version"] = (404, {}, b"<Error><Code>NoSuchKey</Code></Error>")
    c = client(serve(hunt_api, table), ("aws", "oci"))
    quotes, _ = c.parse(c.fetch())
    assert {q.source for q in quotes} == {"gpuhunt/aws"}
    assert "HTTP 404" in c.failed["oci"]


def test_gpuhunt_a_damaged_zip_fails_the_feed_in_one_line(gpuhunt):
    raws = client(gpuhunt, ("aws",)).fetch()
    from dataclasses import replace

    broken = [raws[0], replace(raws[1], body="base64:" + base64.b64encode(b"PK no").decode())]
    with pytest.raises(BadPayload, match="not a catalog zip holding aws.csv") as err:
        parse_raws(broken)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("gpu", "instance", "form"),
    [
        ("H100", "gpu_8x_h100_sxm5", "SXM"),
        ("H100", "gpu_1x_h100_pcie", "PCIe"),
        ("H100NVL", "Standard_NC40ads_H100_v5", "NVL"),
        ("H100", "8x H100 SXM5 80GB", "SXM"),
        ("H100", "p5.48xlarge", "SXM"),
        ("H100", "a3-megagpu-8g", "SXM"),
        ("H100", "Standard_ND96isr_H100_v5", "SXM"),
        ("H100", "BM.GPU.H100.8", "SXM"),
        ("H100", "some-h100-box", None),  # untold: unknown, never guessed
    ],
)
def test_gpuhunt_form_factor_from_names_and_hgx_shapes(gpu, instance, form):
    assert form_factor_of(gpu, instance) == form


@pytest.fixture
def today_cg(fake_cg):
    fake_cg.serve(categories=category_payload(updated_at=datetime.now(UTC).isoformat()))
    return fake_cg


def test_gpuhunt_daily_run_stores_every_provider_and_rent_1y_takes_on_demand_sxm_only(
    today_cg, gpuhunt
):
    result = run_daily(load_settings())
    assert "gpuhunt" not in result.sources_failed
    settings = load_settings()
    with open_warehouse(settings.db, read_only=True) as wh:
        stored = {
            r[0]
            for r in wh.query(
                "SELECT DISTINCT source FROM gpu_quotes WHERE source LIKE 'gpuhunt/%'"
            )
        }
        eligible = [
            r[0]
            for r in wh.query(
                "SELECT price_usd FROM latest_quotes(current_date) WHERE sku = 'H100'"
                " AND kind = 'rental_hourly' AND form_factor = 'SXM' AND market = 'on_demand'"
            )
        ]
        rows = wh.query_table("SELECT * FROM report_daily")
    assert stored == {f"gpuhunt/{p}" for p in PROVIDERS}
    assert 400.0 in eligible  # the absurd nebius listing is stored ...
    cols, data = rows
    report = [dict(zip(cols, r, strict=True)) for r in data]
    rent = next(r for r in report if r["scenario"] == "h100-rent-1y")
    method = estimate(eligible)
    assert rent["price_quote_count"] == method.kept_count < len(eligible)  # ... but not used
    assert rent["quote_median_usd"] == pytest.approx(method.central_usd)
    assert rent["quote_q3_usd"] < 400.0
    assert "gpuhunt/" in rent["price_sources"] and "gpuhunt/nebius" not in rent["price_sources"]
    assert (rent["price_form_factor"], rent["price_market"]) == ("SXM", "on_demand")
    for r in report:  # every row has its band and its method
        assert r["coverage_ratio_low"] <= r["coverage_ratio"] <= r["coverage_ratio_high"]
        assert r["price_method"]
    band = f"(band {rent['coverage_ratio_low']:.2f}-{rent['coverage_ratio_high']:.2f})"
    line = next(x for x in summary_text(result, settings.db).splitlines() if "h100-rent-1y" in x)
    assert band in line and rent["price_method"] in line


def test_gpuhunt_report_command_shows_the_band_and_the_method(today_cg, gpuhunt, capsys):
    run_daily(load_settings())
    capsys.readouterr()
    assert main(["report", "--scenario", "h100-rent-1y", "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["coverage_ratio_low"] < row["coverage_ratio"] < row["coverage_ratio_high"]
    assert row["price_method"] == "mad3.5-median-v1+age7d/1095d"


def test_gpuhunt_rebuild_replays_the_quotes_exactly(today_cg, gpuhunt, hunt_api):
    run_daily(load_settings())
    settings = load_settings()
    before = table_snapshot(str(settings.db))
    with open_warehouse(settings.db) as wh:
        for t in ("gpu_quotes", "report_daily"):
            wh.query(f"DELETE FROM {t}")  # noqa: S608 - constant names
    hunt_api.clear()  # no route answers now: the rebuild reads only the archive
    rebuild(settings)
    after = table_snapshot(str(settings.db))
    assert any(r for r in after["gpu_quotes"] if "gpuhunt/" in str(r))
    assert after["gpu_quotes"] == before["gpu_quotes"]
    assert after["report_daily"] == before["report_daily"]


# -- fetched only when the version changed (#24.1) ------------------------------------------


def _catalog_requests(api: FakeAPI) -> int:
    return sum(n for path, n in api.requests.items() if path.endswith("/catalog.zip"))


def test_gpuhunt_unchanged_version_links_to_the_archived_catalog(today_cg, gpuhunt, hunt_api):
    settings = load_settings()
    first = run_daily(settings)
    assert _catalog_requests(hunt_api) == len(PROVIDERS)
    second = run_daily(settings)
    # The second run asked every provider's version and fetched no catalog again.
    assert _catalog_requests(hunt_api) == len(PROVIDERS)
    assert sum(n for p, n in hunt_api.requests.items() if p.endswith("/version")) == 12
    with open_warehouse(settings.db, read_only=True) as wh:
        links = wh.query(
            "SELECT endpoint, body, same_as_run_id, sha256 FROM raw_http"
            " WHERE run_id = ? AND endpoint LIKE '%catalog.zip' ORDER BY seq",
            [second.run_id],
        )
        held = dict(
            wh.query(
                "SELECT endpoint, sha256 FROM raw_http WHERE run_id = ?"
                " AND endpoint LIKE '%catalog.zip'",
                [first.run_id],
            )
        )
        quotes = wh.query(
            "SELECT count(*), min(observed_at), max(observed_at) FROM gpu_quotes"
            " WHERE source LIKE 'gpuhunt/%' AND run_id = ?",
            [second.run_id],
        )
        linked_at = wh.scalar(
            "SELECT max(fetched_at) FROM raw_http WHERE run_id = ? AND same_as_run_id IS NOT NULL",
            [second.run_id],
        )
        first_at = wh.scalar(
            "SELECT max(fetched_at) FROM raw_http WHERE run_id = ? AND endpoint LIKE '%.zip'",
            [first.run_id],
        )
    assert len(links) == len(PROVIDERS)
    for endpoint, body, same_as, sha in links:
        # A link, not a copy: no body, the first run's row named, the same content hash.
        assert body == "" and same_as == first.run_id and sha == held[endpoint]
    # The second run's quotes are its own (stamped with its own check of the version), priced
    # from the archived catalog.
    ((n, low, high),) = quotes
    assert n == 12 and low > first_at and high <= linked_at


def test_gpuhunt_changed_version_fetches_the_new_catalog(today_cg, gpuhunt, hunt_api):
    settings = load_settings()
    run_daily(settings)
    hunt_api.clear()
    serve(hunt_api, fake.routes(PROVIDERS, version="20261206-1"))
    run_daily(settings)
    assert _catalog_requests(hunt_api) == len(PROVIDERS)  # every provider's new version


def test_gpuhunt_rebuild_resolves_the_links_to_the_same_rows(today_cg, gpuhunt, hunt_api):
    settings = load_settings()
    run_daily(settings)
    run_daily(settings)
    before = table_snapshot(str(settings.db))
    rebuild(settings)
    assert table_snapshot(str(settings.db)) == before


def test_gpuhunt_link_without_its_archived_row_fails_the_replay_in_one_line(today_cg, gpuhunt):
    from capcover.flows.rebuild import RebuildError

    settings = load_settings()
    first = run_daily(settings)
    run_daily(settings)
    with open_warehouse(settings.db) as wh:
        wh.query(
            "DELETE FROM raw_http_daily WHERE run_id = ? AND endpoint LIKE '%catalog.zip'",
            [first.run_id],
        )
    with pytest.raises(RebuildError, match="not archived"):
        rebuild(settings)
