"""How every room quotes an exception in a one-line message: `one_line(exc)`.

Imports nothing of capcover's rooms (an import contract checks it), so any of them may use it.
"""

from __future__ import annotations


def one_line(exc: BaseException, limit: int = 500) -> str:
    """The first non-blank line of `exc`'s message, stripped, at most `limit` characters; the
    exception's type name when its message is blank. A multi-line message (a TOML error quoting
    the file, a DuckDB error with its context, a traceback in a server's answer) never breaks the
    one line a person reads."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()[:limit].rstrip()
    return type(exc).__name__[:limit]
