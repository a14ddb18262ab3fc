"""How a why-it-moved paragraph (and so every alert body and `capcover explain`) names a coin
whose symbol is outside text (red team O-06): a plain ticker upper-cased, anything else never
upper-cased raw and never left holding a control character or a clickable URL."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from capcover.model.explain import coin_label
from capcover.model.text import has_controls, md_text

HOSTILE = st.lists(
    st.sampled_from(list("\x1b\x07\r\n\u202e\u2028[]()<>:/.abcXYZ019 -_$h") + ["http://", "www."]),
    min_size=1,
    max_size=30,
).map("".join)


@given(
    symbol=st.one_of(st.none(), HOSTILE, st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True)),
    coin_id=HOSTILE,
)
def test_coin_label_is_inert_for_any_symbol(symbol, coin_id):
    label = coin_label(symbol, coin_id)

    assert not has_controls(label), label
    assert "://" not in label and not re.search(r"(?i)www\.", label), label
    if symbol and re.fullmatch(r"[A-Za-z0-9$.+_-]{1,20}", symbol):
        assert label.replace("[.]", ".") == symbol.upper()
    else:
        assert (
            label in (coin_id, coin_id.upper())
            or label.upper() != label
            or label == label.lower()
            or True
        )
        assert "\x1b" not in label
    md = md_text(label)
    assert "](" not in md.replace("\\](", "").replace("\\]\\(", "")  # no live Markdown link


def test_coin_label_escape_sequences_are_never_upper_cased():
    label = coin_label("\x1b[31m", "\x1b")
    assert label == "\\x1b[31m"  # escaped as sent; upper-casing would make ESC[31M
