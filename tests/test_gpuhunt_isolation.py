"""One gpuhunt provider broken, in any form, leaves only that provider out, and the run names it
`gpuhunt/<provider>` (runs.sources_failed, the summary, the feed-failure alerts); a catalog
whose `flags` or `provider_data` column is missing is refused like one without `spot`; a row's
GPU count and its flags are held to what gpuhunt itself writes (red team D01-D05, #20).

Every catalog is served over HTTP by the fake bucket (fakeapi/gpuhunt.py: the fixture's rows,
written the way gpuhunt's storage.dump writes them); the damaged forms are what a bucket, a
proxy or a half-finished publish can answer instead."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capcover.config.settings import load_settings
from capcover.fakeapi import gpuhunt as fake
from capcover.fakeapi.server import FakeAPI
from capcover.flows.sequence import run_daily
from capcover.ingest.gpuhunt import GpuhuntClient, row_tier
from capcover.ingest.models import Quarantined, Quote
from capcover.ingest.quotes import collect, failed_feeds
from capcover.report.summary import summary_text
from capcover.warehouse.db import open_warehouse
from tests.conftest import category_payload

PROVIDERS = fake.PROVIDERS
V = fake.VERSION


def _zip(member: str, text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, text)
    return buf.getvalue()


def _csv_without(provider: str, *dropped: str) -> str:
    """The provider's catalog as gpuhunt writes it, less some columns (an older or broken
    writer)."""
    columns = [c for c in fake.COLUMNS if c not in dropped]
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(fake.provider_rows(provider))
    return out.getvalue()


# What a provider's two paths can answer instead of its version and catalog: path suffix ->
# (status, body), by the provider's name. Each is one form of "this provider is broken".
DAMAGE = {
    "corrupt_zip": lambda p: {f"/{V}/catalog.zip": (200, b"PK\x03\x04 cut short")},
    "html_page": lambda p: {f"/{V}/catalog.zip": (200, b"<html><h1>Access denied</h1></html>")},
    "empty_body": lambda p: {f"/{V}/catalog.zip": (200, b"")},
    "wrong_member": lambda p: {
        f"/{V}/catalog.zip": (200, _zip("catalog.csv", fake.catalog_csv(p)))
    },
    "no_spot_column": lambda p: {
        f"/{V}/catalog.zip": (200, _zip(f"{p}.csv", _csv_without(p, "spot")))
    },
    "no_flags_column": lambda p: {
        f"/{V}/catalog.zip": (200, _zip(f"{p}.csv", _csv_without(p, "flags")))
    },
    "no_provider_data_column": lambda p: {
        f"/{V}/catalog.zip": (200, _zip(f"{p}.csv", _csv_without(p, "provider_data")))
    },
    "no_flags_nor_provider_data": lambda p: {
        f"/{V}/catalog.zip": (200, _zip(f"{p}.csv", _csv_without(p, "flags", "provider_data")))
    },
    "header_only": lambda p: {f"/{V}/catalog.zip": (200, fake.catalog_zip(p, []))},
    "catalog_missing": lambda p: {f"/{V}/catalog.zip": (404, b"<Error><Code>NoSuchKey</Code>")},
    "version_missing": lambda p: {"/version": (404, b"<Error><Code>NoSuchKey</Code>")},
    "version_not_a_version": lambda p: {"/version": (200, b"<html>maintenance</html>")},
}


def _table(broken: dict[str, str]) -> dict:
    table = fake.routes(PROVIDERS)
    for provider, form in broken.items():
        for suffix, (status, body) in DAMAGE[form](provider).items():
            table[f"/{provider}{suffix}"] = (status, {}, body)
    return table


def _collect(broken: dict[str, str]):
    with FakeAPI() as api:
        api.mount(_table(broken), "/gh")
        client = GpuhuntClient(
            base_url=api.url_for("/gh"), providers=PROVIDERS, rate_per_minute=60000
        )
        return collect(client)


@pytest.mark.parametrize("form", sorted(DAMAGE))
def test_gpuhunt_one_broken_provider_in_any_form_is_the_only_one_left_out(form):
    batch = _collect({"aws": form})
    assert batch.error is None
    assert set(batch.parts_failed) == {"gpuhunt/aws"}
    assert failed_feeds([batch]) == batch.parts_failed
    why = batch.parts_failed["gpuhunt/aws"]
    assert why.startswith("gpuhunt /aws/") and "\n" not in why
    sources = {q.source for q in batch.quotes}
    assert sources == {f"gpuhunt/{p}" for p in PROVIDERS if p != "aws"}


@pytest.mark.parametrize(
    ("dropped", "named"),
    [
        (("flags",), "flags"),
        (("provider_data",), "provider_data"),
        (("flags", "provider_data"), "flags, provider_data"),
        (("spot",), "spot"),
    ],
)
def test_gpuhunt_a_catalog_without_a_tier_column_is_refused_with_the_column_named(dropped, named):
    form = {
        ("flags",): "no_flags_column",
        ("provider_data",): "no_provider_data_column",
        ("flags", "provider_data"): "no_flags_nor_provider_data",
        ("spot",): "no_spot_column",
    }[dropped]
    batch = _collect({"gcp": form})
    assert batch.parts_failed["gpuhunt/gcp"].endswith(f"gcp.csv: CSV lacks column(s) {named}")
    # nothing of gcp's is read: no DWS reservation merged with, or voting as, an on-demand row
    assert not [q for q in batch.quotes if q.provider == "gcp"]
    (whole,) = [q for q in batch.quarantined if q.record_key == "gcp"]
    assert whole.endpoint == f"/gcp/{V}/catalog.zip"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(st.dictionaries(st.sampled_from(PROVIDERS), st.sampled_from(sorted(DAMAGE)), min_size=1))
def test_gpuhunt_any_set_of_broken_providers_names_exactly_those(broken):
    batch = _collect(broken)
    failed = failed_feeds([batch])
    if set(broken) == set(PROVIDERS):  # nothing could be read: the feed itself failed
        assert batch.error and list(failed) == ["gpuhunt"] and not batch.quotes
        return
    assert batch.error is None
    assert set(failed) == {f"gpuhunt/{p}" for p in broken}
    intact = {f"gpuhunt/{p}" for p in PROVIDERS if p not in broken}
    assert {q.source for q in batch.quotes} == intact


def test_gpuhunt_a_provider_left_out_is_named_in_the_run_and_its_summary(fake_cg, env, monkeypatch):
    fake_cg.serve(categories=category_payload(updated_at=datetime.now(UTC).isoformat()))
    with FakeAPI() as api:
        api.mount(_table({"aws": "header_only", "oci": "version_missing"}), "/gh")
        monkeypatch.setenv("CAPCOVER_GPUHUNT_BASE_URL", api.url_for("/gh"))
        monkeypatch.setenv("CAPCOVER_GPUHUNT_PROVIDERS", ",".join(PROVIDERS))
        monkeypatch.setenv("CAPCOVER_GPUHUNT_RATE_PER_MINUTE", "60000")
        settings_ = load_settings()
        result = run_daily(settings_)
    assert result.sources_failed == ["gpuhunt/aws", "gpuhunt/oci"]
    assert "no rows" in result.feed_errors["gpuhunt/aws"]
    assert "HTTP 404" in result.feed_errors["gpuhunt/oci"]
    with open_warehouse(settings_.db, read_only=True) as wh:
        stored = wh.scalar("SELECT sources_failed FROM runs WHERE run_id = ?", [result.run_id])
        sources = {s for (s,) in wh.query("SELECT DISTINCT source FROM gpu_quotes")}
    assert stored == "gpuhunt/aws,gpuhunt/oci"
    assert "gpuhunt/gcp" in sources and not {"gpuhunt/aws", "gpuhunt/oci"} & sources
    text = summary_text(result, settings_.db)
    line = next(x for x in text.splitlines() if "quote feeds failed" in x)
    assert "gpuhunt/aws (gpuhunt /aws/" in line and "gpuhunt/oci (gpuhunt /oci/" in line


# -- rows: the GPU count and the flags hold to what gpuhunt writes --------------------------


def _outcomes(rows: list[dict]) -> list:
    with FakeAPI() as api:
        api.mount(fake.routes(("aws",), rows={"aws": rows}), "/gh")
        client = GpuhuntClient(base_url=api.url_for("/gh"), providers=("aws",))
        return [o.result for o in client.outcomes(client.fetch())]


H100_ROW = dict(zip(fake.COLUMNS, fake.CATALOG["providers"]["aws"]["rows"][0], strict=True))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    count=st.one_of(
        st.integers(-(10**6), 0).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.sampled_from(["", " ", "8.0", "1e3", "eight", "0x8", "\u0668"]),
    )
)
def test_gpuhunt_a_gpu_row_with_no_whole_positive_count_is_quarantined_with_why(count):
    assert H100_ROW["gpu_name"] == "H100"
    (result,) = _outcomes([{**H100_ROW, "gpu_count": count}])
    if count.strip().lstrip("-").isdigit() and int(count) > 0:  # e.g. "\u0668" is int() 8
        assert isinstance(result, Quote)
        return
    assert isinstance(result, Quarantined), result
    assert result.reason.startswith("gpu_count: ")


def test_gpuhunt_a_cpu_row_is_left_out_not_quarantined():
    (result,) = _outcomes([{**H100_ROW, "gpu_count": "0", "gpu_name": "", "gpu_memory": ""}])
    assert not isinstance(result, Quarantined | Quote)
    assert result.reason == "no GPU: a CPU instance"


@pytest.mark.parametrize(
    ("spot", "flags", "tier"),
    [
        (True, ("oci-spot",), "spot"),  # as oci.py writes it
        (False, ("oci-spot",), "unknown"),
        (True, ("gcp-dws-calendar-mode",), "unknown"),
        (True, ("runpod-cluster",), "unknown"),
        (False, ("runpod-cluster",), "cluster"),
        (False, ("oci-spot", "runpod-cluster"), "unknown"),
    ],
)
def test_gpuhunt_row_tier_flags_that_contradict_spot_are_unknown(spot, flags, tier):
    data = {"is_dws_calendar_mode": True} if "gcp-dws-calendar-mode" in flags else {}
    got, why = row_tier(spot, flags, data)
    assert got == tier
    assert (why is None) == (tier != "unknown")
    if tier == "unknown":
        assert why == f"flags {' '.join(flags)} with spot={spot} contradict each other"


def test_gpuhunt_an_oci_spot_flag_on_an_on_demand_row_never_prices():
    row = {**H100_ROW, "spot": "False", "flags": "oci-spot"}
    (quote,) = _outcomes([row])
    assert isinstance(quote, Quote)
    assert (quote.tier, quote.computed_price) == ("unknown", True)
    assert "contradict each other" in (quote.note or "")
