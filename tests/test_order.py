"""Order by sequence, not by clock (docs/threat-model.md, "The clock"): with the wall clock
stepped back between runs, `rebuild` replays in commit order and restores the newest state,
`capcover status` calls the last committed run the latest, the incremental publish still sees
the run, and the backfill re-derives coin history in load order. Any order of clock readings
is drawn; the outcome never depends on it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capcover.cli.main import main
from capcover.config.settings import load_settings
from capcover.fakeapi.coingecko import category_payload
from capcover.flows import sequence
from capcover.flows.rebuild import rebuild
from capcover.warehouse.db import open_warehouse

DAY = "2024-04-03T06:40:12.345Z"


def _clock_at(monkeypatch, at: datetime) -> None:
    """The run's own clock (run id, started_at, finished_at) reads `at`."""

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return at if tz is None else at.astimezone(tz)

    monkeypatch.setattr(sequence, "datetime", Clock)


def _run(fake_cg, monkeypatch, cap: float, at: datetime, updated_at: str = DAY):
    fake_cg.clear()
    fake_cg.serve(categories=category_payload(cap=cap, updated_at=updated_at))
    _clock_at(monkeypatch, at)
    return sequence.run_daily(load_settings())


def _reports(db) -> list[tuple]:
    with open_warehouse(db, read_only=True) as wh:
        return sorted(wh.query("SELECT * FROM report_daily"), key=repr)


def _published_reports(db) -> list[tuple]:
    from pathlib import Path

    folder = Path(db).parent / "published" / "latest" / "report_daily"
    return sorted(
        duckdb.sql(f"SELECT * FROM read_parquet('{folder}/*.parquet')").fetchall(),  # noqa: S608
        key=repr,
    )


@settings(
    derandomize=True,
    deadline=None,
    max_examples=6,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    offsets=st.lists(st.integers(-72, 72), min_size=2, max_size=3),
    caps=st.lists(st.sampled_from([24e9, 25e9, 26e9, 27e9]), min_size=3, max_size=3),
)
def test_order_rebuild_and_publish_follow_commits_whatever_the_clock_says(
    fake_cg, env, monkeypatch, tmp_path_factory, offsets, caps
):
    """Runs of the same day, each with its clock `offset` hours from a base: the last
    committed run's state wins in the warehouse, after a rebuild, and in the snapshot."""
    db = tmp_path_factory.mktemp("order") / "capcover.duckdb"
    monkeypatch.setenv("CAPCOVER_DB", str(db))
    base = datetime(2024, 4, 3, 7, 0, tzinfo=UTC)
    for offset, cap in zip(offsets, caps, strict=False):
        _run(fake_cg, monkeypatch, cap, base + timedelta(hours=offset))
    committed = _reports(db)
    assert {r[4] for r in committed} == {caps[len(offsets) - 1]}  # the last run's cap
    assert _published_reports(db) == committed  # the snapshot saw the last run too

    rebuild(load_settings())

    assert _reports(db) == committed


def test_order_the_issue_example_clock_back_between_two_runs_of_one_day(fake_cg, env, monkeypatch):
    _run(fake_cg, monkeypatch, 25e9, datetime(2024, 4, 3, 9, 0, tzinfo=UTC))
    _run(fake_cg, monkeypatch, 26e9, datetime(2024, 4, 3, 8, 0, tzinfo=UTC))  # clock set back
    rebuild(load_settings())
    with open_warehouse(env["CAPCOVER_DB"], read_only=True) as wh:
        caps = {c for (c,) in wh.query("SELECT sector_market_cap_usd FROM report_daily")}
        order = wh.query("SELECT run_id, run_seq FROM runs WHERE kind = 'daily' ORDER BY run_seq")
    assert caps == {26e9}
    assert [seq for _, seq in order] == [1, 2] and order[0][0] > order[1][0]  # ids by clock


def test_order_status_calls_the_last_committed_run_the_latest(fake_cg, env, monkeypatch, capsys):
    _run(fake_cg, monkeypatch, 25e9, datetime(2024, 4, 3, 9, 0, tzinfo=UTC))
    fake_cg.clear()  # the next run fails (nothing answers), with its clock set back
    _clock_at(monkeypatch, datetime(2024, 4, 3, 8, 0, tzinfo=UTC))
    try:
        sequence.run_daily(load_settings())
    except Exception:  # noqa: BLE001 - the failure is recorded in runs: that is the point
        pass
    monkeypatch.undo()
    capsys.readouterr()
    assert main(["--db", env["CAPCOVER_DB"], "status", "--format", "csv"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split(",")[2] == "failed"  # the latest committed, though older by clock


def test_order_backfill_history_is_rederived_in_load_order(tmp_path):
    from capcover.warehouse import history as hist

    with open_warehouse(tmp_path / "w.duckdb") as wh:
        with wh.transaction():
            wh.query(
                "INSERT INTO backfill_jobs VALUES ('j1', 'ai', 30, 'done', 2, now(), now(), NULL)"
            )
            for seq, (coin, finished, load) in enumerate(
                [("a", "2024-04-03 10:00", 1), ("b", "2024-04-03 09:00", 2)], start=1
            ):
                wh.query(
                    "INSERT INTO backfill_progress (job_id, coin_id, seq, status, finished_at,"
                    " load_seq) VALUES ('j1', ?, ?, 'done', ?::TIMESTAMPTZ, ?)",
                    [coin, seq, finished + "+00", load],
                )
        links = hist.chart_links(wh)
    assert [coin for _, coin, *_ in links] == ["a", "b"]  # load order, not finished_at
