"""coin_names (migration 031): each coin's symbol and name on its latest snapshot, kept by the
load, always what aggregating all of coin_snapshots gives."""

from __future__ import annotations

from capcover.config.settings import load_settings
from capcover.fakeapi.coingecko import market_pages
from capcover.flows.rebuild import rebuild
from capcover.flows.sequence import run_daily
from capcover.warehouse.db import open_warehouse
from tests.conftest import category_payload

FROM_HISTORY = (
    "SELECT coin_id, arg_max(symbol, as_of_date), arg_max(name, as_of_date),"
    " max(as_of_date) FROM coin_snapshots GROUP BY coin_id ORDER BY coin_id"
)


def _run_day(fault, day: str, pages=None) -> None:
    fault.categories = category_payload(updated_at=f"{day}T06:00:00Z")
    fault.pages = pages if pages is not None else market_pages()
    run_daily(load_settings())


def _names(db) -> tuple[list, list]:
    with open_warehouse(db, read_only=True) as wh:
        return (wh.query("SELECT * FROM coin_names ORDER BY coin_id"), wh.query(FROM_HISTORY))


def _renamed(coin_id: str, name: str) -> list[list[dict]]:
    return [
        [{**c, "name": name} if c["id"] == coin_id else c for c in page] for page in market_pages()
    ]


def _without(coin_id: str) -> list[list[dict]]:
    return [[c for c in page if c["id"] != coin_id] for page in market_pages()]


def test_coin_names_follow_the_latest_snapshot_through_renames_reruns_and_a_rebuild(
    fault, settings
):
    _run_day(fault, "2024-04-01")
    _run_day(fault, "2024-04-02", _renamed("ai-coin-007", "Seven Renamed"))
    kept, derived = _names(settings.db)
    assert kept == derived
    assert ("ai-coin-007", "ai7", "Seven Renamed") == kept[6][:3]

    # A rerun of an earlier day does not take the name back: a later day named the coin.
    _run_day(fault, "2024-04-01", _renamed("ai-coin-007", "Seven Old"))
    kept, derived = _names(settings.db)
    assert kept == derived and kept[6][2] == "Seven Renamed"

    # A rerun of the latest day that drops the coin: its name is the previous day's again.
    _run_day(fault, "2024-04-02", _without("ai-coin-007"))
    kept, derived = _names(settings.db)
    assert kept == derived and kept[6][2] == "Seven Old"

    with open_warehouse(settings.db) as wh:  # damaged by hand, repaired by the rebuild
        wh.query("UPDATE coin_names SET name = 'wrong'")
    rebuild(load_settings())
    kept, derived = _names(settings.db)
    assert kept == derived and kept[6][2] == "Seven Old"


def test_coin_names_name_the_report_constituents(fault, settings):
    _run_day(fault, "2024-04-01")
    _run_day(fault, "2024-04-02", _renamed("ai-coin-003", "Three Renamed"))
    with open_warehouse(settings.db, read_only=True) as wh:
        names = wh.query(
            "SELECT DISTINCT report_date::VARCHAR, name FROM v_report_constituents"
            " WHERE coin_id = 'ai-coin-003' ORDER BY 1"
        )
    # Every report names the coin by its latest snapshot, the older report too.
    assert names == [("2024-04-01", "Three Renamed"), ("2024-04-02", "Three Renamed")]
