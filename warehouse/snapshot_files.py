"""The file side of the Parquet snapshot (warehouse/publish.py): reusing a previous snapshot's
files by hard link, the atomic swap of `latest`, removing what a killed publish left, pruning.

Every function here costs one system call per file at most: at 10 years a snapshot holds ~900
monthly files, and linking or unlinking them is most of what grows with history."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path


def link_files(src: Path, dst: Path, names: Iterable[str]) -> None:
    """Hard-link each of `names` from folder `src` into folder `dst` (which must exist); a
    file that cannot be linked (another file system, no hard links) is copied instead."""
    # Directory descriptors: each link resolves one path component, not the whole path.
    src_fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY)
    try:
        dst_fd = os.open(dst, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for name in names:
                try:
                    os.link(name, name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
                except FileNotFoundError:
                    raise
                except OSError:  # the same bytes, copied
                    shutil.copy2(src / name, dst / name)
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)


def listing(folder: Path) -> set[str]:
    """The names in `folder` (empty when it does not exist)."""
    try:
        return set(os.listdir(folder))
    except OSError:
        return set()


def remove_stale_temp(target: Path) -> list[Path]:
    """Remove what a killed publish left in `target`: `.tmp-<run_id>-<pid>` folders and
    `.latest.tmp-<pid>` / `.latest.json.tmp-<pid>` files whose process is gone. A live
    process's temp files are left alone (another warehouse publishing to the same folder).
    Returns what was removed."""
    removed = []
    for path in target.glob(".*tmp-*"):
        pid = path.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own leftovers are from an earlier, finished attempt
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def swap_symlink(link: Path, points_to: Path) -> None:
    """Point `link` at `points_to` in one rename: a reader sees the old or the new target."""
    tmp = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(points_to, tmp, target_is_directory=True)
    os.replace(tmp, link)


def replace_file(path: Path, text: str) -> None:
    """Write `text` (plus a newline) to `path` in one rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)


def prune(snapshots: Path, *, keep: int, current: Path) -> None:
    """Remove all but the newest `keep` snapshot folders (never `current`)."""
    # Run ids start with a UTC timestamp, so name order is time order.
    folders = sorted(p for p in snapshots.iterdir() if p.is_dir())
    for old in folders[:-keep]:
        if old != current:
            shutil.rmtree(old, ignore_errors=True)
