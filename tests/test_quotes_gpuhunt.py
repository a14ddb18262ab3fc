"""gpuhunt catalogs through capcover's HTTP layer, in the shape gpuhunt writes them (flags,
provider_data, real instance names): every configured provider, per-GPU prices, the tier from
spot and flags, the form factor from the SKU catalogue's conventions, the zip archived
losslessly and replayed exactly by `rebuild`."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capcover.cli.main import main
from capcover.config.settings import load_settings
from capcover.fakeapi import gpuhunt as fake
from capcover.fakeapi.server import FakeAPI
from capcover.flows.rebuild import rebuild
from capcover.flows.sequence import run_daily
from capcover.ingest.errors import BadPayload
from capcover.ingest.gpuhunt import GpuhuntClient, form_factor_v1, parse_raws, row_outcomes
from capcover.ingest.sku import form_factor_of
from capcover.report.summary import summary_text
from capcover.warehouse.db import open_warehouse
from tests.conftest import category_payload, table_snapshot

PROVIDERS = fake.PROVIDERS


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


def test_gpuhunt_client_prices_per_gpu_hour_with_tier_form_factor_and_provider(gpuhunt):
    c = client(gpuhunt)
    quotes, bad = c.parse(c.fetch())
    assert bad == []
    assert {q.source for q in quotes} == {f"gpuhunt/{p}" for p in PROVIDERS}
    by = {(q.source, q.instance_name, q.gpu_count_basis, q.tier): q for q in quotes}
    p5 = by[("gpuhunt/aws", "p5.48xlarge", 8, "on_demand")]
    assert (p5.price_raw, p5.gpu_count_basis, p5.price_usd) == (55.04, 8, 55.04 / 8)
    assert p5.region == "us-east-1" and p5.form_factor == "SXM"  # cheapest location; HGX
    assert "cheapest of 2 location(s)" in p5.note and p5.provider == "aws"
    assert by[("gpuhunt/aws", "p5.48xlarge", 8, "spot")].price_usd == 31.46 / 8
    assert by[("gpuhunt/aws", "p5.4xlarge", 1, "on_demand")].form_factor == "SXM"
    assert by[("gpuhunt/lambdalabs", "gpu_1x_h100_pcie", 1, "on_demand")].form_factor == "PCIe"
    assert by[("gpuhunt/azure", "Standard_NC40ads_H100_v5", 1, "on_demand")].form_factor == "NVL"
    # Verda's 80S and RunPod's HBM3 id: SXM by the catalogue's conventions.
    assert by[("gpuhunt/verda", "1H100.80S.30V", 1, "on_demand")].form_factor == "SXM"
    assert by[("gpuhunt/verda", "8H100.80S.176V", 8, "on_demand")].form_factor == "SXM"
    assert by[("gpuhunt/runpod", "NVIDIA H100 80GB HBM3", 1, "on_demand")].form_factor == "SXM"
    assert {q.sku for q in quotes} >= {"H100", "H200", "B200", "A100"}


def test_gpuhunt_flags_make_the_tier(gpuhunt):
    c = client(gpuhunt)
    quotes = c.parse(c.fetch())[0]
    by = {
        (q.source, q.instance_name, q.gpu_count_basis, " ".join(q.flags), q.tier_label): q
        for q in quotes
    }
    dws = by[("gpuhunt/gcp", "a3-highgpu-8g", 8, "gcp-dws-calendar-mode", "on-demand")]
    assert (
        dws.tier == "reserved"
        and dws.price_usd < by[("gpuhunt/gcp", "a3-highgpu-8g", 8, "", "on-demand")].price_usd
    )
    assert by[("gpuhunt/gcp", "a3-highgpu-8g", 8, "", "on-demand")].tier == "on_demand"
    cluster = by[("gpuhunt/runpod", "NVIDIA H100 80GB HBM3", 8, "runpod-cluster", "on-demand")]
    assert cluster.tier == "cluster" and cluster.price_usd == pytest.approx(2.49)
    oci = by[("gpuhunt/oci", "BM.GPU.H100.8", 8, "oci-spot", "spot")]
    assert (oci.tier, oci.computed_price) == ("spot", True)
    assert "on-demand price x 0.5" in oci.note
    gh200 = by[("gpuhunt/lambdalabs", "gpu_1x_gh200", 1, "lambda-arm", "on-demand")]
    assert gh200.tier == "on_demand"  # an ARM host says nothing about the price


@pytest.mark.parametrize(
    ("spot", "flags", "data", "tier"),
    [
        ("False", "", "{}", "on_demand"),
        ("True", "", "{}", "spot"),
        ("False", "gcp-dws-calendar-mode", '{"is_dws_calendar_mode": true}', "reserved"),
        ("False", "gcp-dws-calendar-mode gcp-a4", '{"is_dws_calendar_mode": true}', "reserved"),
        ("False", "runpod-cluster", '{"pod_counts": [2, 8]}', "cluster"),
        ("True", "oci-spot", "{}", "spot"),
        ("False", "gcp-some-new-mode", "{}", "unknown"),  # never guessed
        ("False", "", '{"is_dws_calendar_mode": true}', "unknown"),  # data and flags disagree
        ("True", "runpod-cluster", "{}", "unknown"),  # a spot cluster: contradicts itself
    ],
)
def test_gpuhunt_row_tier_from_spot_flags_and_provider_data(hunt_api, spot, flags, data, tier):
    row = dict(zip(fake.COLUMNS, fake.CATALOG["providers"]["gcp"]["rows"][0], strict=True))
    row.update(spot=spot, flags=flags, provider_data=data)
    c = client(serve(hunt_api, fake.routes(("gcp",), rows={"gcp": [row]})), ("gcp",))
    (q,) = c.parse(c.fetch())[0]
    assert q.tier == tier
    if tier == "unknown":
        assert "not guessed" in q.note or "disagree" in q.note or "contradict" in q.note


def test_gpuhunt_every_row_has_an_outcome_with_a_reason(gpuhunt):
    c = client(gpuhunt)
    raws = c.fetch()
    outcomes = c.outcomes(raws)
    catalogs = [(i, r) for i, r in enumerate(raws) if r.endpoint.endswith("catalog.zip")]
    rows = {
        (i, j)
        for i, r in catalogs
        for j in range(len(fake.provider_rows(r.endpoint.split("/")[1])))
    }
    assert {o.row for o in outcomes} == rows and len(outcomes) == len(rows)
    reasons = {o.result.reason for o in outcomes if hasattr(o.result, "reason")}
    assert "no GPU: a CPU instance" in reasons
    assert (
        "GPU 'RTXPRO6000' is not in the SKU catalogue (ingest/data/sku_catalogue.toml)" in reasons
    )
    assert "the same offer is kept at its cheapest location (us-east-1)" in reasons


def test_gpuhunt_a_row_copied_for_old_dstack_versions_is_left_out(hunt_api):
    row = dict(zip(fake.COLUMNS, fake.CATALOG["providers"]["gcp"]["rows"][0], strict=True))
    copy = {**row, "flags": "gcp-g4-preview", "location": "us-east1-b"}
    c = client(serve(hunt_api, fake.routes(("gcp",), rows={"gcp": [row, copy]})), ("gcp",))
    outcomes = c.outcomes(c.fetch())
    assert [type(o.result).__name__ for o in outcomes] == ["Quote", "Excluded"]
    assert outcomes[1].result.reason == (
        "a copy of the gcp-g4 row published for old dstack versions (flag gcp-g4-preview)"
    )


def test_gpuhunt_malformed_provider_data_is_quarantined(hunt_api):
    row = dict(zip(fake.COLUMNS, fake.CATALOG["providers"]["gcp"]["rows"][0], strict=True))
    row["provider_data"] = "{not json"
    c = client(serve(hunt_api, fake.routes(("gcp",), rows={"gcp": [row]})), ("gcp",))
    quotes, bad = c.parse(c.fetch())
    assert quotes == [] and bad[0].reason.startswith("provider_data: not JSON")


def test_gpuhunt_zip_is_archived_losslessly(gpuhunt):
    raws = client(gpuhunt, ("aws",)).fetch()
    assert [r.endpoint for r in raws] == ["/aws/version", f"/aws/{fake.VERSION}/catalog.zip"]
    body = raws[1].body
    assert body.startswith("base64:")
    assert base64.b64decode(body[len("base64:") :]) == fake.catalog_zip("aws")


def test_gpuhunt_catalog_csv_is_written_as_gpuhunt_writes_it():
    text = fake.catalog_csv("gcp")
    assert text.startswith(",".join(fake.COLUMNS) + "\r\n")
    # flags space-separated, provider_data JSON (quoted by the csv writer)
    assert 'gcp-dws-calendar-mode gcp-a4,x86,"{""is_dws_calendar_mode"": true}"' in text


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
    ("provider", "gpu", "instance", "form", "v1"),
    [
        ("lambdalabs", "H100", "gpu_8x_h100_sxm5", "SXM", "SXM"),
        ("lambdalabs", "H100", "gpu_1x_h100_pcie", "PCIe", "PCIe"),
        ("azure", "H100NVL", "Standard_NC40ads_H100_v5", "NVL", "NVL"),
        ("verda", "H100", "1H100.80S.30V", "SXM", None),
        ("verda", "H100", "8H100.80S.176V", "SXM", None),
        ("runpod", "H100", "NVIDIA H100 80GB HBM3", "SXM", None),
        ("runpod", "H100", "NVIDIA H100 PCIe", "PCIe", "PCIe"),
        ("aws", "H100", "p5.48xlarge", "SXM", "SXM"),
        ("aws", "H100", "p5.4xlarge", "SXM", None),
        ("gcp", "H100", "a3-megagpu-8g", "SXM", "SXM"),
        ("azure", "H100", "Standard_ND96isr_H100_v5", "SXM", "SXM"),
        ("oci", "H100", "BM.GPU.H100.8", "SXM", "SXM"),
        ("nebius", "H100", "gpu-h100-sxm 8gpu-128vcpu-1600gb", "SXM", "SXM"),
        ("aws", "H100", "BM.GPU.H100.8", "unknown", "SXM"),  # a convention is the provider's own
        ("aws", "H100", "some-h100-box", "unknown", None),  # untold: unknown, never guessed
    ],
)
def test_gpuhunt_form_factor_from_names_and_conventions(provider, gpu, instance, form, v1):
    assert form_factor_of(provider, gpu, instance=instance) == form
    assert form_factor_v1(gpu, instance) == v1


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
        decided = wh.query(
            "SELECT provider, kept, rule, tier, form_factor FROM v_price_decisions"
            " WHERE scenario = 'h100-rent-1y'"
        )
        rows = wh.query_table("SELECT * FROM report_daily")
    assert stored == {f"gpuhunt/{p}" for p in PROVIDERS}
    cols, data = rows
    report = [dict(zip(cols, r, strict=True)) for r in data]
    rent = next(r for r in report if r["scenario"] == "h100-rent-1y")
    assert all(tier == "on_demand" and form == "SXM" for _, kept, _, tier, form in decided if kept)
    assert {rule for _, kept, rule, tier, _ in decided if tier == "reserved"} == {"tier"}
    assert (rent["price_form_factor"], rent["price_market"]) == ("SXM", "on_demand")
    assert rent["price_provider_count"] == len({p for p, kept, *_ in decided if kept})
    for r in report:  # every row has its band and its method
        assert r["coverage_ratio_low"] <= r["coverage_ratio"] <= r["coverage_ratio_high"]
        assert r["price_method"]
    band = f"(band {rent['coverage_ratio_low']:.3f}\u2013{rent['coverage_ratio_high']:.3f})"
    line = next(x for x in summary_text(result, settings.db).splitlines() if "h100-rent-1y" in x)
    assert band in line and rent["price_method"] in line


def test_gpuhunt_report_command_shows_the_band_and_the_method(today_cg, gpuhunt, capsys):
    run_daily(load_settings())
    capsys.readouterr()
    assert main(["report", "--scenario", "h100-rent-1y", "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["coverage_ratio_low"] < row["coverage_ratio"] < row["coverage_ratio_high"]
    assert row["price_method"] == "provider-vote-v3+age7d/1095d"


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
    with open_warehouse(settings.db, read_only=True) as wh:
        first_quotes = wh.scalar("SELECT count(*) FROM gpu_quotes WHERE source LIKE 'gpuhunt/%'")
    second = run_daily(settings)
    # The second run asked every provider's version and fetched no catalog again.
    assert _catalog_requests(hunt_api) == len(PROVIDERS)
    versions = sum(n for p, n in hunt_api.requests.items() if p.endswith("/version"))
    assert versions == 2 * len(PROVIDERS)
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
    assert n == first_quotes > 0 and low > first_at and high <= linked_at


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


cell = st.one_of(
    st.sampled_from(["", "0", "1", "8", "-3", "2.5", "1e400", "nan", "True", "False", "x"]),
    st.text(max_size=12),
)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "price": cell,
                "gpu_count": cell,
                "gpu_name": st.sampled_from(["H100", "H100NVL", "T4", "", "B200"]),
                "spot": cell,
                "flags": st.lists(
                    st.sampled_from(
                        ["gcp-dws-calendar-mode", "oci-spot", "runpod-cluster", "gcp-g4-preview"]
                    )
                    | st.text("abcdefgh-", min_size=1, max_size=10),
                    max_size=3,
                ).map(" ".join),
                "provider_data": st.sampled_from(["{}", "", "[]", "{bad", '{"a": 1}']),
                "instance_name": st.sampled_from(["p5.48xlarge", "", "1H100.80S.30V", "x"]),
            }
        ),
        min_size=1,
        max_size=12,
    )
)
def test_gpuhunt_any_row_ends_as_one_typed_outcome(rows):
    from capcover.ingest.http import RawResponse
    from capcover.ingest.models import FORM_FACTORS, Quarantined, Quote
    from capcover.ingest.quotes import Excluded
    from capcover.model.tiers import TIERS

    base = dict(zip(fake.COLUMNS, fake.CATALOG["providers"]["aws"]["rows"][0], strict=True))
    full = [{**base, **r} for r in rows]
    body = "base64:" + base64.b64encode(fake.catalog_zip("aws", full)).decode()
    at = datetime(2026, 11, 20, tzinfo=UTC)
    raw = RawResponse("gpuhunt", "/aws/v1/catalog.zip", "GET", "u", {}, None, 200, body, at, 0, 1)
    outcomes = row_outcomes([raw])
    assert sorted(o.row for o in outcomes) == [(0, j) for j in range(len(full))]
    for o in outcomes:
        r = o.result
        if isinstance(r, Quote):
            assert r.tier in TIERS and r.form_factor in FORM_FACTORS and r.price_usd > 0
            known = {"gcp-dws-calendar-mode", "oci-spot", "runpod-cluster"}
            if set(r.flags) - known:
                assert r.tier == "unknown"  # a flag capcover does not know is never guessed
        else:
            assert isinstance(r, Quarantined | Excluded) and r.reason
