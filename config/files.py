"""Reading a file a person gave capcover (the config file, a quotes file) or one it ships
(scenarios, the throughput table, the SKU catalogue): one rule for all of them.

- only a regular file is read: a FIFO, a device (`/dev/zero`, `/dev/urandom`), a socket or a
  directory is refused at once, by what it is (a symlink counts as what it points to). The
  file is opened without blocking, so a FIFO with no writer cannot hang a run;
- at most `MAX_FILE_BYTES` are read (an endless or huge file is refused past it, never held);
- the bytes must be UTF-8 (the refusal names the byte where they stop being);
- TOML is parsed with `tomllib`; text nested deeper than the parser's recursion allows is
  refused as such (`nested too deeply`), never a RecursionError.

Every refusal is a `FileRefused` whose message is one line naming the file, what is wrong and
what to do; each caller puts its own name for the file in front (`CAPCOVER_CONFIG`, `curated
quotes`). Importing this module loads nothing heavy (the settings readers use it).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 32 * 2**20  # a real config or quotes file has kilobytes


class FileRefused(ValueError):
    """A file capcover will not read; the message says which, why and what to do."""


def _kind(mode: int) -> str | None:
    """What a non-regular file is, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_bytes(path: str | Path, *, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file `path`; FileRefused for anything else, for a file over
    `max_bytes`, or when it cannot be opened or read."""
    where = str(path)
    try:  # what it is, before opening (a socket cannot be opened at all)
        kind = _kind(os.stat(where).st_mode)
    except FileNotFoundError:
        raise FileRefused(f"{where}: no such file — check the path") from None
    except OSError as exc:
        raise FileRefused(f"{where}: cannot open it ({exc.strerror}) — check the path") from None
    if kind is not None:
        raise FileRefused(f"{where}: is {kind}, not a regular file — point the setting at a file")
    try:
        fd = os.open(where, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise FileRefused(f"{where}: no such file — check the path") from None
    except OSError as exc:
        raise FileRefused(f"{where}: cannot open it ({exc.strerror}) — check the path") from None
    try:  # and again once open: it may have been replaced in between
        kind = _kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise FileRefused(
                f"{where}: is {kind}, not a regular file — point the setting at a file"
            )
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, 1 << 16):
            total += len(chunk)
            if total > max_bytes:
                raise FileRefused(
                    f"{where}: over {max_bytes / 2**20:g} MB — not a file capcover reads; check "
                    "the path"
                )
            chunks.append(chunk)
    except OSError as exc:
        raise FileRefused(f"{where}: cannot read it ({exc.strerror}) — check the file") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def read_text(path: str | Path, *, max_bytes: int = MAX_FILE_BYTES) -> str:
    """`read_bytes` decoded as UTF-8 (FileRefused naming the first byte that is not)."""
    data = read_bytes(path, max_bytes=max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileRefused(
            f"{path}: not UTF-8 text (byte {exc.start:,} is 0x{data[exc.start]:02x}) — save it "
            "as UTF-8"
        ) from None


def loads_toml(text: str, *, where: str) -> dict[str, Any]:
    """`tomllib.loads(text)`; FileRefused (naming `where`) for text that is not TOML or is
    nested too deeply to parse."""
    import tomllib  # only where a file is read

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problem = " ".join(str(exc).split())
        raise FileRefused(f"{where}: not valid TOML ({problem}) — fix it") from None
    except RecursionError:
        raise FileRefused(
            f"{where}: nested too deeply to read (arrays or tables inside each other beyond "
            "what a config needs) — fix it"
        ) from None


def read_toml(path: str | Path, *, max_bytes: int = MAX_FILE_BYTES) -> dict[str, Any]:
    """The TOML document of the regular file `path` (all of the rules above)."""
    return loads_toml(read_text(path, max_bytes=max_bytes), where=str(path))
