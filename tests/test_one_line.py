"""`capcover.errors.one_line`: the one way every room quotes an exception in a one-line message."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capcover.errors import one_line


@given(message=st.text(), limit=st.integers(1, 600))
def test_one_line_is_one_nonblank_line_within_the_limit(message, limit):
    text = one_line(ValueError(message), limit)
    assert text and text == text.strip() and len(text) <= limit
    assert text.splitlines() == [text]
    first = [line.strip() for line in message.splitlines() if line.strip()]
    assert text == (first[0][:limit].rstrip() if first else "ValueError"[:limit])


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ValueError("bad value\n  at line 3"), "bad value"),
        (ValueError("\n\n  second line first  \nthird"), "second line first"),
        (KeyError(), "KeyError"),
        (OSError(" \n\t"), "OSError"),
        (RuntimeError("x" * 900), "x" * 500),
    ],
)
def test_one_line_examples(exc, expected):
    assert one_line(exc) == expected
