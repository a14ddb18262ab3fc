"""The command line's own stdout and stderr: secrets scrubbed, a closed pipe treated as /dev/null.

`capcover run | head -1`: `head` exits after one line, and the next write to stdout raises
EPIPE. The reader leaving is its choice, not a failure of the command: from then on stdout goes
to /dev/null, the command finishes its work (a run commits, a query's answer is complete) and
exits with its own code, with nothing on stderr. Before this, a run that had committed exited
1 as if it had failed.

Every text written to either stream (click, rich, print) is also scrubbed of registered
secrets (config/secrets.py).
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Any, TextIO

from capcover.config.secrets import scrub


class GuardedStream:
    """A text stream that scrubs what is written to it and, for stdout, swallows EPIPE by
    pointing the file descriptor at /dev/null. Everything else is the wrapped stream's."""

    def __init__(self, stream: TextIO, *, quiet_on_epipe: bool) -> None:
        self._stream = stream
        self._quiet = quiet_on_epipe
        self.reader_left = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def _closed_pipe(self, exc: OSError) -> None:
        if not self._quiet or exc.errno != errno.EPIPE:
            raise exc
        self.reader_left = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass  # no file descriptor (a test's capture): writes are dropped below

    def write(self, text: str) -> int:
        if self.reader_left:
            try:
                self._stream.write(text)
            except OSError:
                pass
            return len(text)
        try:
            return self._stream.write(scrub(text))
        except OSError as exc:
            self._closed_pipe(exc)
            return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            if self.reader_left:
                return
            self._closed_pipe(exc)
            try:
                self._stream.flush()  # what was buffered now goes to /dev/null
            except OSError:
                pass


def guard_streams() -> GuardedStream:
    """Wrap sys.stdout and sys.stderr once (idempotent); returns the stdout guard."""
    if not isinstance(sys.stdout, GuardedStream):
        sys.stdout = GuardedStream(sys.stdout, quiet_on_epipe=True)
    if not isinstance(sys.stderr, GuardedStream):
        sys.stderr = GuardedStream(sys.stderr, quiet_on_epipe=False)
    return sys.stdout
