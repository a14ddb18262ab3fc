"""A run's feed quotes are one snapshot of one day (flows/sequence.py `one_snapshot_day`).

The class: any set of feeds answering at any times within a run, on either side of midnight.
Every feed quote ends up dated the day of the run's first answer, no quote moves earlier than
that answer, quotes of feeds that all answered on that day are untouched, and the curated
file's quotes (their published dates) never move (red team N6: a run starting at 23:59:57
priced its report from Vast.ai alone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from capcover.flows.sequence import one_snapshot_day
from capcover.ingest.models import Quote
from capcover.ingest.quotes import QuoteBatch
from tests.helpers import raw_get

MIDNIGHT = datetime(2026, 12, 6, tzinfo=UTC)
FEEDS = ("vastai", "runpod", "gpuhunt/aws", "gpuhunt/gcp")


def _quote(source: str, at: datetime) -> Quote:
    return Quote(
        observed_at=at,
        source=source,
        kind="rental_hourly",
        sku_label="H100 SXM",
        sku="H100",
        form_factor="SXM",
        price_raw=2.0,
        price_unit="USD/GPU-hour",
        price_usd=2.0,
        tier="on_demand",
    )


def _batch(source: str, at: datetime, n: int = 2) -> QuoteBatch:
    return QuoteBatch(
        source=source,
        raws=[raw_get(source, "/x", "{}", fetched_at=at)],
        quotes=[_quote(source, at) for _ in range(n)],
    )


@given(st.lists(st.integers(-600, 600), min_size=1, max_size=len(FEEDS)))
def test_snapshot_day_every_feed_quote_is_dated_the_day_of_the_first_answer(seconds):
    times = [MIDNIGHT + timedelta(seconds=s) for s in seconds]
    curated = QuoteBatch(
        source="curated", raws=[], quotes=[_quote("RT curated", MIDNIGHT + timedelta(days=3))]
    )
    batches = [_batch(f, t) for f, t in zip(FEEDS, times, strict=False)] + [curated]
    first = min(times)
    out = one_snapshot_day(batches)
    for before, after in zip(batches, out, strict=True):
        assert after.source == before.source and after.raws == before.raws
        if before.source == "curated":
            assert after.quotes == before.quotes
            continue
        for q_before, q_after in zip(before.quotes, after.quotes, strict=True):
            assert q_after.observed_date == first.date()
            assert q_after.observed_at >= first
            if q_before.observed_date == first.date():
                assert q_after == q_before


def test_snapshot_day_a_run_across_midnight_prices_from_all_its_feeds():
    batches = [
        _batch("vastai", MIDNIGHT - timedelta(seconds=3)),
        _batch("runpod", MIDNIGHT + timedelta(seconds=1)),
        _batch("gpuhunt/aws", MIDNIGHT + timedelta(seconds=1)),
    ]
    out = one_snapshot_day(batches)
    assert {q.observed_date for b in out for q in b.quotes} == {(MIDNIGHT - timedelta(1)).date()}


def test_snapshot_day_no_feed_answered_leaves_the_batches_as_they_are():
    curated = QuoteBatch(source="curated", raws=[], quotes=[_quote("RT", MIDNIGHT)])
    assert one_snapshot_day([curated]) == [curated]
    assert one_snapshot_day([]) == []
