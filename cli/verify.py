"""`capcover verify [--date D]`: re-derive the published report rows from the raw archive and
compare them bit for bit with the warehouse and the published Parquet snapshot.

Exit 0 when every row matches; 1 with one line per difference (or one line saying why nothing
could be verified). It never writes the warehouse: the re-derivation runs in a scratch copy of
the archive in a temporary folder (flows/verify.py).
"""

from __future__ import annotations

from datetime import date

import click

from capcover.cli.common import EXIT_FAILED, echo, fail, load


def verify_cmd_body(day: date | None) -> int:
    from capcover.flows.verify import VerifyError, verify

    settings = load()
    try:
        result = verify(settings, day)
    except VerifyError as exc:
        fail(f"verify: {exc}")
    for line in result.differences:
        echo(line)
    echo(result.summary_text(settings.db), err=not result.ok)
    return 0 if result.ok else EXIT_FAILED


def register(group: click.Group) -> None:
    from capcover.cli.options import DATE

    @group.command("verify")
    @click.option("--date", "day", type=DATE, help="report date to verify (default: every date)")
    def verify_cmd(day: date | None) -> int:
        """Re-derive every published report row (of --date, or all) from the raw archive and
        the curated files; exit 0 only when the warehouse and the Parquet snapshot match it bit
        for bit."""
        return verify_cmd_body(day)
