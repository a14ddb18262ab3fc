"""`capcover verify`: every published report row re-derived from the raw archive matches the
warehouse and the Parquet snapshot bit for bit (exit 0); a value changed by hand, or a published
file altered, is named in one line (exit 1). Rows an older price method published are
re-derived by that method, never revised."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from capcover.cli.main import main
from capcover.config.settings import load_settings
from capcover.fakeapi import gpuhunt as hunt
from capcover.fakeapi.server import FakeAPI
from capcover.flows.rebuild import rebuild
from capcover.flows.sequence import run_daily
from capcover.model.report import build_reports
from capcover.warehouse import load
from capcover.warehouse.db import open_warehouse
from tests.conftest import category_payload

V1 = "mad3.5-median-v1+age7d/1095d"
V2 = "provider-vote-v2+age7d/1095d"


@pytest.fixture
def published(fake_cg, env, monkeypatch):
    """A warehouse after one daily run over every feed (gpuhunt's catalogs included), with its
    Parquet snapshot published."""
    fake_cg.serve(categories=category_payload(updated_at=datetime.now(UTC).isoformat()))
    with FakeAPI() as api:
        api.mount(hunt.routes(), "/gpuhunt")
        monkeypatch.setenv("CAPCOVER_GPUHUNT_BASE_URL", api.url_for("/gpuhunt"))
        monkeypatch.setenv("CAPCOVER_GPUHUNT_PROVIDERS", ",".join(hunt.PROVIDERS))
        monkeypatch.setenv("CAPCOVER_GPUHUNT_RATE_PER_MINUTE", "60000")
        settings = load_settings()
        run_daily(settings)
        yield settings


def _rows(db, where: str = "TRUE") -> int:
    """Report rows of the warehouse (every built-in the day's quotes price: the count follows
    the shipped curated quotes and the day)."""
    with open_warehouse(db, read_only=True) as wh:
        return wh.scalar(f"SELECT count(*) FROM report_daily WHERE {where}")  # noqa: S608


def _verify(capsys, *args) -> tuple[int, list[str], str]:
    code = main(["verify", *args])
    out = capsys.readouterr()
    return code, out.out.splitlines(), out.err


def test_verify_a_good_warehouse_matches_bit_for_bit(published, capsys):
    code, lines, err = _verify(capsys)
    assert code == 0, lines + [err]
    (line,) = lines
    assert _rows(published.db) >= 8  # the feeds' and the curated quotes' scenarios
    assert line.startswith(f"capcover verify: {_rows(published.db)} report row(s) of ")
    assert "match the warehouse" in line and "bit for bit" in line
    assert "files' digests" in line and err == ""


def test_verify_names_the_row_after_a_value_was_changed_by_hand(published, capsys):
    with open_warehouse(published.db) as wh:
        day = wh.scalar("SELECT max(report_date) FROM report_daily")
        wh.query(
            "UPDATE report_daily SET unit_price_usd = unit_price_usd * 1.01"
            " WHERE scenario = 'h100-rent-1y'"
        )
    code, lines, err = _verify(capsys)
    assert code == 1
    rederived = [x for x in lines if "re-derivation from the raw archive differs" in x]
    snapshot = [x for x in lines if "published snapshot differs" in x]
    assert len(rederived) == len(snapshot) == 1
    assert rederived[0].startswith(
        f"report_daily {day} h100-rent-1y: the re-derivation from the raw archive"
    )
    assert "unit_price_usd " in rederived[0] and snapshot[0].startswith(f"{day} h100-rent-1y:")
    assert f"capcover verify: 2 difference(s) in {_rows(published.db)} report row(s)" in err


def test_verify_names_an_altered_published_file(published, capsys):
    with open_warehouse(published.db, read_only=True) as wh:
        folder = Path(wh.scalar("SELECT published_to FROM runs WHERE published_to IS NOT NULL"))
    (path,) = sorted((folder / "report_daily").glob("*.parquet"))
    con = duckdb.connect()
    altered = (  # a test's own temp path in a COPY target, which takes no parameter
        "COPY (SELECT * REPLACE (CASE WHEN scenario = 'coindesk-2024' THEN coverage_ratio + 1"
        " ELSE coverage_ratio END AS coverage_ratio) FROM read_parquet('{0}'))"
        " TO '{0}.new' (FORMAT parquet)"
    )
    con.execute(altered.format(path))
    con.close()
    Path(f"{path}.new").replace(path)
    code, lines, _err = _verify(capsys)
    assert code == 1
    digest = [
        x for x in lines if x.startswith(f"snapshot report_daily/{path.name}: content digest")
    ]
    assert digest and digest[0].endswith("the file was altered after publishing")
    (row,) = [x for x in lines if "published snapshot differs" in x]
    assert " coindesk-2024: " in row and "coverage_ratio" in row


def test_verify_a_file_the_manifest_does_not_know(published, capsys):
    with open_warehouse(published.db, read_only=True) as wh:
        folder = Path(wh.scalar("SELECT published_to FROM runs WHERE published_to IS NOT NULL"))
    manifest = json.loads((folder / "manifest.json").read_text())
    for month in manifest["partitions"]["report_daily"]["months"].values():
        month.pop("sha256")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    code, lines, _ = _verify(capsys)
    assert code == 1 and any("no content digest in the manifest" in x for x in lines)


def test_verify_a_date_without_rows_is_one_line(published, capsys):
    code, lines, err = _verify(capsys, "--date", "2001-01-01")
    assert code == 1 and lines == []
    assert err.strip() == (
        f"capcover: error: verify: warehouse {published.db} has no report rows on 2001-01-01 "
        f"to verify"
    )


def test_verify_of_one_date_checks_only_its_rows(published, capsys):
    with open_warehouse(published.db, read_only=True) as wh:
        day = wh.scalar("SELECT max(report_date) FROM report_daily")
    code, lines, _ = _verify(capsys, "--date", str(day))
    n = _rows(published.db)
    assert code == 0 and lines[0].startswith(f"capcover verify: {n} report row(s) of {day} ")


def test_verify_never_writes_the_warehouse(published, capsys):
    before = Path(published.db).read_bytes()
    assert _verify(capsys)[0] == 0
    assert Path(published.db).read_bytes() == before


@pytest.mark.parametrize("method", [V1, V2])
def test_rebuild_rederives_rows_an_older_method_published_with_that_method(published, method):
    """A warehouse whose rows method v1 or v2 published: rebuild (and so verify) keeps their
    method and their numbers, never re-prices them with the current method."""
    settings = published
    with open_warehouse(settings.db) as wh:
        day = wh.scalar("SELECT max(report_date) FROM report_daily")
        sector = load.sector_inputs(wh, day, settings.categories)
        book = load.price_book(wh, day, method=method)
        run_id = wh.scalar("SELECT max(run_id) FROM report_daily")
        rows, _ = build_reports(sector, settings.scenarios(), book, run_id)
        with wh.transaction():
            load.replace_reports(wh, day, rows, [])
        old = wh.query("SELECT * FROM report_daily ORDER BY scenario")
    rent = next(r for r in rows if r.scenario == "h100-rent-1y")
    assert rent.price_method == method
    assert (rent.price_provider_count is None) == (method == V1)
    rebuild(settings)
    with open_warehouse(settings.db, read_only=True) as wh:
        assert wh.query("SELECT * FROM report_daily ORDER BY scenario") == old


def test_verify_an_unmigrated_warehouse_is_one_line(tmp_path, env, capsys, monkeypatch):
    import shutil

    from capcover.warehouse.migrate import MIGRATIONS_DIR, apply_migrations

    old = tmp_path / "migrations"
    old.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        if int(path.name[:3]) <= 32:
            shutil.copy(path, old)
    db = tmp_path / "old.duckdb"
    with open_warehouse(db, migrate=False) as wh:
        apply_migrations(wh, old)
    monkeypatch.setenv("CAPCOVER_DB", str(db))
    code, lines, err = _verify(capsys)
    assert code == 1 and lines == []
    assert "is at schema version 32, older than this capcover's" in err
    assert "run `capcover run` once to migrate it" in err


def test_rows_of_a_method_without_code_are_named_never_repriced(published, capsys):
    from capcover.flows.rebuild import RebuildError

    with open_warehouse(published.db) as wh:
        day = wh.scalar("SELECT max(report_date) FROM report_daily")
        wh.query("UPDATE report_daily SET price_method = 'median-v0' WHERE price_method <> 'fixed'")
        before = wh.query("SELECT * FROM report_daily ORDER BY scenario")
    with pytest.raises(RebuildError, match="price method 'median-v0' has no code path"):
        rebuild(published)
    with open_warehouse(published.db, read_only=True) as wh:  # the rebuild changed nothing
        assert wh.query("SELECT * FROM report_daily ORDER BY scenario") == before
    code, lines, _ = _verify(capsys)
    assert code == 1
    named = [x for x in lines if "has no code path in this capcover" in x]
    priced = _rows(published.db, "price_method <> 'fixed'")
    assert priced >= 7 and len(named) == priced
    assert all(x.startswith(f"report_daily {day} ") for x in named)
    assert not any("coindesk-2024: the re-derivation" in x for x in lines)  # fixed rows match


CONTRACT = """
[[scenario]]
name = "h100-contract-10y-window"
gpu_sku = "H100"
gpu_count = 1000
form_factor = "any"
market = "committed_1y"
max_age_days = 3650
price = { kind = "rental_hourly", hours = 8760 }
"""


def test_verify_a_date_with_a_row_of_its_scenarios_own_window(fake_cg, env, monkeypatch, capsys):
    # A scenario's own staleness window names itself in its row's method id; the date's other
    # rows name the settings' windows: rebuild and verify re-derive both (load.report_pins).
    config = Path(env["CAPCOVER_DB"]).parent / "config.toml"
    config.write_text(CONTRACT, encoding="utf-8")
    monkeypatch.setenv("CAPCOVER_CONFIG", str(config))
    fake_cg.serve(categories=category_payload(updated_at=datetime.now(UTC).isoformat()))
    settings = load_settings()
    run_daily(settings)
    with open_warehouse(settings.db, read_only=True) as wh:
        methods = dict(
            wh.query(
                "SELECT price_method, list(DISTINCT price_max_age_days) FROM report_daily"
                " WHERE price_method <> 'fixed' GROUP BY ALL"
            )
        )
    # (the built-in h100-rent-1y-contract adds its 365 days while a contract point is that new)
    assert methods["provider-vote-v3+age7d/1095d"] == [None]
    assert methods["provider-vote-v3+age3650d/1095d"] == [3650]
    for method, (days,) in methods.items():
        assert days is None or method == f"provider-vote-v3+age{days}d/1095d"
    code, lines, err = _verify(capsys)
    assert code == 0, lines + [err]
    assert lines[0].startswith(f"capcover verify: {_rows(settings.db)} report row(s) of ")


def test_verify_reads_both_archive_tables_and_the_catalog_links(env, monkeypatch, capsys):
    """The raw archive as migration 090 lays it out: a backfill's rows in raw_http_backfill,
    the daily runs' in raw_http_daily, and a second run's unchanged gpuhunt catalogs stored as
    links (no body) to the first run's rows. verify copies both tables into its scratch copy,
    the rebuild resolves the links, and every row matches bit for bit."""
    import io

    from rich.console import Console

    from capcover.fakeapi.coingecko import CoinGecko
    from capcover.flows.backfill import run_backfill

    with CoinGecko.charts(n_coins=12) as cg, FakeAPI() as api:
        api.mount(hunt.routes(), "/gpuhunt")
        monkeypatch.setenv("CAPCOVER_COINGECKO_BASE_URL", cg.base_url)
        monkeypatch.setenv("CAPCOVER_GPUHUNT_BASE_URL", api.url_for("/gpuhunt"))
        monkeypatch.setenv("CAPCOVER_GPUHUNT_PROVIDERS", ",".join(hunt.PROVIDERS))
        monkeypatch.setenv("CAPCOVER_GPUHUNT_RATE_PER_MINUTE", "60000")
        settings = load_settings()
        run_backfill(settings, 10, console=Console(file=io.StringIO()))
        run_daily(settings)
        second = run_daily(settings)  # the same catalog versions: linked, not fetched
    with open_warehouse(settings.db, read_only=True) as wh:
        backfill_rows = wh.scalar("SELECT count(*) FROM raw_http_backfill")
        links = wh.scalar(
            "SELECT count(*) FROM raw_http_daily WHERE run_id = ? AND same_as_run_id IS NOT NULL"
            " AND body = ''",
            [second.run_id],
        )
        rows = wh.scalar("SELECT count(*) FROM report_daily")
        bases = {b for (b,) in wh.query("SELECT DISTINCT basis FROM report_daily")}
    assert backfill_rows > 12 and links == len(hunt.PROVIDERS)
    assert bases == {"history", "category"}
    code, lines, err = _verify(capsys)
    assert code == 0, lines + [err]
    (line,) = lines
    assert line.startswith(f"capcover verify: {rows} report row(s) of ")
    assert "match the warehouse" in line and "bit for bit" in line


@pytest.mark.parametrize("first", ["run", "backfill"])
def test_verify_exits_0_after_run_after_backfill_after_rebuild(env, monkeypatch, capsys, first):
    """Red team D13: a backfill re-publishes its days, so it publishes the Parquet snapshot as
    a daily run does; verify matches right after each command that writes reports (the
    backfill first on a new warehouse too), with nothing run in between."""
    from capcover.fakeapi.coingecko import CoinGecko

    with CoinGecko.charts(n_coins=6) as cg:
        monkeypatch.setenv("CAPCOVER_COINGECKO_BASE_URL", cg.base_url)
        steps = ["run", "backfill", "rebuild", "run"] if first == "run" else ["backfill", "run"]
        for step in steps:
            args = ["backfill", "--days", "4"] if step == "backfill" else [step]
            assert main(args) == 0, step
            capsys.readouterr()
            code, lines, err = _verify(capsys)
            assert code == 0, (step, lines, err)
            assert lines[0].startswith("capcover verify: ") and "bit for bit" in lines[0]
    with open_warehouse(load_settings().db, read_only=True) as wh:
        kinds = wh.query("SELECT kind, published_to IS NOT NULL FROM runs WHERE kind = 'backfill'")
    assert kinds == [("backfill", True)]


SPOT = """
[[scenario]]
name = "h100-spot-mine"
description = "mine"
gpu_sku = "H100"
gpu_count = {count}
price = {{ kind = "rental_hourly", hours = 8_760 }}
form_factor = "SXM"
market = "on_demand"
"""


@pytest.mark.parametrize("then", ["deleted", "changed", "renamed"])
def test_verify_reads_the_scenarios_a_run_recorded_not_the_checkers_config(
    fake_cg, env, monkeypatch, tmp_path, capsys, then
):
    """Red team D15: a user scenario's row verifies whatever the checker's CAPCOVER_CONFIG
    says: the run recorded the definitions it priced with (run_scenarios), and rebuild and
    verify re-derive from those. The config deleted, the scenario changed, or another file."""
    fake_cg.serve(categories=category_payload(updated_at=datetime.now(UTC).isoformat()))
    config = tmp_path / "mine.toml"
    config.write_text(SPOT.format(count="720_000"))
    monkeypatch.setenv("CAPCOVER_CONFIG", str(config))
    assert main(["run"]) == 0
    capsys.readouterr()
    db = load_settings().db
    with open_warehouse(db, read_only=True) as wh:
        recorded = wh.query(
            "SELECT scenario, definition->>'$.gpu_count' FROM run_scenarios"
            " WHERE scenario = 'h100-spot-mine'"
        )
        before = wh.query("SELECT * FROM report_daily ORDER BY scenario")
    assert recorded == [("h100-spot-mine", "720000")]
    if then == "deleted":
        config.unlink()
        monkeypatch.delenv("CAPCOVER_CONFIG")
    elif then == "changed":
        config.write_text(SPOT.format(count="89_000"))
    else:
        other = tmp_path / "other.toml"
        other.write_text(SPOT.format(count="1").replace("h100-spot-mine", "another-one"))
        monkeypatch.setenv("CAPCOVER_CONFIG", str(other))
    code, lines, err = _verify(capsys)
    assert code == 0, lines + [err]
    assert main(["rebuild"]) == 0  # the published rows keep the definitions they were made with
    with open_warehouse(db, read_only=True) as wh:
        assert wh.query("SELECT * FROM report_daily ORDER BY scenario") == before


def test_rebuild_records_the_current_scenarios_for_a_run_that_recorded_none(published):
    """A run from before migration 053 recorded no definitions: the rebuild re-derives it with
    the current ones and records them, so the next verify reads them from the warehouse."""
    with open_warehouse(published.db) as wh:
        run_id = wh.scalar("SELECT max(run_id) FROM report_daily")
        wh.query("DELETE FROM run_scenarios")
    rebuild(published)
    with open_warehouse(published.db, read_only=True) as wh:
        names = [
            n
            for (n,) in wh.query(
                "SELECT scenario FROM run_scenarios WHERE run_id = ? ORDER BY position", [run_id]
            )
        ]
    assert names == [s.name for s in published.scenarios()]
