"""Secrets (API keys, alert URLs): checked when settings load, then scrubbed in every form.

Three parts, one rule each (docs/threat-model.md, "Secrets"):

- `clean_key`, `clean_url`: a secret's text at load time. Whitespace around it (the newline a
  Kubernetes secret file ends with, the CR of a CRLF env file) is removed; a control character
  or whitespace inside, a non-ASCII key or a key of an implausible length is refused with a
  message that says where and what, never the value.
- the registry: every configured secret is registered once (`register_key`, `register_url`;
  settings loading, the HTTP layer and the alert channels call them).
- `scrub(text)`: every registered secret replaced by `[redacted]`, whatever form it has taken
  on its way: as is or in another letter case; with characters escaped as JSON, JavaScript or
  Python write them (`\\u0043`, `\\x43`, `\\/`), percent-encoded, as HTML character references,
  and any of these up to three levels deep (repr() of a JSON escape, a percent-encoded percent
  sign); in a compatibility form of its characters (NFKC: fullwidth `ＣＧ-`, ligatures,
  superscripts); base64 (standard and URL-safe, any alignment) or base32 (any alignment) of the
  whole secret; hex of its UTF-8, UTF-16 or UTF-32 bytes (either byte order); reversed; ROT13;
  and for keys, any run of `WINDOW` consecutive characters of it in the escaped, encoded and
  NFKC forms (an echo cut short). Not covered (docs/threat-model.md, S2): a secret split by a
  line break or other characters, pieces shorter than `WINDOW`, and any other transformation
  (an encoding of an encoding other than the escapes above, other ciphers, compression). The
  error texts of the HTTP layer, every string the warehouse stores, every log record and every
  line the command line prints pass through it.

Pure string work and the log-record factory; importing it loads nothing heavy.
"""

from __future__ import annotations

import base64
import bisect
import logging
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

REDACTED = "[redacted]"
MIN_KEY_LENGTH = 8  # shorter could not be told apart from ordinary text when scrubbing
MAX_KEY_LENGTH = 256
# A key like "00000000" could not be told apart from ordinary text (numbers, padding): scrubbing
# it would mangle every output. Real keys are random.
MIN_DISTINCT = 6
WINDOW = 12  # a run of this many consecutive characters of a key is scrubbed too

# -- load time ---------------------------------------------------------------------------------


def _describe(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" {name}" if name else "")


def _first_bad(value: str, *, ascii_only: bool, spaces_ok: bool = False) -> tuple[int, str] | None:
    """(position, what) of the first character a secret may not hold inside it."""
    for i, ch in enumerate(value, start=1):
        if ch == " " and spaces_ok:
            continue
        if ch.isspace():
            return i, f"whitespace ({_describe(ch)})"
        if unicodedata.category(ch)[0] == "C":
            return i, f"a control or invisible character ({_describe(ch)})"
        if ascii_only and not (0x21 <= ord(ch) <= 0x7E):
            return i, "a non-ASCII character"
    return None


def clean_key(value: str) -> str:
    """An API key as it will be sent: surrounding whitespace removed. ValueError (never
    quoting the value) when what is left holds whitespace, a control character or a non-ASCII
    character, or is not 8..256 characters long."""
    stripped = value.strip()
    bad = _first_bad(stripped, ascii_only=True)
    if bad is not None:
        pos, what = bad
        raise ValueError(
            f"contains {what} at character {pos} of {len(stripped)} (after removing "
            "surrounding whitespace); a key is printable ASCII without spaces — copy it again"
        )
    if not MIN_KEY_LENGTH <= len(stripped) <= MAX_KEY_LENGTH:
        raise ValueError(
            f"is {len(stripped)} characters long; a key has {MIN_KEY_LENGTH} to "
            f"{MAX_KEY_LENGTH} (CoinGecko's have 27) — copy it again"
        )
    if len(set(stripped)) < MIN_DISTINCT:
        raise ValueError(
            f"has only {len(set(stripped))} different characters; a real key has at least "
            f"{MIN_DISTINCT} — copy it again"
        )
    return stripped


def clean_url(value: str) -> str:
    """A URL setting's text: surrounding whitespace removed; ValueError (never quoting the
    URL) for whitespace or a control character inside it."""
    stripped = value.strip()
    bad = _first_bad(stripped, ascii_only=False)
    if bad is not None:
        pos, what = bad
        raise ValueError(
            f"contains {what} at character {pos} of {len(stripped)}; percent-encode it or fix "
            "the URL"
        )
    return stripped


def check_name(value: str, *, spaces_ok: bool) -> None:
    """ValueError when a name setting (a category id, a GPU name) holds a control character,
    or whitespace (other than plain spaces when `spaces_ok`)."""
    bad = _first_bad(value, ascii_only=False, spaces_ok=spaces_ok)
    if bad is not None:
        pos, what = bad
        raise ValueError(f"contains {what} at character {pos} of {len(value)}")


# -- the registry ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Secret:
    value: str
    needles: tuple[str, ...]  # lower-cased forms searched in the decoded text
    windows: bool  # also any WINDOW-long run of `value`
    exact: tuple[str, ...]  # base64 forms, searched as they are (case matters)
    hexes: tuple[str, ...]  # hex forms, lower case


_lock = threading.Lock()
_registry: dict[str, _Secret] = {}
_snapshot: tuple[_Secret, ...] = ()


def _base64_forms(value: str) -> tuple[str, ...]:
    """The base64 text of `value` at each of the three alignments a surrounding message can
    put it in: only the characters that depend on the secret alone."""
    raw = value.encode("utf-8")
    forms = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode("ascii").rstrip("=")
        first = -(-8 * shift // 6)  # ceil: characters touched by the padding bytes
        last = (8 * (shift + len(raw))) // 6  # characters wholly inside the secret
        middle = encoded[first:last]
        if len(middle) >= MIN_KEY_LENGTH:
            forms.add(middle)
            forms.add(middle.replace("+", "-").replace("/", "_"))
    return tuple(sorted(forms, key=len, reverse=True))


def _base32_forms(value: str) -> tuple[str, ...]:
    """The base32 text of `value` at each of the five alignments (5-byte groups), lower-cased:
    only the characters that depend on the secret alone."""
    raw = value.encode("utf-8")
    forms = set()
    for shift in range(5):
        encoded = base64.b32encode(b"\0" * shift + raw).decode("ascii").rstrip("=")
        first = -(-8 * shift // 5)  # ceil: characters touched by the padding bytes
        last = (8 * (shift + len(raw))) // 5  # characters wholly inside the secret
        middle = encoded[first:last]
        if len(middle) >= MIN_KEY_LENGTH:
            forms.add(middle.lower())
    return tuple(sorted(forms, key=len, reverse=True))


_HEX_CODECS = ("utf-8", "utf-16-be", "utf-16-le", "utf-32-be", "utf-32-le")
_ROT13 = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm",
)


def _make(value: str, *, windows: bool, extra: Iterable[str] = ()) -> _Secret:
    whole = [value, value[::-1], value.translate(_ROT13)]  # as is, reversed, ROT13
    needles = {
        *(_lower(w) for w in whole),
        *(_lower(e) for e in extra if len(e) >= MIN_KEY_LENGTH),
        *_base32_forms(value),
    }
    return _Secret(
        value=value,
        needles=tuple(sorted(needles, key=len, reverse=True)),
        windows=windows and len(value) > WINDOW,
        exact=_base64_forms(value),
        hexes=tuple(value.encode(codec).hex() for codec in _HEX_CODECS),
    )


def _add(secret: _Secret) -> None:
    global _snapshot
    with _lock:
        if secret.value in _registry:
            return
        _registry[secret.value] = secret
        _snapshot = tuple(_registry.values())
    _install_log_scrubber()


def register_key(value: str | None) -> None:
    """Scrub `value` (an API key, a credential header's value) everywhere from now on.
    Values shorter than MIN_KEY_LENGTH are not registered (settings refuse such keys)."""
    if value and len(value) >= MIN_KEY_LENGTH:
        _add(_make(value, windows=True))


def register_url(url: str | None) -> None:
    """Scrub an alert URL from now on: the whole URL, without its scheme, and the parts that
    carry its secret (user and password, the path with query and fragment)."""
    if not url or len(url) < MIN_KEY_LENGTH:
        return
    rest = url.split("://", 1)[-1]
    parts = [rest]
    try:
        split = urlsplit(url)
        parts += [split.password or "", split.username or ""]
        tail = url[url.find(split.netloc) + len(split.netloc) :] if split.netloc else ""
        parts.append(tail)
        parts.append(split.netloc.rsplit("@", 1)[0] if "@" in split.netloc else "")
    except ValueError:
        pass
    _add(_make(url, windows=False, extra=[p for p in parts if p and p != url]))


def registered() -> tuple[str, ...]:
    """The registered secret values (for tests)."""
    return tuple(s.value for s in _snapshot)


@contextmanager
def isolated() -> Iterator[None]:
    """Within the block, secrets registered are forgotten again at its end (tests that draw
    many keys keep them from scrubbing each other's text)."""
    global _snapshot
    with _lock:
        saved = dict(_registry)
    try:
        yield
    finally:
        with _lock:
            _registry.clear()
            _registry.update(saved)
            _snapshot = tuple(_registry.values())


# -- scrubbing ---------------------------------------------------------------------------------

# One escaped or encoded character, one level deep: backslash escapes (JSON, JavaScript,
# Python), percent-encoding, HTML character references. Deeper encodings (repr() of a JSON
# escape, a percent-encoded percent sign) are decoded by decoding again (`LEVELS`).
_TOKEN = re.compile(
    r"\\(?:u\{([0-9a-fA-F]{1,6})\}|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|x([0-9a-fA-F]{2})"
    r"|([\"'\\/bfnrtv0]))"
    r"|%([0-9a-fA-F]{2})"
    r"|&#[xX]([0-9a-fA-F]{1,6});|&#([0-9]{1,7});|&(amp|quot|apos|lt|gt);",
    re.DOTALL,
)
LEVELS = 3  # decode at most this many times over
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
_NAMED = {"amp": "&", "quot": '"', "apos": "'", "lt": "<", "gt": ">"}
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _lower(text: str) -> str:
    lowered = text.lower()
    # Only ASCII letters fold: str.lower() may change a text's length (U+0130), and positions
    # must stay those of the text.
    if len(lowered) == len(text) and lowered.isascii():
        return lowered
    return text.translate(_ASCII_LOWER)


def _char(m: re.Match[str]) -> str:
    brace, u4, u8, x2, simple, pct, hexref, decref, named = m.groups()
    code = brace or u4 or u8 or x2 or pct or hexref
    if code is not None:
        number = int(code, 16)
    elif decref is not None:
        number = int(decref)
    elif named is not None:
        return _NAMED[named]
    else:
        return _SIMPLE.get(simple, simple)
    return chr(number) if number <= 0x10FFFF else "\ufffd"


class _Decoded:
    """`text` with its escapes decoded once, and the way back from its positions to the
    text's."""

    def __init__(self, text: str) -> None:
        self.text = text
        pieces: list[str] = []
        self.starts: list[int] = []  # decoded position where each segment starts
        self.segments: list[tuple[int, int, bool]] = []  # (text start, text end, escaped)
        pos = decoded = 0
        for m in _TOKEN.finditer(text):
            if m.start() > pos:
                self.starts.append(decoded)
                self.segments.append((pos, m.start(), False))
                pieces.append(text[pos : m.start()])
                decoded += m.start() - pos
            self.starts.append(decoded)
            self.segments.append((m.start(), m.end(), True))
            pieces.append(_char(m))
            decoded += 1
            pos = m.end()
        self.any = bool(self.segments)
        if pos < len(text):
            self.starts.append(decoded)
            self.segments.append((pos, len(text), False))
            pieces.append(text[pos:])
        self.decoded = "".join(pieces) if self.any else text

    def to_text(self, start: int, end: int) -> tuple[int, int]:
        """The text span of the decoded span [start, end)."""
        if not self.any:
            return start, end
        i = bisect.bisect_right(self.starts, start) - 1
        j = bisect.bisect_right(self.starts, end - 1) - 1
        s0, _s1, esc = self.segments[i]
        a = s0 if esc else s0 + (start - self.starts[i])
        t0, t1, esc = self.segments[j]
        b = t1 if esc else t0 + (end - 1 - self.starts[j]) + 1
        return a, b


_SURROGATE = re.compile("[\ud800-\udfff]")


class _Folded:
    """`text` with each character replaced by its NFKC compatibility form (fullwidth `Ｃ` is
    `C`, MATHEMATICAL BOLD `𝟎` is `0`; a surrogate pair a JSON escape left is one character),
    and the way back from its positions to the text's (`_Decoded`'s interface)."""

    def __init__(self, text: str) -> None:
        pieces: list[str] = []
        self.origin: list[tuple[int, int]] = []  # folded position -> text span
        i = 0
        while i < len(text):
            ch, width = text[i], 1
            if (
                "\ud800" <= ch < "\udc00"
                and i + 1 < len(text)
                and "\udc00" <= text[i + 1] <= "\udfff"
            ):
                ch = chr(0x10000 + ((ord(ch) - 0xD800) << 10) + (ord(text[i + 1]) - 0xDC00))
                width = 2
            folded = ch if ch.isascii() else unicodedata.normalize("NFKC", ch)
            pieces.append(folded)
            self.origin.extend([(i, i + width)] * len(folded))
            i += width
        self.decoded = "".join(pieces)

    def to_text(self, start: int, end: int) -> tuple[int, int]:
        return self.origin[start][0], self.origin[end - 1][1]


def _folds(text: str) -> _Folded | None:
    """The NFKC-folded text when folding changes it, else None (ASCII text never changes)."""
    if text.isascii():
        return None
    if unicodedata.is_normalized("NFKC", text) and not _SURROGATE.search(text):
        return None
    return _Folded(text)


def _levels(text: str) -> list[_Decoded]:
    """The text decoded once, twice, ... while decoding still changes something."""
    levels = [_Decoded(text)]
    while levels[-1].any and len(levels) < LEVELS:
        levels.append(_Decoded(levels[-1].decoded))
    return [level for level in levels if level.any]


def _find_all(haystack: str, needle: str) -> Iterable[int]:
    at = haystack.find(needle)
    while at != -1:
        yield at
        at = haystack.find(needle, at + 1)


def _spans(haystack: str, secret: _Secret) -> list[tuple[int, int]]:
    """Spans of `haystack` (already lower-cased) holding the secret, decoded forms only."""
    found = []
    for needle in secret.needles:
        found += [(at, at + len(needle)) for at in _find_all(haystack, needle)]
    if secret.windows:
        value = _lower(secret.value)
        for offset in range(len(value) - WINDOW + 1):
            for at in _find_all(haystack, value[offset : offset + WINDOW]):
                # Grow the run both ways while it still follows the key.
                lo, k = at, offset
                while lo > 0 and k > 0 and haystack[lo - 1] == value[k - 1]:
                    lo, k = lo - 1, k - 1
                hi, k = at + WINDOW, offset + WINDOW
                while hi < len(haystack) and k < len(value) and haystack[hi] == value[k]:
                    hi, k = hi + 1, k + 1
                found.append((lo, hi))
    return found


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def scrub(text: str, extra: Iterable[str] = ()) -> str:
    """`text` with every registered secret (and every value of `extra`, treated as keys)
    replaced by `[redacted]`, in any of the forms listed in the module docstring."""
    secrets = _snapshot
    more = [v for v in extra if v and v not in _registry]
    if more:
        secrets = secrets + tuple(_make(v, windows=True) for v in more)
    if not secrets or not text:
        return text
    plain = _lower(text)
    # Every text searched, with the chain of maps back to the text's positions: the decoded
    # levels, and the NFKC fold of the text and of each level where folding changes it.
    levels = _levels(text)
    Step = _Decoded | _Folded
    chains: list[list[Step]] = [list[Step](levels[: depth + 1]) for depth in range(len(levels))]
    for chain in [[], *chains]:
        fold = _folds(chain[-1].decoded if chain else text)
        if fold is not None:
            chains.append([*chain, fold])
    haystacks = [(_lower(chain[-1].decoded), chain) for chain in chains]
    spans: list[tuple[int, int]] = []
    for secret in secrets:
        spans += _spans(plain, secret)
        for haystack, chain in haystacks:
            for a, b in _spans(haystack, secret):
                for step in reversed(chain):  # back to the text's positions
                    a, b = step.to_text(a, b)
                spans.append((a, b))
        for form in secret.exact:
            spans += [(at, at + len(form)) for at in _find_all(text, form)]
        for form in secret.hexes:
            spans += [(at, at + len(form)) for at in _find_all(plain, form)]
    if not spans:
        return text
    out = []
    pos = 0
    for start, end in _merge(spans):
        out.append(text[pos:start])
        out.append(REDACTED)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def scrub_value(value: object) -> object:
    """`value` with every string in it scrubbed (lists, tuples and dict values too); other
    values as they are. Used on the parameters of every warehouse write."""
    if not _snapshot:
        return value
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [scrub_value(v) for v in value]
    if isinstance(value, tuple):
        return tuple(scrub_value(v) for v in value)
    if isinstance(value, dict):
        return {k: scrub_value(v) for k, v in value.items()}
    return value


def defang(text: str, *, keep: str = "") -> str:
    """`text` with every control, format and line-separator character (ANSI escapes, CR, BEL,
    bidi overrides, zero-width characters, U+2028) written as a visible escape (`\\x1b`,
    `\\u202e`), except those in `keep`: text from outside shown on a terminal or in a log is
    data, never a command to the terminal."""
    if text.isprintable():
        return text
    if keep and text.translate({ord(c): None for c in keep}).isprintable():
        return text  # only the kept characters (a multi-line log message): nothing to do
    out = []
    for ch in text:
        if ch in keep or ch.isprintable() or ch == " ":
            out.append(ch)
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def active() -> bool:
    """Whether any secret is registered (scrubbing is a no-op until then)."""
    return bool(_snapshot)


# -- log records -------------------------------------------------------------------------------

_installed = False


def _install_log_scrubber() -> None:
    """Every log record made from now on (any logger: capcover's, urllib3's, Prefect's,
    Apprise's) carries its message, traceback and stack already formatted, scrubbed and
    defanged, so no handler, formatter or remote log sink sees a registered secret or a raw
    terminal control sequence."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
        previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record: keep its raw text, scrubbed
            message = str(record.msg)
        # Scrubbed of secrets, and no terminal control sequence from outside text (newlines
        # and tabs of multi-line messages stay).
        record.msg, record.args = defang(scrub(message), keep="\n\t"), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            clean = scrub(record.exc_text)
            if clean != record.exc_text:
                # The traceback held a secret: keep only its scrubbed text (formatters use
                # exc_text when it is set; a handler reading exc_info itself gets nothing).
                record.exc_text, record.exc_info = clean, None
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return record

    logging.setLogRecordFactory(factory)


# Installed when this module is first imported (every command loads its settings through it),
# so that log records are defanged (and scrubbed, once a secret is registered) from the start.
_install_log_scrubber()
