"""Rows are written by column name (report_daily, gpu_quotes), whatever order the migrations
added the columns in; and a date whose rows include one priced with its scenario's own
staleness window (migration 062) still pins one method for `capcover rebuild` and `verify`."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from capcover.model.report import REPORT_COLUMNS
from capcover.warehouse import load
from capcover.warehouse.db import open_warehouse
from tests.helpers import report_row

DAY = date(2026, 12, 6)
BASE = "provider-vote-v2+age7d/1095d"
OWN = "provider-vote-v2+age365d/1095d"


@pytest.fixture
def wh(tmp_path):
    with open_warehouse(tmp_path / "w.duckdb") as wh:
        yield wh


def _columns(wh, table: str) -> list[str]:
    return [c for (c,) in wh.query(f"SELECT name FROM pragma_table_info('{table}')")]  # noqa: S608


def test_report_columns_are_report_dailys_in_migration_order(wh):
    # Every ReportRow field is a column and every column a field, in the order 007 < 040 <
    # 050 < 060 < 062 added them (writing is by name: the order is checked only as documentation).
    assert list(REPORT_COLUMNS) == _columns(wh, "report_daily")
    assert set(load.QUOTE_COLUMNS) == set(_columns(wh, "gpu_quotes"))


def test_report_rows_are_written_by_name_into_any_column_order(wh):
    cols = _columns(wh, "report_daily")
    wh.query(
        f"CREATE TABLE shuffled AS SELECT {', '.join(reversed(cols))} FROM report_daily LIMIT 0"  # noqa: S608
    )
    row = report_row(
        DAY,
        "tco",
        25e9,
        price=66_736.16,
        quotes=3,
        median=30_000.0,
        price_method=BASE,
        price_condition="new",
        tco_years=5.0,
        price_max_age_days=None,
        survivorship_biased=False,
    )
    wh.append("shuffled", [row.as_tuple()], columns=REPORT_COLUMNS)
    got = dict(zip(cols, wh.query(f"SELECT {', '.join(cols)} FROM shuffled")[0], strict=True))  # noqa: S608
    assert got == dict(zip(REPORT_COLUMNS, row.as_tuple(), strict=True))


def _priced(scenario: str, method: str, own_days: int | None = None):
    return report_row(
        DAY, scenario, 25e9, quotes=1, median=30_000.0, price_method=method,
        price_max_age_days=own_days,
    )  # fmt: skip


def test_report_pins_take_the_dates_windows_from_rows_without_their_own(wh):
    rows = [
        _priced("h100-purchase", BASE),
        _priced("h100-rent-1y-contract", OWN, own_days=365),
        report_row(DAY, "coindesk-2024", 25e9),  # fixed: pins nothing
    ]
    load.replace_reports(wh, DAY, rows)
    assert load.report_pins(wh)[DAY].price_method == BASE
    # A date of only own-window rows pins one of them (its other kind's window is the date's).
    load.replace_reports(wh, DAY, rows[1:])
    assert load.report_pins(wh)[DAY].price_method == OWN


@pytest.mark.parametrize(
    ("other", "own"),
    [
        ("provider-vote-v2+age14d/1095d", OWN),  # two settings windows: two runs
        (BASE, "mad3.5-median-v1+age365d/1095d"),  # an own-window row of another method
    ],
)
def test_report_pins_refuse_a_date_of_two_methods(wh, other, own):
    rows = [
        _priced("h100-purchase", BASE),
        _priced("h100-all-in", other),
        _priced("h100-rent-1y-contract", own, own_days=365),
    ]
    if other == BASE:
        rows = [rows[0], rows[2]]
    load.replace_reports(wh, DAY, rows)
    with pytest.raises(ValueError, match=rf"report date {DAY} has rows of several methods"):
        load.report_pins(wh)


def test_report_own_window_is_stored_on_the_row_and_null_otherwise(wh):
    load.replace_reports(
        wh,
        DAY,
        [replace(report_row(DAY, "x", 25e9), price_max_age_days=30), report_row(DAY, "y", 1)],
    )
    assert wh.query("SELECT scenario, price_max_age_days FROM report_daily ORDER BY 1") == [
        ("x", 30),
        ("y", None),
    ]
