"""Re-parsing the raw archive for `capcover rebuild`: split one run's archived responses into
CoinGecko's part and per-provider quote batches, and replay each batch with the provider's own
parser, so a replay makes exactly what the live run made of them (quotes and failures alike)."""

from __future__ import annotations

from collections.abc import Callable

from capcover.ingest.errors import PartialFailure
from capcover.ingest.models import Quarantined, Quote, RawResponse
from capcover.ingest.quotes import QuoteBatch

Parser = Callable[[list[RawResponse]], tuple[list[Quote], list[Quarantined]]]


def split_batches(
    raws: list[RawResponse], sources: set[str]
) -> tuple[list[RawResponse], list[tuple[str, list]]]:
    """Split one run's archive (in `seq` order) into the market part and per-provider batches.

    A live run archives CoinGecko's responses first, then each provider's `batch.raws` in
    turn; a provider's batch starts with a response of its own source and may carry helper
    responses of another (the curated file's /exchange_rates, from CoinGecko).
    """
    market: list[RawResponse] = []
    batches: list[tuple[str, list[RawResponse]]] = []
    for raw in raws:
        if raw.source in sources and (not batches or batches[-1][0] != raw.source):
            batches.append((raw.source, [raw]))
        elif batches:
            batches[-1][1].append(raw)
        else:
            market.append(raw)
    return market, batches


def replay_batch(
    source: str, parse: Parser, raws: list[RawResponse], failed_live: bool = False
) -> QuoteBatch:
    """What `ingest.quotes.collect` made of these raws: the same quotes, the same failures.

    `failed_live`: the run recorded this feed as failed. If its archived responses parse fine
    now, the live failure was in fetching (e.g. a page timed out after others had arrived), and
    the live run loaded none of them — so neither does the replay.
    """
    if failed_live:
        replayed = replay_batch(source, parse, raws)
        return replayed if replayed.error else QuoteBatch(source, raws, error="failed live")
    try:
        quotes, bad = parse(raws)
    except PartialFailure as exc:  # as collect(): failed, with the quotes that were read
        return QuoteBatch(source, raws, exc.quotes, exc.quarantined, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - mirrors collect(): a failed feed is recorded
        return QuoteBatch(source, raws, error=str(exc))
    if not quotes:
        return QuoteBatch(source, raws, [], bad, error="parsed zero quotes")
    return QuoteBatch(source, raws, quotes, bad)


def categories_of(raws: list[RawResponse]) -> list[str]:
    """The categories a run was configured with, in order: the ones it paged."""
    seen: list[str] = []
    for r in raws:
        cid = r.params.get("category") if r.endpoint == "/coins/markets" else None
        if cid and cid not in seen:
            seen.append(cid)
    return seen
