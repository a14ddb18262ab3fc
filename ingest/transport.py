"""What one HTTP attempt may cost: a wall-clock deadline over connect, headers and the whole
body, and a cap on the decoded body size.

A read timeout bounds each socket read, not the response: a server that drips one byte a
second never trips it. So every attempt runs under a `Deadline`, and the session's one
`DeadlineWatch` thread shuts the attempt's sockets down when it passes, which wakes any read
blocked on them. The sockets are known because the session mounts `TrackedAdapter`, whose
connections report each socket they open or reuse to the deadline of the thread using them.
The watch thread runs only while some attempt is pending (one per session, not a timer thread
per attempt).
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
import zlib
from typing import TYPE_CHECKING, Any

import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

if TYPE_CHECKING:
    from urllib3._base_connection import BaseHTTPConnection

CHUNK = 64 * 1024  # decoded bytes per read: bounds memory per step, whatever the compression

_current = threading.local()  # the Deadline of the attempt running on this thread


class BodyTooLarge(Exception):
    """The decoded body passed the configured cap."""


class DeadlineExpired(Exception):
    """The attempt's wall-clock deadline passed."""


class DeadlineWatch:
    """One thread that expires the deadlines of a session's attempts, in order. It starts with
    the first pending deadline and ends when none is left (an idle session holds no thread)."""

    def __init__(self, name: str = "capcover-deadlines") -> None:
        self.name = name
        self._cond = threading.Condition()
        self._pending: list[tuple[float, int, Deadline]] = []  # (due, order, deadline) heap
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, deadline: Deadline) -> None:
        with self._cond:
            heapq.heappush(self._pending, (deadline.due, next(self._order), deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            else:
                self._cond.notify()

    def remove(self, deadline: Deadline) -> None:
        with self._cond:
            deadline.active = False  # popped lazily; the thread ends once only these remain
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._pending and not self._pending[0][2].active:
                    heapq.heappop(self._pending)
                if not self._pending:
                    self._thread = None
                    return
                due, _, deadline = self._pending[0]
                left = due - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                heapq.heappop(self._pending)
                deadline.expire()


class Deadline:
    """Within `with Deadline(seconds, watch):`, sockets opened or reused on this thread are
    shut down when `seconds` have passed (real time: the point is to unblock a real socket)."""

    def __init__(self, seconds: float, watch: DeadlineWatch | None = None) -> None:
        self.seconds = max(0.0, seconds)
        self.expired = False
        self.active = False
        self.due = 0.0
        self._watch = watch if watch is not None else DeadlineWatch()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if self.expired:
                _shut(sock)
            else:
                self._sockets.append(sock)

    def expire(self) -> None:
        with self._lock:
            if not self.active:
                return
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def check(self) -> None:
        if self.expired:
            raise DeadlineExpired

    def __enter__(self) -> Deadline:
        self._previous = getattr(_current, "deadline", None)
        _current.deadline = self
        self.due = time.monotonic() + self.seconds
        self.active = True
        self._watch.add(self)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.active = False
        self._watch.remove(self)
        _current.deadline = self._previous


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


def _watch(sock: socket.socket | None) -> None:
    deadline = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.watch(sock)


class _Conn(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)
        return sock


class _SConn(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)
        return sock


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Conn

    def _get_conn(self, timeout: float | None = None) -> BaseHTTPConnection:  # a kept-alive one
        conn = super()._get_conn(timeout)
        _watch(getattr(conn, "sock", None))
        return conn


class _SPool(HTTPSConnectionPool):
    ConnectionCls = _SConn

    def _get_conn(self, timeout: float | None = None) -> BaseHTTPConnection:
        conn = super()._get_conn(timeout)
        _watch(getattr(conn, "sock", None))
        return conn


class TrackedAdapter(HTTPAdapter):
    """requests' adapter with no retries of its own and connections a `Deadline` can shut."""

    def __init__(self) -> None:
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _SPool}


def read_body(raw: urllib3.response.HTTPResponse, *, max_bytes: int, deadline: Deadline) -> bytes:
    """The decoded body, read `CHUNK` bytes at a time; `BodyTooLarge` past `max_bytes`,
    `DeadlineExpired` when the deadline fired (a shut socket reads as an early end)."""
    parts: list[bytes] = []
    total = 0
    try:
        while True:
            deadline.check()
            chunk = raw.read1(CHUNK, decode_content=True)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise BodyTooLarge
            parts.append(chunk)
    except (urllib3.exceptions.HTTPError, OSError, zlib.error):
        deadline.check()
        raise
    deadline.check()
    return b"".join(parts)
