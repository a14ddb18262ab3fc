"""`capcover quotes list` (read-only, no Prefect) and `capcover quotes add` (validated)."""

import csv
import io
import json
import os
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from capcover.cli.common import load
from capcover.cli.main import main
from capcover.fakeapi import Reply
from capcover.flows.sequence import run_daily
from capcover.ingest.quotes import CURATED_QUOTES_PATH, parse_curated
from capcover.model.tiers import market_of
from tests.conftest import TEXT, category_payload
from tests.helpers import commands_in_fresh_process
from tests.test_quotes_fx import RATES

ROOT = Path(__file__).resolve().parent.parent
TODAY = datetime.now(UTC).date()


def add(*options: str) -> int:
    """`capcover quotes add OPTIONS` in this process: its exit code."""
    return main(["quotes", "add", *options])


B200_MINE = ("--sku", "B200", "--price", "41000", "--source", "mine", "--date", "2026-11-01")
H100_AT_5 = ("--sku", "H100", "--price", "5", "--source", "x")


@pytest.fixture
def quotes_file(tmp_path, monkeypatch, env):
    """The user's own quotes file (CAPCOVER_QUOTES_FILE), read beside the shipped one."""
    path = tmp_path / "my-quotes.toml"
    path.write_text("# my own GPU quotes\nversion = 3\n", encoding="utf-8")
    monkeypatch.setenv("CAPCOVER_QUOTES_FILE", str(path))
    return path


@pytest.fixture
def warehouse(fake_cg, settings):
    fake_cg.serve(categories=category_payload(updated_at=datetime.now(UTC).isoformat()))
    run_daily(settings)
    return settings.db


def test_quotes_list_shows_each_sources_latest_quotes(warehouse, capsys):
    assert (
        main(["quotes", "list", "--sku", "h100", "--kind", "rental_hourly", "--format", "json"])
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    contract = "SemiAnalysis neocloud 1-year contract survey"  # curated, ingest/data/quotes.toml
    assert {r["source"] for r in rows} == {"vastai", "runpod", contract}
    # Vast.ai's H100 offers (SXM, PCIe, NVL; bids and offers that cannot be had included, each
    # saying what it is) and RunPod's H100 quotes, one per listed price field; and the contract
    # index's latest point.
    assert len(rows) == 24 + 15 + 1
    assert {(r["tier"], r["market"]) for r in rows if r["source"] == contract} == {
        ("committed_1y", "committed_1y")
    }
    # Every quote's market is the one that selects its tier (model/tiers.py): RunPod's terms
    # are committed markets too, a Vast.ai bid is in none.
    assert all(r["market"] == market_of(r["tier"]) for r in rows)
    assert {r["market"] for r in rows if r["tier"].startswith("committed")} >= {"committed_1m"}
    prices = [r["price_usd"] for r in rows]
    assert prices == sorted(prices)


def test_quotes_list_filters_by_date_and_source(warehouse, capsys):
    assert main(["quotes", "list", "--date", "2024-06-01", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["sku"] for r in rows} == {"H100", "H200", "MI300X"}
    assert {r["observed_date"] for r in rows} == {"2024-06-01"}
    assert main(["quotes", "list", "--source", "runpod", "--sku", "B200", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["price_usd"], r["tier"]) for r in rows if r["tier"] == "on_demand"] == [
        (5.98, "on_demand"),
        (6.79, "on_demand"),
    ]
    assert {r["tier"] for r in rows} == {
        "on_demand",
        "spot",
        "committed_1m",
        "committed_3m",
        "committed_6m",
    }


def test_quotes_list_stats_per_day_sku_and_kind(warehouse, capsys):
    assert (
        main(
            ["quotes", "list", "--stats", "--sku", "H200", "--date", str(TODAY), "--format", "json"]
        )
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    # on-demand: Vast.ai's two (form factor unknown) and RunPod's two clouds (SXM); spot: RunPod's
    # two; RunPod's 1-, 3- and 6-month terms, each its own market (model/tiers.py)
    assert sum(r["quote_count"] for r in rows) == 6 + 3
    assert {r["market"]: r["quote_count"] for r in rows if r["market"].startswith("committed")} == {
        "committed_1m": 1,
        "committed_3m": 1,
        "committed_6m": 1,
    }
    assert min(r["min_usd"] for r in rows) == 2.9 and max(r["max_usd"] for r in rows) == 4.59
    assert {r["sources"] for r in rows} <= {"runpod", "vastai", "runpod, vastai"}
    for r in rows:  # the price method's numbers, with its id
        assert r["q1_usd"] <= r["central_usd"] <= r["q3_usd"]
        assert r["price_method"].startswith("provider-vote-v3")


def test_quotes_list_nothing_found_is_exit_1(warehouse, capsys):
    assert main(["quotes", "list", "--sku", "GB200"]) == 1
    assert "no GPU quotes match" in capsys.readouterr().err


def test_quotes_list_never_imports_prefect(warehouse):
    seen = commands_in_fresh_process(["quotes", "list"], env=os.environ)
    assert seen.codes == [0], seen.stderr
    assert seen.loaded("prefect") == []


def test_quotes_add_appends_and_bumps_the_version(quotes_file, capsys):
    before = tomllib.loads(quotes_file.read_text())["version"]
    assert (
        add(
            "--label",
            "NVIDIA H100 SXM5 80GB",
            "--price",
            "27500",
            "--source",
            "Example reseller",
            "--date",
            "2026-11-20",
            "--url",
            "https://example.com/h100",
        )
        == 0
    )
    assert "version" in capsys.readouterr().out
    doc = tomllib.loads(quotes_file.read_text())
    assert doc["version"] == before + 1
    new = doc["quote"][-1]
    assert (new["sku"], new["form_factor"], new["memory_gb"], new["price"]) == (
        "H100",
        "SXM",
        80.0,
        27500.0,
    )
    assert "# my own GPU quotes" in quotes_file.read_text()  # comments kept
    quotes = parse_curated(quotes_file.read_text())
    assert quotes[-1].price_usd == 27500 and quotes[-1].source == "Example reseller"


def test_quotes_add_rental_quote_per_gpu_hour(quotes_file, capsys):
    assert (
        add(
            "--sku",
            "H100",
            "--kind",
            "rental_hourly",
            "--price",
            "2.49",
            "--source",
            "Silicon Data SDH100RT (manual entry)",
            "--date",
            "2026-11-20",
        )
        == 0
    )
    q = parse_curated(quotes_file.read_text())[-1]
    assert (q.kind, q.price_unit, q.price_usd) == ("rental_hourly", "USD/GPU-hour", 2.49)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sku", "H100", "--price", "0", "--source", "x"], "--price must be a positive"),
        (["--sku", "H100", "--price", "-5", "--source", "x"], "--price must be a positive"),
        (
            [*H100_AT_5, "--currency", "XYZ"],
            "--currency XYZ: unknown",
        ),
        (
            [*H100_AT_5, "--date", str(TODAY + timedelta(days=1))],
            "is in the future",
        ),
        (["--sku", "H100", "--price", "5", "--source", "  "], "--source must name"),
        (
            ["--sku", "V100", "--price", "5", "--source", "x"],
            "--sku V100: not in the SKU catalogue",
        ),
        (["--label", "Tesla V100", "--price", "5", "--source", "x"], "matches no SKU"),
        (
            ["--sku", "H100", "--label", "NVIDIA H200", "--price", "5", "--source", "x"],
            "reads as H200",
        ),
        (
            [*H100_AT_5, "--currency", "EUR", "--date", "2025-01-02"],
            "needs --usd-per-unit",
        ),
    ],
)
def test_quotes_add_rejects_bad_input_with_one_line_and_exit_2(quotes_file, capsys, args, message):
    before = quotes_file.read_text()
    assert main(["quotes", "add", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert quotes_file.read_text() == before


def test_quotes_add_refuses_a_duplicate(quotes_file, capsys):
    args = [
        "quotes",
        "add",
        "--sku",
        "B200",
        "--price",
        "38000",
        "--source",
        "x",
        "--date",
        "2026-11-01",
    ]
    assert main(args) == 0
    assert main(args) == 2
    assert "already in" in capsys.readouterr().err


def test_quotes_add_converts_todays_non_usd_quote_with_coingecko_rates(
    quotes_file, fake_cg, capsys
):
    fake_cg.add("/api/v3/exchange_rates", RATES)
    assert (
        add("--sku", "H100", "--price", "26000", "--currency", "eur", "--source", "Euro dealer")
        == 0
    )
    new = tomllib.loads(quotes_file.read_text())["quote"][-1]
    assert new["currency"] == "EUR" and new["observed"] == TODAY
    assert new["usd_per_unit"] == pytest.approx(68000 / 62000)
    assert "CoinGecko /exchange_rates" in new["note"]
    assert parse_curated(quotes_file.read_text())[-1].price_usd == pytest.approx(
        26000 * 68000 / 62000
    )


def test_quotes_add_past_non_usd_quote_with_its_rate(quotes_file):
    assert (
        add(
            "--sku",
            "H100",
            "--price",
            "4000000",
            "--currency",
            "JPY",
            "--usd-per-unit",
            "0.0068",
            "--date",
            "2025-03-01",
            "--source",
            "x",
        )
        == 0
    )
    assert parse_curated(quotes_file.read_text())[-1].price_usd == pytest.approx(27_200)


def test_quotes_add_rate_unavailable_is_exit_1(quotes_file, fake_cg, capsys):
    fake_cg.add("/api/v3/exchange_rates", Reply(raw="no", status=404, content_type=TEXT))
    assert (
        add("--sku", "H100", "--price", "26000", "--currency", "EUR", "--source", "Euro dealer")
        == 1
    )
    assert "pass --usd-per-unit" in capsys.readouterr().err


def test_quotes_list_on_a_warehouse_before_migration_003_says_what_to_do(warehouse, capsys):
    from capcover.warehouse.db import open_warehouse

    with open_warehouse(warehouse) as wh:
        wh.query("DROP MACRO TABLE latest_quotes")
        # ... and the file says so: a pre-003 warehouse has no record of 003 or later.
        wh.query("DELETE FROM schema_migrations WHERE version >= 3")
    with open_warehouse(warehouse, read_only=True) as wh:
        assert wh.schema_version == 1
    assert main(["quotes", "list", "--stats"]) == 1
    assert "run `capcover run` once" in capsys.readouterr().err


def test_quotes_add_writes_the_user_file_beside_the_warehouse_not_the_shipped_one(env, capsys):
    shipped = CURATED_QUOTES_PATH.read_text(encoding="utf-8")
    assert add(*B200_MINE) == 0
    user = Path(env["CAPCOVER_DB"]).with_name("capcover-quotes.toml")
    assert "mine" in user.read_text() and CURATED_QUOTES_PATH.read_text() == shipped
    assert str(user) in capsys.readouterr().out


def test_quotes_user_file_is_read_together_with_the_shipped_one(quotes_file, fake_cg, settings):
    from capcover.flows.clients import Clients
    from capcover.ingest.quotes import collect

    assert add(*B200_MINE) == 0
    batch = collect(Clients(load()).quote_providers()[0])
    sources = {q.source for q in batch.quotes}
    assert "mine" in sources and "Hugging Face hardware page (MSRP)" in sources
    assert len(batch.raws) == 2  # both files archived, so a rebuild reads both


def test_quotes_add_readme_rental_example_warns_it_prices_nothing(quotes_file, capsys):
    """The README's `quotes add --sku H100 --kind rental_hourly`: the form factor untold, no
    scenario can price it (the H100 rentals price SXM): one warning line saying what to pass."""
    args = ["--sku", "H100", "--kind", "rental_hourly", "--price", "2.49", "--source", "Desk"]
    assert add(*args) == 0
    out = capsys.readouterr()
    assert out.out.startswith("added H100 rental_hourly quote of ")
    (warning,) = out.err.splitlines()
    assert warning.startswith("warning: no scenario will price it: its form factor is unknown")
    assert "h100-rent-1y" in warning and warning.endswith(
        "add it again with --form-factor SXM if the source's GPU is that"
    )


@pytest.mark.parametrize(
    ("args", "note"),
    [
        (["--sku", "H100", "--form-factor", "SXM"], "it can price: h100-rent-1y"),
        (["--label", "NVIDIA H100 SXM5 80GB"], "it can price: h100-rent-1y"),
        (
            ["--sku", "H100", "--form-factor", "PCIe"],
            "warning: no scenario will price it: its "
            "form factor PCIe is not the SXM that h100-rent-1y price(s)",
        ),
    ],
)
def test_quotes_add_names_what_a_rental_quote_can_price(quotes_file, capsys, args, note):
    assert add(*args, "--kind", "rental_hourly", "--price", "2.49", "--source", "Desk") == 0
    out = capsys.readouterr()
    assert note in (out.out + out.err)


def test_quotes_add_purchase_names_the_purchase_scenarios(quotes_file, capsys):
    assert add("--sku", "H100", "--price", "27000", "--source", "Dealer") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("it can price: ") and "h100-purchase" in lines[-1]


def test_quote_stats_view_shows_the_condition_when_a_used_group_is_shown():
    """New and used parts are priced apart: their two rows differ only by the condition, so the
    default table shows it then (and not for new parts and rentals alone)."""
    from capcover.api import STATS_COLUMNS
    from capcover.report.views import QUOTE_STATS, choose

    def row(kind: str, market: str | None, condition: str | None) -> tuple:
        values = dict.fromkeys(STATS_COLUMNS)
        values.update(sku="H100", form_factor="SXM", kind=kind, market=market)
        values.update(condition=condition, quote_count=3, central_usd=30_000.0)
        return tuple(values[c] for c in STATS_COLUMNS)

    new = [row("purchase", None, "new"), row("rental_hourly", "on_demand", None)]
    keys, _rows, _labels = choose(QUOTE_STATS, STATS_COLUMNS, new, fmt="table")
    assert "condition" not in keys
    used = [*new, row("purchase", None, "used")]
    keys, rows, _labels = choose(QUOTE_STATS, STATS_COLUMNS, used, fmt="table")
    assert keys.index("condition") == keys.index("market") + 1
    assert [r[keys.index("condition")] for r in rows] == ["new", None, "used"]


# -- red team D5/D6: the scenarios a quote can price follow the run's rules, market included --


def _scenarios_of_every_market():
    from capcover.config.settings import builtin_scenarios, throughput_table
    from capcover.model.scenarios import parse_scenarios
    from capcover.model.tiers import MARKETS

    user = [
        {
            "name": f"mine-{sku.lower()}-{market}-{form.lower()}",
            "gpu_sku": sku,
            "gpu_count": 1000,
            "price": {"kind": "rental_hourly", "hours": 8760},
            "market": market,
            "form_factor": form,
        }
        for sku in ("H100", "H200")
        for market in MARKETS
        for form in ("SXM", "any")
    ]
    user.append(
        {
            "name": "mine-h100-used",
            "gpu_sku": "H100",
            "gpu_count": 1000,
            "price": {"kind": "purchase"},
            "condition": "used",
        }
    )
    mine = parse_scenarios(user, where="mine.toml", throughput=throughput_table())
    return [*builtin_scenarios(), *mine]


@given(
    sku=st.sampled_from(["H100", "H200", "B200"]),
    kind=st.sampled_from(["rental_hourly", "purchase"]),
    tier=st.sampled_from([None, "committed_1m", "committed_3m", "committed_6m", "committed_1y"]),
    form=st.sampled_from([None, "SXM", "PCIe"]),
    condition=st.sampled_from([None, "new", "used", "refurbished"]),
)
@hypothesis_settings(max_examples=200, deadline=None)
def test_quotes_add_pricing_note_names_exactly_the_scenarios_the_run_selects(
    sku, kind, tier, form, condition
):
    """What `quotes add` says a quote can price is what the run's Selection (model/prices.py)
    takes: SKU, kind, the market's tiers, the purchase condition and the form factor."""
    from capcover.cli.quotes import pricing_note
    from capcover.model.prices import ANY_FORM_FACTOR, Selection, condition_matches
    from capcover.model.tiers import tier_from_label

    scenarios = _scenarios_of_every_market()
    entry = {"sku": sku, "kind": kind, "form_factor": form, "condition": condition}
    if kind == "rental_hourly" and tier is not None:
        entry["tier"] = tier
    quote_tier = tier_from_label(entry.get("tier"), kind=kind)
    expected = []
    for s in scenarios:
        if s.gpu_sku != sku or s.price.quote_kind != kind:
            continue
        sel = Selection(sku, kind, s.form_factor, s.market, None, s.condition)
        if quote_tier not in sel.tiers():
            continue
        if kind == "purchase" and not condition_matches(condition, sel.condition):
            continue
        if sel.form_factor != ANY_FORM_FACTOR and (form or "unknown") != sel.form_factor:
            continue
        expected.append(s.name)
    note = pricing_note(entry, scenarios)
    if expected:
        assert note == f"it can price: {', '.join(expected)}"
    else:
        assert note.startswith("warning: no scenario ") and "\n" not in note


@pytest.mark.parametrize(
    ("args", "note"),
    [
        (["--tier", "committed_1y"], "it can price: h100-rent-1y-contract"),
        (["--tier", "committed_1y", "--form-factor", "SXM"], "it can price: h100-rent-1y-contract"),
        (
            ["--tier", "committed_6m", "--form-factor", "SXM"],
            "warning: no scenario prices H100 rental_hourly quotes of the committed_6m market",
        ),
        (["--form-factor", "SXM"], "it can price: h100-rent-1y"),
    ],
)
def test_quotes_add_names_the_scenarios_of_the_quotes_market(quotes_file, capsys, args, note):
    """The docs' committed_1y example prices h100-rent-1y-contract (D5); a committed_6m quote
    prices no built-in, never the on-demand h100-rent-1y (D6)."""
    base = ["--sku", "H100", "--kind", "rental_hourly", "--price", "2.35", "--source", "Desk"]
    assert add(*base, *args) == 0
    out = capsys.readouterr()
    assert note in (out.out + out.err)
    if note.startswith("it can price"):
        assert "h100-rent-1y," not in note and "warning" not in out.err
