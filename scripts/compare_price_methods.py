"""The H100 SXM on-demand price on the real-shape fixtures, per provider: before (method
mad3.5-median-v1 on the quote set its parsers made) and after (the current method,
provider-vote-v3).

    .venv/bin/python scripts/compare_price_methods.py [--flood N] [--json]

Runs one daily run over the fake world (fakeapi/: Vast.ai's captured book, RunPod's gpuTypes,
gpuhunt's nine catalogs, the shipped curated quotes) into a temporary warehouse, then prices
h100-rent-1y's selection both ways from the same stored quotes: the frozen v1 code path
(model/prices_v1.py, which recovers the old parsers' quote set) and the current method, whose
decisions are read from v_price_decisions. `--flood N` adds N asks at $0.50 per GPU-hour to
Vast.ai's book first. Prices are USD per GPU-hour. ILLUSTRATIVE fixture prices, not market data.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import defaultdict
from pathlib import Path

V1 = "mad3.5-median-v1+age7d/1095d"


def run_world(db: Path, flood: int) -> None:
    from datetime import UTC, datetime

    from capcover.config.settings import load_settings
    from capcover.fakeapi import gpuhunt as hunt
    from capcover.fakeapi.coingecko import CoinGecko, category_payload
    from capcover.fakeapi.gpu import FakeFeeds, FakeVast, vast_flood, vast_market
    from capcover.fakeapi.server import FakeAPI
    from capcover.flows.sequence import run_daily

    with CoinGecko() as cg, FakeAPI() as feeds_api, FakeAPI() as hunt_api:
        cg.serve(categories=category_payload(updated_at=datetime.now(UTC).isoformat()))
        feeds = FakeFeeds(feeds_api)
        if flood:
            feeds.vast = FakeVast(vast_market() + vast_flood(flood, 0.50))
        hunt_api.mount(hunt.routes(), "/gpuhunt")
        settings = load_settings(
            environ=False,
            db=db,
            coingecko_base_url=cg.base_url,
            coingecko_rate_per_minute=60000,
            vastai_base_url=feeds.vast_base_url,
            vastai_rate_per_minute=60000,
            runpod_base_url=feeds.runpod_base_url,
            runpod_rate_per_minute=60000,
            gpuhunt_base_url=hunt_api.url_for("/gpuhunt"),
            gpuhunt_providers=list(hunt.PROVIDERS),
            gpuhunt_rate_per_minute=60000,
            publish_dir=db.parent / "published",
        )
        run_daily(settings)


def compare(db: Path) -> dict:
    from capcover.model.prices import median
    from capcover.warehouse import load
    from capcover.warehouse.db import open_warehouse

    with open_warehouse(db, read_only=True) as wh:
        day = wh.scalar("SELECT max(report_date) FROM report_daily")
        old_book = load.price_book(wh, day, method=V1)
        old = old_book.get("H100", "rental_hourly", "SXM", "on_demand", as_of=day)
        new_cols, new_rows = wh.query_table(
            "SELECT quote_median_usd, quote_q1_usd, quote_q3_usd, price_quote_count,"
            " price_provider_count, price_method FROM report_daily"
            " WHERE scenario = 'h100-rent-1y'"
        )
        cols, rows = wh.query_table(
            "SELECT provider, source, kept, rule, price_usd, provider_value_usd"
            " FROM v_price_decisions WHERE scenario = 'h100-rent-1y'"
        )
    decisions = [dict(zip(cols, r, strict=True)) for r in rows]
    new = dict(zip(new_cols, new_rows[0], strict=True)) if new_rows else {}
    before: dict[str, list[float]] = defaultdict(list)
    kept_before: dict[str, list[float]] = defaultdict(list)
    for p in old.decisions if old else ():
        seller = p.point.source.removeprefix("gpuhunt/")
        before[seller].append(p.point.price_usd)
        if p.kept:
            kept_before[seller].append(p.point.price_usd)
    after: dict[str, dict] = {}
    for d in decisions:
        entry = after.setdefault(d["provider"], {"kept": 0, "value": None, "excluded": {}})
        if d["kept"]:
            entry["kept"] += 1
            entry["value"] = d["provider_value_usd"]
        else:
            entry["excluded"][d["rule"]] = entry["excluded"].get(d["rule"], 0) + 1
    providers = sorted(set(before) | set(after))
    return {
        "day": str(day),
        "before": {
            "method": old.method if old else None,
            "central_usd": old.median_usd if old else None,
            "q1_usd": old.estimate.q1_usd if old else None,
            "q3_usd": old.estimate.q3_usd if old else None,
            "quotes": old.estimate.quote_count if old else 0,
            "kept": old.estimate.kept_count if old else 0,
        },
        "after": {
            "method": new.get("price_method"),
            "central_usd": new.get("quote_median_usd"),
            "q1_usd": new.get("quote_q1_usd"),
            "q3_usd": new.get("quote_q3_usd"),
            "quotes": new.get("price_quote_count"),
            "providers": new.get("price_provider_count"),
        },
        "per_provider": {
            p: {
                "before_quotes": len(before.get(p, [])),
                "before_median_usd": median(before[p]) if before.get(p) else None,
                "before_kept_by_pooled_mad": len(kept_before.get(p, [])),
                "after_value_usd": after.get(p, {}).get("value"),
                "after_listings": after.get(p, {}).get("kept", 0),
                "after_excluded": after.get(p, {}).get("excluded", {}),
            }
            for p in providers
        },
    }


def text(result: dict) -> str:
    def usd(x):
        return "-" if x is None else f"{x:.4f}"

    lines = [
        f"H100 SXM on-demand, USD per GPU-hour, fixtures, report date {result['day']}",
        "",
        f"{'provider':<12} {'before: quotes':>14} {'median':>8} {'kept':>5}   "
        f"{'after: listings':>15} {'value':>8}  excluded (rule: n)",
    ]
    for p, r in result["per_provider"].items():
        excluded = ", ".join(f"{k}: {v}" for k, v in sorted(r["after_excluded"].items()))
        lines.append(
            f"{p:<12} {r['before_quotes']:>14} {usd(r['before_median_usd']):>8} "
            f"{r['before_kept_by_pooled_mad']:>5}   {r['after_listings']:>15} "
            f"{usd(r['after_value_usd']):>8}  {excluded}"
        )
    b, a = result["before"], result["after"]
    lines += [
        "",
        f"before: {b['method']}: pooled median {usd(b['central_usd'])} (q1 {usd(b['q1_usd'])}, "
        f"q3 {usd(b['q3_usd'])}) of {b['kept']} of {b['quotes']} quotes",
        f"after:  {a['method']}: median of {a['providers']} provider values "
        f"{usd(a['central_usd'])} (q1 {usd(a['q1_usd'])}, q3 {usd(a['q3_usd'])}), "
        f"{a['quotes']} quotes voting",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flood", type=int, default=0, help="extra Vast.ai asks at $0.50")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="capcover-compare-") as tmp:
        db = Path(tmp) / "compare.duckdb"
        run_world(db, args.flood)
        result = compare(db)
    print(json.dumps(result, indent=2) if args.json else text(result))


if __name__ == "__main__":
    main()
