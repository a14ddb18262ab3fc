"""The generated references: docs/cli.md's command reference (from the click tree) and
docs/settings.md (from the settings model), as sqlite-utils keeps its docs with `cog --check`.

    python scripts/docs_reference.py          rewrite both from the code
    python scripts/docs_reference.py --check  exit 1 naming what is stale (tests/test_docs.py)

docs/cli.md is hand-written around one generated block between the BEGIN/END markers;
docs/settings.md is generated whole. A tiny generator instead of cogapp: two functions and a
marker replace, no dependency.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLI_DOC = ROOT / "docs" / "cli.md"
SETTINGS_DOC = ROOT / "docs" / "settings.md"
BEGIN = "<!-- BEGIN GENERATED: scripts/docs_reference.py writes this block; do not edit -->"
END = "<!-- END GENERATED -->"

# What each setting is for, in a line (the model holds its type, default and bounds). A
# setting added to config/settings.py without a line here fails tests/test_docs.py: write one.
SETTING_NOTES = {
    "db": "The DuckDB warehouse file.",
    "config": "A TOML file with more settings and `[[scenario]]` tables (the environment wins).",
    "categories": "CoinGecko category ids whose union is the sector, comma-separated.",
    "coingecko_plan": "`public`, `demo` or `pro`: sets the API root, the key header and the rate.",
    "coingecko_base_url": "CoinGecko API root.",
    "coingecko_api_key": "Demo or pro key; sent as a header, never in a URL, never stored.",
    "coingecko_rate_per_minute": "Requests per minute to CoinGecko.",
    "http_connect_timeout_s": "Seconds to open a connection to a source.",
    "http_read_timeout_s": "Seconds one read from a source may wait.",
    "http_retry_budget_s": "Seconds a request may spend in retries (429, 5xx, resets).",
    "http_deadline_s": "Seconds one attempt may take in all (connect, headers, body).",
    "http_max_body_mb": "Largest decoded answer body accepted, in MB.",
    "max_clock_skew_s": "How far a source timestamp may lie in the future, in seconds.",
    "quotes_file": "Your quotes file (`capcover quotes add` writes it).",
    "vastai_base_url": "Vast.ai API root.",
    "vastai_gpu_names": "Vast.ai GPU names to query, comma-separated.",
    "vastai_rate_per_minute": "Requests per minute to Vast.ai.",
    "runpod_base_url": "RunPod API root.",
    "runpod_rate_per_minute": "Requests per minute to RunPod.",
    "gpuhunt_base_url": "Root of gpuhunt's catalog bucket.",
    "gpuhunt_providers": "gpuhunt catalog providers to read, comma-separated (empty: none).",
    "gpuhunt_rate_per_minute": "Requests per minute to the gpuhunt bucket.",
    "price_max_age_rental_days": "Rental quotes older than this many days do not price a day.",
    "price_max_age_purchase_days": "Purchase quotes older than this many days do not price a day.",
    "lock_budget_s": "Seconds to wait for another process's hold on the warehouse.",
    "alert_urls": "Apprise URLs to alert, comma-separated (secrets: shown masked).",
    "alert_scenarios": "Scenarios whose reports fire alerts, comma-separated.",
    "alert_rules": "Rules that fire: threshold_crossed, relative_change, stale_data.",
    "alert_levels": "Ratio levels whose crossing fires threshold_crossed, comma-separated.",
    "alert_relative_change_pct": "Day-over-day ratio change (percent) that fires relative_change.",
    "alert_stale_after_h": "Hours CoinGecko's as-of may lag the fetch before stale_data fires.",
    "alert_feed_failure_days": "Consecutive run days a quote feed fails before stale_data fires.",
    "alert_timeout_s": "Seconds a receiver has to answer one alert message (then: unknown).",
    "schedule_cron": "When `capcover serve` runs the daily flow (cron).",
    "schedule_timezone": "The time zone of schedule_cron.",
    "publish_dir": "Where successful runs publish their Parquet snapshot.",
    "publish_keep": "Parquet snapshots kept; older ones are pruned.",
    "sector_cap_min_usd": "A sector cap below this (USD) fails the run as implausible.",
    "sector_cap_max_usd": "A sector cap above this (USD) fails the run as implausible.",
    "max_daily_move": "A ratio moving more than this factor in a day is quarantined.",
    "sql_timeout_s": (
        "Seconds a `capcover sql` query may run before it is interrupted (below "
        "`lock_budget_s`, so a run waiting for its read lock gets the file)."
    ),
    "sql_memory_limit_mb": (
        "Memory DuckDB may use for a `capcover sql` query, in MB (no spilling); the result's "
        "rows held to be printed count against it too."
    ),
    "sql_max_rows": "Most rows a `capcover sql` result may have (held in memory to print).",
    "scenario": "`[[scenario]]` tables, in the config file only (model/scenarios.toml's format).",
}


# -- the command line --------------------------------------------------------------------------


def _doc(text: str | None) -> str:
    return inspect.cleandoc(text or "").replace("\b\n", "")


def _option_row(param: Any) -> str:
    import click

    if isinstance(param, click.Argument):
        name = f"`{param.human_readable_name}`"
        kind = "argument" + (", repeatable" if param.nargs == -1 else "")
        return f"| {name} | {kind} | | |"
    names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
    if param.is_flag:
        kind = "flag"
    elif isinstance(param.type, click.Choice):
        kind = " \\| ".join(f"`{c}`" for c in param.type.choices)
    else:
        kind = f"`{param.metavar or param.type.name.upper()}`"
    default = ""
    value = param.default
    unset = value is None or type(value).__name__ == "Sentinel"  # click 8.3's UNSET
    if not param.is_flag and not unset and value != () and not callable(value):
        default = f"`{value}`"
    helptext = " ".join((param.help or "").split()).replace("|", "\\|")
    return f"| {names} | {kind} | {default} | {helptext} |"


def _commands(group: Any, path: str) -> list[tuple[str, Any]]:
    import click

    out = []
    for name in group.list_commands(click.Context(group)):
        cmd = group.get_command(click.Context(group), name)
        out.append((f"{path} {name}", cmd))
        if isinstance(cmd, click.Group):
            out += _commands(cmd, f"{path} {name}")
    return out


def cli_reference() -> str:
    """Every command and option of `capcover`, from the click tree."""
    import click

    from capcover.cli.group import cli

    blocks = [
        "## Command reference",
        "",
        "Generated from the click commands (`capcover <command> --help` says the same).",
    ]
    for path, cmd in [("capcover", cli), *_commands(cli, "capcover")]:
        ctx = click.Context(cmd, info_name=path)
        usage = " ".join(cmd.collect_usage_pieces(ctx))
        blocks += ["", f"### `{path}`", "", f"    {path} {usage}".rstrip(), "", _doc(cmd.help)]
        params = [p for p in cmd.params if not getattr(p, "hidden", False)]
        if params:
            blocks += [
                "",
                "| option | takes | default | what it does |",
                "|---|---|---|---|",
                *(_option_row(p) for p in params),
                "| `-h`, `--help` | flag | | show the help and exit |",
            ]
    return "\n".join(blocks) + "\n"


def cli_doc(current: str) -> str:
    """docs/cli.md with its generated block made from the code."""
    head, sep, rest = current.partition(BEGIN)
    if not sep:
        raise SystemExit(f"{CLI_DOC}: no '{BEGIN}' marker")
    _old, sep2, tail = rest.partition(END)
    if not sep2:
        raise SystemExit(f"{CLI_DOC}: no '{END}' marker")
    return f"{head}{BEGIN}\n{cli_reference()}{END}{tail}"


# -- the settings ------------------------------------------------------------------------------


def _bounds(field: Any) -> str:
    parts = []
    for m in field.metadata:
        for attr, sign in (
            ("gt", ">"),
            ("ge", ">="),
            ("lt", "<"),
            ("le", "<="),
            ("min_length", "items >="),
        ):
            value = getattr(m, attr, None)
            if value is not None:
                parts.append(f"{sign} {value:g}" if isinstance(value, float) else f"{sign} {value}")
    return ", ".join(parts)


def _item_bounds(name: str) -> str:
    """The range of each entry of a list setting (config/defaults.py ITEM_BOUNDS), if any."""
    from capcover.config.defaults import ITEM_BOUNDS

    bound = ITEM_BOUNDS.get(name)
    if bound is None:
        return ""
    low = f"{'>' if bound.low_open else '>='} {bound.low:g}"
    return f"each {low}, <= {bound.high:g}"


def _type(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    text = text or str(annotation)
    for noise in ("typing.", "pathlib.", "pydantic.types.", "Annotated[", ", NoDecode]"):
        text = text.replace(noise, "")
    text = re.sub(r", Interval\([^)]*\)\]", "", text)  # an item's range: in the bounds column
    text = text.replace("Literal[", "one of [").replace("SecretStr", "secret")
    return text.replace("|", "or")


def _pace(pace: Any) -> str:
    """A source's documented pace (ingest.ratelimit.Pace), used when its setting is unset."""
    if pace.per_minute is None:
        return "none: the source documents no limit"
    return f"the source's documented {pace.per_minute:g}" + (
        ", evenly spaced" if pace.spread else ""
    )


def _default(name: str, field: Any) -> str:
    from capcover.ingest import gpuhunt, runpod, vastai
    from capcover.ingest.coingecko import BASE_URLS, RATE_LIMITS

    resolved = {
        "vastai_rate_per_minute": _pace(vastai.PACE),
        "runpod_rate_per_minute": _pace(runpod.PACE),
        "gpuhunt_rate_per_minute": _pace(gpuhunt.PACE),
        "coingecko_base_url": "by plan: " + ", ".join(f"{p} `{u}`" for p, u in BASE_URLS.items()),
        "coingecko_rate_per_minute": "by plan: "
        + ", ".join(f"{p} {r:g}" for p, r in RATE_LIMITS.items()),
        "quotes_file": "`<db name>-quotes.toml` beside the warehouse",
        "publish_dir": "`published/` beside the warehouse",
        "config": "none",
        "coingecko_api_key": "none",
        "alert_urls": "none",
        "scenario": "none (the built-in scenarios)",
    }
    if name in resolved:
        return resolved[name]
    value = field.default_factory() if field.default_factory is not None else field.default
    if isinstance(value, list):
        return "`" + ",".join(str(v) for v in value) + "`" if value else "empty"
    return f"`{value}`"


def settings_reference() -> str:
    """Every setting: its environment variable, type, default (resolved), bounds, purpose."""
    from capcover.config.settings import Settings

    lines = [
        "# Settings reference",
        "",
        "<!-- Generated by scripts/docs_reference.py from config/settings.py; do not edit. -->",
        "",
        "Every setting is an environment variable `CAPCOVER_<NAME>`, or a key `<name>` in the",
        "TOML file named by `CAPCOVER_CONFIG` (the environment wins over the file, the file over",
        "the defaults). A bad value, an unknown `CAPCOVER_*` variable or an unknown file key is",
        "one line naming the setting, exit 2. `capcover config` prints the effective value of",
        "each, secrets masked.",
        "",
        "| setting | variable | type | default | bounds | what it does |",
        "|---|---|---|---|---|---|",
    ]
    missing = []
    for name, field in Settings.model_fields.items():
        note = field.description or SETTING_NOTES.get(name)
        if not note:
            missing.append(name)
            continue
        var = "(file only)" if name == "scenario" else f"`CAPCOVER_{name.upper()}`"
        cells = [
            f"`{name}`",
            var,
            _type(field.annotation),
            _default(name, field),
            _bounds(field) or _item_bounds(name),
            note,
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if missing:
        raise SystemExit(
            f"settings without a description: {', '.join(missing)} — add a line for each to "
            f"SETTING_NOTES in scripts/docs_reference.py (or a Field description)"
        )
    return "\n".join(lines) + "\n"


# -- main --------------------------------------------------------------------------------------


def expected() -> dict[Path, str]:
    current = CLI_DOC.read_text(encoding="utf-8") if CLI_DOC.exists() else f"{BEGIN}\n{END}\n"
    return {CLI_DOC: cli_doc(current), SETTINGS_DOC: settings_reference()}


def main(argv: list[str]) -> int:
    stale = []
    for path, text in expected().items():
        now = path.read_text(encoding="utf-8") if path.exists() else None
        if now != text:
            stale.append(path)
            if "--check" not in argv:
                path.write_text(text, encoding="utf-8")
    if "--check" in argv and stale:
        names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
        print(f"stale: {names} — run `python scripts/docs_reference.py`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
