"""Every file capcover reads follows one rule (config/files.py; red team F-03, F-07, F-08,
F-10): a regular UTF-8 file within a size cap, parsed without a RecursionError. A FIFO, a
device, a directory, a socket, an oversized, a non-UTF-8 or a deeply nested file is refused at
once in one line naming the file and what to do: the config file exits 2, the user's quotes
file leaves the curated feed failed while the run goes on, `quotes add` exits 2."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capcover.cli.main import main
from capcover.config import files
from capcover.config.files import FileRefused, read_text, read_toml

KINDS = ["fifo", "devzero", "devurandom", "directory", "socket", "huge", "not_utf8", "deep"]


def _make(kind: str, folder: Path) -> Path:
    path = folder / f"{kind}.toml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "devzero":
        path.symlink_to("/dev/zero")
    elif kind == "devurandom":
        path.symlink_to("/dev/urandom")
    elif kind == "directory":
        path.mkdir()
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()
    elif kind == "huge":
        path.write_bytes(b"# comment\n" * (files.MAX_FILE_BYTES // 10 + 1))
    elif kind == "not_utf8":
        path.write_bytes(b"version = 1\n# \xff\xfe caf\xe9\n")
    else:  # deep: arrays inside arrays far past the parser's recursion
        path.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    return path


WORDS = {
    "fifo": "is a FIFO (named pipe), not a regular file",
    "devzero": "is a device, not a regular file",
    "devurandom": "is a device, not a regular file",
    "directory": "is a directory, not a regular file",
    "socket": "is a socket, not a regular file",
    "huge": "over 32 MB",
    "not_utf8": "not UTF-8 text (byte 14 is 0xff)",
    "deep": "nested too deeply to read",
}


@pytest.mark.parametrize("kind", KINDS)
def test_files_kinds_the_reader_refuses_each_kind_in_one_line(kind, tmp_path):
    path = _make(kind, tmp_path)

    with pytest.raises(FileRefused) as info:
        read_toml(path)

    text = str(info.value)
    assert text.startswith(f"{path}: ") and WORDS[kind] in text and "\n" not in text
    assert " — " in text  # what to do


@settings(max_examples=30, deadline=None)
@given(depth=st.integers(min_value=1, max_value=5000), table=st.booleans())
def test_files_kinds_any_nesting_depth_reads_or_refuses_in_one_line(depth, table):
    text = (
        ("x = " + "[" * depth + "]" * depth)
        if not table
        else ("x = " + "{a = " * depth + "1" + "}" * depth)
    )
    try:
        doc = files.loads_toml(text, where="f.toml")
    except FileRefused as exc:
        assert str(exc).startswith("f.toml: ") and "\n" not in str(exc)
    else:
        assert "x" in doc


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=64))
def test_files_kinds_any_bytes_read_as_utf8_or_refused_naming_the_byte(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("b") / "f.toml"
    path.write_bytes(data)
    try:
        expected = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        with pytest.raises(FileRefused, match=f"byte {exc.start:,} is 0x{data[exc.start]:02x}"):
            read_text(path)
    else:
        assert read_text(path) == expected


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for key in list(os.environ):
        if key.startswith("CAPCOVER_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CAPCOVER_DB", str(tmp_path / "w.duckdb"))
    return monkeypatch


@pytest.mark.parametrize("kind", KINDS)
def test_files_kinds_config_file_of_each_kind_exits_2_naming_it(kind, clean_env, tmp_path, capsys):
    path = _make(kind, tmp_path)
    clean_env.setenv("CAPCOVER_CONFIG", str(path))

    for command in (["config"], ["status"], ["sql", "SELECT 1"]):
        code = main(command)
        err = capsys.readouterr().err
        assert code == 2, (command, err)
        assert err == f"capcover: error: CAPCOVER_CONFIG {path}: " + err.split(f"{path}: ", 1)[1]
        assert WORDS[kind] in err and err.count("\n") == 1 and "unexpected" not in err


@pytest.mark.parametrize("kind", KINDS)
def test_files_kinds_quotes_file_of_each_kind_fails_the_feed_at_once(
    kind, fake_cg, env, monkeypatch, tmp_path
):
    from capcover.config.settings import load_settings
    from capcover.flows.sequence import run_daily

    path = _make(kind, tmp_path)
    monkeypatch.setenv("CAPCOVER_QUOTES_FILE", str(path))
    fake_cg.serve()

    result = run_daily(load_settings())  # returns: a FIFO never blocks, /dev/zero is not read

    assert "curated" in result.sources_failed
    message = result.feed_errors["curated"]
    assert str(path) in message and WORDS[kind] in message and "\n" not in message
    assert {r.scenario for r in result.reports}  # the run went on with the other feeds


@pytest.mark.parametrize("kind", ["fifo", "devzero", "not_utf8", "deep"])
def test_files_kinds_quotes_add_onto_a_file_of_each_kind_exits_2(
    kind, env, monkeypatch, tmp_path, capsys
):
    path = _make(kind, tmp_path)
    monkeypatch.setenv("CAPCOVER_QUOTES_FILE", str(path))

    code = main(
        ["quotes", "add", "--sku", "H100", "--price", "30000", "--date", "2024-01-01",
         "--source", "vendor"]
    )  # fmt: skip
    err = capsys.readouterr().err

    assert code == 2 and err.count("\n") == 1, err
    assert str(path) in err and WORDS[kind] in err
