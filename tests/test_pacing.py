"""Client-side pacing (ingest/ratelimit.py): a quota per sliding minute with bursts inside it,
evenly spread sends, no limit where none is documented, a server's Retry-After held for every
session of a source. Simulated clocks: the assertions are on send times the pacer chose, never
on the wall clock."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capcover.ingest.ratelimit import RATE_HEADROOM, Pace, Pacer


class FakeTime:
    """A clock and a sleep that advances it, optionally waking late (a loaded machine)."""

    def __init__(self, late: float = 0.0, seed: int = 1) -> None:
        self.now = 0.0
        self.slept: list[float] = []
        self._late = late
        self._rng = random.Random(seed)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds + (self._rng.uniform(0, self._late) if self._late else 0.0)


def _pacer(pace: Pace, t: FakeTime) -> Pacer:
    return Pacer(pace, clock=t.clock, sleep=t.sleep)


def test_pacing_window_lets_a_burst_inside_the_quota_go_at_once():
    t = FakeTime()
    pacer = _pacer(Pace(10), t)
    waited = [pacer.acquire() for _ in range(10)]
    assert waited == [0.0] * 10 and t.slept == []  # 10 calls of a 10/min quota: no wait


def test_pacing_window_makes_the_call_past_the_quota_wait_for_the_oldest_to_leave():
    t = FakeTime()
    pacer = _pacer(Pace(10), t)
    for _ in range(10):
        pacer.acquire()
    assert pacer.next_wait() == pytest.approx(60 / RATE_HEADROOM)
    pacer.acquire()
    assert t.now == pytest.approx(60 / RATE_HEADROOM)


@settings(max_examples=60, deadline=None)
@given(
    quota=st.integers(min_value=1, max_value=40),
    gaps=st.lists(st.sampled_from([0.0, 0.0, 0.5, 3.0, 20.0, 70.0]), min_size=1, max_size=120),
    late=st.sampled_from([0.0, 0.3, 2.0]),
)
def test_pacing_window_never_sends_more_than_the_quota_in_any_minute(quota, gaps, late):
    # Any pattern of work between calls, on a machine that wakes sleepers late: no 60-second
    # window (the server's) ever holds more than the quota.
    t = FakeTime(late=late)
    pacer = _pacer(Pace(quota), t)
    sent = []
    for gap in gaps:
        pacer.acquire()
        sent.append(t.now)
        t.now += gap
    for i, start in enumerate(sent):
        assert sum(1 for s in sent[i:] if s < start + 60.0) <= quota


def test_pacing_spread_spaces_every_send_even_after_late_wakeups():
    t = FakeTime(late=0.7, seed=5)
    pacer = _pacer(Pace(60, spread=True), t)
    sent = []
    for _ in range(200):
        pacer.acquire()
        sent.append(t.now)
        t.now += random.Random(len(sent)).choice([0.0, 0.1, 2.5])
    gaps = [b - a for a, b in zip(sent, sent[1:], strict=False)]
    assert min(gaps) >= 1.0 / RATE_HEADROOM - 1e-9


def test_pacing_none_documented_never_waits():
    t = FakeTime()
    pacer = _pacer(Pace(None), t)
    assert [pacer.acquire() for _ in range(1000)] == [0.0] * 1000 and t.slept == []


def test_pacing_retry_after_holds_every_session_of_the_source_but_not_twice_the_one_that_slept():
    t = FakeTime()
    pacer = _pacer(Pace(None), t)
    hold = pacer.defer(30.0)  # a 429 with Retry-After: 30 seen by one session
    assert pacer.next_wait() == pytest.approx(30.0)  # any other session of the source waits
    t.now += 30.0  # the session that saw it slept the 30 s itself
    assert pacer.acquire(served=hold) == 0.0
    assert pacer.acquire() == 0.0  # and the hold is over for everyone


def test_pacing_pace_refuses_a_non_positive_rate():
    with pytest.raises(ValueError, match="positive"):
        Pace(0)
    assert Pace(None).describe() == "no client-side limit"
    assert "per sliding minute" in Pace(10).describe()
    assert "evenly spaced" in Pace(30, spread=True).describe()
