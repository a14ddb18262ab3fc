"""Re-parsing the raw archive for `capcover rebuild`: split one run's archived responses into
CoinGecko's part and per-provider quote batches, and replay each batch with the provider's own
parser, so a replay makes exactly what the live run made of them (quotes and failures alike).

Every parser here is a pure function of archived records: no session, no client, no network
import (`quote_parsers` is the one registry; each live provider's `parse` is the same function).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from capcover.ingest import gpuhunt, runpod, vastai
from capcover.ingest.decode import DEFAULT_MAX_BYTES
from capcover.ingest.errors import PartialFailure
from capcover.ingest.feeds import MAX_CLOCK_SKEW_S
from capcover.ingest.models import Quarantined, Quote, RawResponse
from capcover.ingest.quotes import CuratedQuotes, QuoteBatch, parse_curated_raws
from capcover.model.depth import Depth, DepthRead, combine

Parser = Callable[[list[RawResponse]], tuple[list[Quote], list[Quarantined]]]
DepthParser = Callable[[list[RawResponse]], DepthRead]


def quote_parsers(
    *, max_skew_s: float = MAX_CLOCK_SKEW_S, max_bytes: int = DEFAULT_MAX_BYTES
) -> dict[str, Parser]:
    """`source -> parse(raws)` for every quote source a live run may have used, whatever the
    settings say now (a run that fetched gpuhunt replays even if it is switched off since).
    `max_bytes`: the body cap archived catalogs are decoded within, as when they were fetched
    (ingest/decode.py)."""
    return {
        CuratedQuotes.source: partial(parse_curated_raws, max_skew_s=max_skew_s),
        vastai.SOURCE: partial(vastai.parse_raws, max_skew_s=max_skew_s),
        runpod.SOURCE: partial(runpod.parse_raws, max_skew_s=max_skew_s),
        gpuhunt.SOURCE: partial(gpuhunt.parse_raws, max_bytes=max_bytes),
    }


# `source -> depth(raws)`: the feeds that show how many GPUs are rentable now (model/depth.py).
# A live run and a replay call the same pure functions on a feed's batch of answers.
DEPTH_PARSERS: dict[str, DepthParser] = {
    vastai.SOURCE: vastai.depth_raws,
    runpod.SOURCE: runpod.depth_raws,
    gpuhunt.SOURCE: gpuhunt.depth_raws,
}


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


def depth_of(batches: list[QuoteBatch]) -> Depth:
    """A run's depth (model/depth.py) from its quote batches: each depth feed's parser on the
    answers it received; a feed that failed, or whose answers do not read, is named as
    absent, never counted as zero."""
    reads: list[DepthRead] = []
    failed: list[str] = []
    for batch in batches:
        parse = DEPTH_PARSERS.get(batch.source)
        if parse is None:
            continue
        if batch.error:
            failed.append(batch.source)
            continue
        try:
            reads.append(parse(batch.raws))
        except Exception:  # noqa: BLE001 - a feed whose answers do not read is absent, named
            failed.append(batch.source)
    return combine(reads, failed)
