"""Text from outside in the command line's own channels (docs/threat-model.md, "Output
channels"): a server's error body, a category id or any logged value holding terminal control
sequences (ANSI escapes, OSC 8 links, CR that rewrites a line, BEL, bidi overrides, zero-width
characters, line separators) reaches stderr as one visible line and the logs as data, never as
a command to the terminal. The report renderers (tables, CSV, Markdown, HTML, alerts) are the
readable helper's and are tested there.
"""

from __future__ import annotations

import logging
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capcover.cli.main import main
from capcover.config.secrets import defang
from capcover.fakeapi import Reply
from capcover.fakeapi.coingecko import API, category_payload

SEQUENCES = [
    "\x1b[31mRED\x1b[0m",
    "\x1b[2J\x1b[H",  # clear the screen
    "\x1b]8;;https://evil.example\x07click\x1b]8;;\x07",  # an OSC 8 hyperlink
    "ok\rcapcover: all good",  # CR: the line rewritten
    "\x07",
    "\u202egnp.exe",  # right-to-left override
    "a\u200bb",
    "line\u2028two",
    "\x00\x7f\x9b",
]
HOSTILE = st.one_of(
    st.sampled_from(SEQUENCES),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30),
    st.lists(st.sampled_from(SEQUENCES), min_size=1, max_size=3).map("".join),
)
BAD = {"Cc", "Cf", "Zl", "Zp"}


def _visible(text: str, *, keep: str = "") -> bool:
    return not any(unicodedata.category(c) in BAD and c not in keep for c in text)


@settings(derandomize=True, deadline=None, max_examples=300)
@given(text=HOSTILE)
def test_hostile_text_defang_leaves_nothing_a_terminal_acts_on(text):
    shown = defang(text)
    assert _visible(shown)
    assert defang(shown) == shown  # already visible: unchanged
    if text.isprintable():
        assert shown == text  # ordinary text, accents and CJK included, is left alone


PROPERTY = settings(
    derandomize=True,
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@PROPERTY
@given(text=HOSTILE)
def test_hostile_text_a_servers_error_body_reaches_stderr_as_one_visible_line(
    fake_cg, env, capsys, text
):
    fake_cg.clear()
    fake_cg.add(
        API + "/coins/categories",
        Reply(raw=f"upstream says {text}", status=404, content_type="text/plain"),
    )
    assert main(["run"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("capcover: error: run failed: coingecko /coins/categories: HTTP 404")
    assert err.count("\n") == 1 and err.endswith("\n")
    assert _visible(err, keep="\n")


@PROPERTY
@given(text=HOSTILE.filter(lambda t: t.strip()))
def test_hostile_text_an_upstream_id_in_an_error_is_one_visible_line(fake_cg, env, capsys, text):
    twice = {**category_payload()[1], "id": text}
    fake_cg.clear()
    fake_cg.add(API + "/coins/categories", [*category_payload(), twice, twice])
    assert main(["run"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and _visible(err, keep="\n")
    assert "is listed twice" in err or "run failed" in err


@settings(derandomize=True, deadline=None, max_examples=200)
@given(text=HOSTILE, logger=st.sampled_from(["capcover", "urllib3", "prefect.flow_runs", "x"]))
def test_hostile_text_log_records_hold_no_control_sequences(text, logger):
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    log = logging.getLogger(logger)
    log.addHandler(handler)
    old = log.level
    log.setLevel(logging.INFO)
    try:
        log.warning("quote feed failed: %s", text)
    finally:
        log.removeHandler(handler)
        log.setLevel(old)
    (record,) = records
    assert _visible(record.getMessage(), keep="\n\t")
