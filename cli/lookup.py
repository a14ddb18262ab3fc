"""What a read command says when the scenario or date asked for is not in the warehouse: the
scenarios it has (exit 2: a name that does not exist is a usage mistake) or the nearest report
dates (an empty result: exit 1, cli.common.nothing). The facts come from the public API's
Reader (capcover/api.py); the words are the command line's."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from capcover.cli.common import EXIT_USAGE, fail

if TYPE_CHECKING:
    from capcover.api import Reader


def check_scenario(reader: Reader, scenario: str | None) -> bool:
    """Exit 2 naming the scenarios with reports when `scenario` has none; False when the
    warehouse has no report at all (an empty result, not a usage mistake)."""
    known = reader.scenarios()
    if not known:
        return False
    if scenario is not None and scenario not in known:
        fail(
            f"unknown scenario {scenario!r}: {reader.db} has reports of {', '.join(known)}",
            EXIT_USAGE,
        )
    return True


def no_report_on(reader: Reader, day: date, scenario: str | None) -> str:
    """'no report on D in X; nearest report dates: ... (the latest: ...)'."""
    before, after, latest = reader.nearest_reports(day, scenario=scenario)
    what = f"no report{f' of {scenario}' if scenario else ''} on {day} in {reader.db}"
    near = [
        f"{d} ({side}{', the latest' if d == latest else ''})"
        for d, side in ((before, "before"), (after, "after"))
        if d
    ]
    if not near:
        return f"{what} — run `capcover run` first"
    tail = "" if latest in (before, after) else f"; the latest: {latest}"
    return f"{what}; nearest report dates: {', '.join(near)}{tail} (pass one with --date)"
