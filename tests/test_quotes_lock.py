"""Files written by more than one process are locked (docs/threat-model.md, "Concurrent
processes"): `capcover quotes add` reads, checks and replaces the user's quotes file under an
exclusive lock, so real processes started together all land their quotes (none lost, none
twice), an identical quote added twice at once lands once, and a reader never sees half a file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest

from capcover.ingest.curated import QuotesFileBusy, locked

ROOT = Path(__file__).resolve().parent.parent


def _add(env: dict, price: str, source: str = "Concurrent dealer") -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "capcover",
            "quotes",
            "add",
            "--sku",
            "H100",
            "--price",
            price,
            "--source",
            source,
            "--date",
            "2024-04-02",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _quotes(path: Path) -> list[dict]:
    return tomllib.loads(path.read_text(encoding="utf-8")).get("quote", [])


def test_quotes_lock_concurrent_adds_from_real_processes_lose_nothing(env, tmp_path):
    environ = {**os.environ, **env, "CAPCOVER_QUOTES_FILE": str(tmp_path / "mine.toml")}
    prices = [f"{25000 + i}" for i in range(8)]
    procs = [_add(environ, p) for p in prices]  # started together, racing for the file
    results = [(p.wait(timeout=180), *p.communicate()) for p in procs]

    for code, out, err in results:
        assert code == 0, err
        assert out.startswith("added H100 purchase quote") and err == ""
    quotes = _quotes(tmp_path / "mine.toml")
    assert sorted(str(int(q["price"])) for q in quotes) == prices  # every one, once
    text = (tmp_path / "mine.toml").read_text(encoding="utf-8")
    assert tomllib.loads(text)["version"] == len(prices)


def test_quotes_lock_the_same_quote_added_twice_at_once_lands_once(env, tmp_path):
    environ = {**os.environ, **env, "CAPCOVER_QUOTES_FILE": str(tmp_path / "mine.toml")}
    procs = [_add(environ, "26000") for _ in range(4)]
    results = [(p.wait(timeout=180), *p.communicate()) for p in procs]

    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2, 2, 2]
    refused = [err for code, _, err in results if code == 2]
    assert all("this quote is already in" in e and e.count("\n") == 1 for e in refused)
    assert len(_quotes(tmp_path / "mine.toml")) == 1


def test_quotes_lock_a_held_lock_makes_another_writer_wait_then_give_up(tmp_path):
    path = tmp_path / "mine.toml"
    with locked(path, budget_s=1):
        with pytest.raises(QuotesFileBusy, match=r"being written by another process \(waited"):
            with locked(path, budget_s=0.2):
                pass  # pragma: no cover - never entered
    with locked(path, budget_s=0.2):  # released: free again
        pass


def test_quotes_lock_readers_see_a_whole_file_while_writers_replace_it(env, tmp_path):
    """A run reads the file without the lock: the atomic replace gives it the old file or the
    new one, never part of one, while processes keep appending."""
    path = tmp_path / "mine.toml"
    environ = {**os.environ, **env, "CAPCOVER_QUOTES_FILE": str(path)}
    seen: list[int] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            if path.exists():
                seen.append(len(_quotes(path)))  # raises if it ever reads half a file
            time.sleep(0.001)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        procs = [_add(environ, f"{27000 + i}") for i in range(5)]
        assert [p.wait(timeout=180) for p in procs] == [0] * 5
    finally:
        stop.set()
        reader.join()
    assert seen and seen == sorted(seen) and max(seen) <= 5
    assert len(_quotes(path)) == 5
