"""`capcover`: a thin command line over flows/, warehouse/ and model/.

Commands that only read the warehouse never import Prefect (about a second and 78 MB).
Exit codes: 0 ok, 1 the run or query failed, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date

from flows.output import FORMATS, render
from flows.settings import ConfigError, load_settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"capcover: error: {message}", file=sys.stderr)
    return code


# -- commands --------------------------------------------------------------------------------

def cmd_run(args: argparse.Namespace) -> int:
    if args.dry_run:
        from flows.alerts import cmd_dry_run

        return cmd_dry_run()
    settings = load_settings()
    from flows.daily import daily_flow

    try:
        result = daily_flow(kind=args.kind)
    except Exception as exc:  # noqa: BLE001 - any failure becomes one line and exit 1
        from flows.pipeline import one_line

        return _fail(f"run failed: {one_line(exc)} (the warehouse {settings.db} is unchanged)")
    print(summary_text(result, settings.db))
    return EXIT_OK


def _price_note(row) -> str:
    if row.price_quote_count == 0:
        return row.price_basis
    return f"median of {row.price_quote_count} quote(s), newest {row.price_as_of}"


def summary_text(result, db) -> str:
    lines = [f"capcover run {result.run_id}: as of {result.as_of_date} (UTC, source timestamp)"]
    if result.sector_market_cap_usd is not None:
        lines.append(f"  AI-token sector market cap: ${result.sector_market_cap_usd / 1e9:,.2f}B")
    for r in result.reports:
        verdict = "covers" if r.coverage_ratio >= 1 else "does not cover"
        lines.append(
            f"  {r.scenario:<18} {r.gpu_count:>9,} {r.gpu_sku:<7} at ${r.unit_price_usd:>11,.0f}"
            f" = ${r.buildout_cost_usd / 1e9:>8,.2f}B  ratio {r.coverage_ratio:6.3f}  ({verdict};"
            f" {_price_note(r)})"
        )
    for name, reason in result.skipped:
        lines.append(f"  {name:<18} skipped: {reason}")
    extras = []
    if result.quarantined:
        extras.append(f"{result.quarantined} record(s) quarantined")
    if result.duplicates_dropped:
        extras.append(f"{result.duplicates_dropped} duplicate(s) across pages dropped")
    if result.sources_failed:
        errors = getattr(result, "feed_errors", {})
        extras.append("quote feeds failed: " + ", ".join(
            f"{s} ({errors[s][:120]})" if errors.get(s) else s for s in result.sources_failed))
    extras.append(f"{result.http_requests} HTTP request(s), {result.http_retries} retr(y/ies)")
    lines.append("  " + "; ".join(extras))
    from flows.alerts import alert_lines

    lines += alert_lines(result)
    lines.append(f"  warehouse: {db}")
    return "\n".join(lines)


def cmd_report(args: argparse.Namespace) -> int:
    from warehouse.db import open_warehouse
    from warehouse.queries import report

    settings = load_settings()
    if args.html or args.png:
        from flows.html_report import write_report_files

        for path in write_report_files(settings.db, html=args.html, png=args.png,
                                       lock_budget_s=settings.lock_budget_s):
            print(f"wrote {path}")
        return EXIT_OK
    with open_warehouse(settings.db, read_only=True, lock_budget_s=settings.lock_budget_s) as wh:
        cols, rows = report(wh, day=args.date, scenario=args.scenario,
                            full=args.format in ("csv", "json"))
    if not rows:
        what = f" for {args.date}" if args.date else ""
        what += f" and scenario {args.scenario}" if args.scenario else ""
        return _fail(f"no report rows{what} in {settings.db} — run `capcover run` first")
    print(render(cols, rows, args.format, title="capcover daily report"))
    return EXIT_OK


def cmd_sql(args: argparse.Namespace) -> int:
    import duckdb

    from warehouse.db import open_warehouse

    settings = load_settings()
    with open_warehouse(settings.db, read_only=True, lock_budget_s=settings.lock_budget_s) as wh:
        try:
            cols, rows = wh.query_table(args.query)
        except duckdb.Error as exc:
            first = str(exc).splitlines()[0]
            if "read-only" in first:
                return _fail(f"capcover sql is read-only; the statement was refused and nothing "
                             f"changed ({first})")
            return _fail(f"query failed: {first}")
    print(render(cols, rows, args.format))
    return EXIT_OK


def cmd_backfill(args: argparse.Namespace) -> int:
    from flows.backfill import BackfillUsageError, run_backfill
    from flows.pipeline import one_line

    settings = load_settings()
    resume = f"finished coins are saved; rerun `capcover backfill --days {args.days}` to resume"
    try:
        result = run_backfill(settings, args.days)
    except BackfillUsageError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        return _fail(f"backfill interrupted — {resume}", 130)
    except Exception as exc:  # noqa: BLE001 - any failure becomes one line and exit 1
        return _fail(f"backfill failed: {one_line(exc)} — {resume}")
    print(result.summary_text())
    return EXIT_OK


def cmd_rebuild(args: argparse.Namespace) -> int:
    from flows.rebuild import RebuildError, rebuild

    settings = load_settings()
    try:
        result = rebuild(settings)
    except RebuildError as exc:
        return _fail(f"rebuild failed: {exc}")
    print(result.summary_text(settings.db))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from flows.demo import run_demo

    return run_demo()


def cmd_config(args: argparse.Namespace) -> int:
    settings = load_settings()
    rows = [(k, str(v)) for k, v in settings.masked().items() if k != "scenario"]
    rows.append(("scenarios", ", ".join(s.name for s in settings.scenarios())))
    print(render(["setting", "value"], rows, args.format))
    return EXIT_OK


def cmd_alerts(args: argparse.Namespace) -> int:
    from flows.alerts import cmd_alerts as show_alerts

    return show_alerts(args)


# -- parser ---------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="capcover",
        description="Could the AI-token sector buy the GPUs its ambitions need? "
                    "Daily coverage ratio in DuckDB.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="the daily flow: ingest, load, model, report")
    run.add_argument("--kind", default="daily", help=argparse.SUPPRESS)
    run.add_argument("--dry-run", action="store_true",
                     help="run everything, print the report and the alerts it would fire, "
                          "then roll back: nothing stored, nothing delivered")
    run.set_defaults(func=cmd_run)

    rep = sub.add_parser("report", help="show report rows (latest date by default)")
    rep.add_argument("--date", type=_date, help="report date, YYYY-MM-DD (default: latest)")
    rep.add_argument("--scenario", help="one scenario (default: all)")
    rep.add_argument("--format", choices=FORMATS, default="table")
    rep.add_argument("--html", metavar="PATH",
                     help="write one self-contained HTML report (chart, inputs, alerts)")
    rep.add_argument("--png", metavar="PATH", help="write the coverage history chart as PNG")
    rep.set_defaults(func=cmd_report)

    sql = sub.add_parser("sql", help="read-only SQL on the warehouse")
    sql.add_argument("query", help='e.g. "SELECT * FROM report_daily"')
    sql.add_argument("--format", choices=FORMATS, default="table")
    sql.set_defaults(func=cmd_sql)

    bf = sub.add_parser("backfill", help="coverage history from per-coin market charts")
    bf.add_argument("--days", type=int, default=365,
                    help="days of history (at most 365 on public/demo plans; default 365)")
    bf.set_defaults(func=cmd_backfill)

    alerts = sub.add_parser("alerts", help="alert history and delivery state per channel")
    alerts.add_argument("--since", type=_date, help="report dates from YYYY-MM-DD on")
    alerts.add_argument("--undelivered", action="store_true",
                        help="only alerts some channel has not confirmed yet")
    alerts.add_argument("--format", choices=FORMATS, default="table")
    alerts.set_defaults(func=cmd_alerts)

    demo = sub.add_parser("demo", help="the whole pipeline offline on a bundled replay snapshot")
    demo.set_defaults(func=cmd_demo)

    reb = sub.add_parser("rebuild", help="re-derive typed tables and reports from the raw "
                                         "archive, no network")
    reb.set_defaults(func=cmd_rebuild)

    srv = sub.add_parser("serve", help="serve the daily flow on its cron schedule (needs a "
                                       "running Prefect server)")
    srv.set_defaults(func=lambda args: __import__("flows.serve").serve.cmd_serve(args))

    st = sub.add_parser("status", help="the last runs and the next scheduled one")
    st.add_argument("--limit", type=int, default=10, help="runs to show (default 10)")
    st.add_argument("--format", choices=FORMATS, default="table")
    st.set_defaults(func=lambda args: __import__("flows.status").status.cmd_status(args))

    cfg = sub.add_parser("config", help="print the effective settings (secrets masked)")
    cfg.add_argument("--format", choices=FORMATS, default="table")
    cfg.set_defaults(func=cmd_config)

    from flows.quotes_cli import register as register_quotes

    register_quotes(sub)  # `capcover quotes list|add`
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from warehouse.db import WarehouseError

    try:
        return args.func(args)
    except ConfigError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except WarehouseError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted; nothing was committed by the interrupted step", 130)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
