"""Hints that paste as printed: a hint names a command as `capcover ...` (in backticks) and is
shown with the command as it was invoked (`capcover`, `.venv/bin/capcover`, `python3 -m
capcover`), with the `--db` the user gave, and the `prefect` executable beside capcover's."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

_HINT = re.compile(r"`capcover(?= |`)")


def _same(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    # The same path, symlinks NOT followed: a virtualenv's python is a link to the system's,
    # and running the system's would not find capcover.
    return os.path.abspath(a) == os.path.abspath(b)


def _shortest(path: Path) -> str:
    """`path` as a person would type it: its bare name when PATH finds this very file, else
    relative to the working directory when below it, else absolute."""
    found = shutil.which(path.name)
    if found and _same(found, path):
        return path.name
    try:
        rel = Path(os.path.abspath(path)).relative_to(os.path.abspath(os.getcwd()))
    except (ValueError, OSError):
        return str(path)
    return str(rel) if "/" in str(rel) else f"./{rel}"


def command_name(argv0: str | None = None, executable: str | None = None) -> str:
    """How to run capcover again the way it was run now: `capcover` when that is on PATH,
    else the script's path as typed, or `<python> -m capcover` (a shell-quoted string)."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    if executable is None:  # the interpreter as it was typed (`python3`, `.venv/bin/python`)
        typed = sys.orig_argv[0] if getattr(sys, "orig_argv", None) else ""
        executable = typed if typed and (shutil.which(typed) or "/" in typed) else sys.executable
    path = Path(argv0)
    if path.name == "__main__.py" and path.parent.name == "capcover":
        typed = executable if "/" in executable else _shortest(Path(executable))
        return f"{shlex.quote(typed)} -m capcover"
    if path.name != "capcover":  # not a capcover script (an embedding program, a test)
        return "capcover"
    if "/" not in argv0:
        return "capcover"
    found = shutil.which("capcover")
    if found and _same(found, path):
        return "capcover"
    return shlex.quote(argv0)


def command_prefix(db: str | os.PathLike[str] | None = None) -> str:
    """`command_name()` plus the global `--db` option when one was given."""
    name = command_name()
    return f"{name} --db {shlex.quote(str(db))}" if db is not None else name


def pasteable(text: str, db: str | os.PathLike[str] | None = None) -> str:
    """`text` with every backticked `capcover ...` command as it would run here."""
    prefix = command_prefix(db)
    if prefix == "capcover":
        return text
    return _HINT.sub(lambda _m: "`" + prefix, text)


def prefect_command() -> str:
    """The `prefect` executable installed beside the Python running capcover (the same
    environment), by its bare name when PATH finds that one."""
    beside = Path(sys.executable).parent / "prefect"
    if beside.exists():
        return shlex.quote(_shortest(beside))
    return "prefect"


def prefect_start_hint() -> str:
    """How to start a Prefect server capcover can schedule on, as two commands that paste."""
    return (
        f"start one with `{prefect_command()} server start` (in another terminal), then "
        f"`export PREFECT_API_URL=http://127.0.0.1:4200/api`"
    )


def flow_run_url(flow_run_id: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """Where the Prefect UI shows a flow run: PREFECT_UI_URL, else the UI beside
    PREFECT_API_URL (a server's `/api` dropped, Prefect Cloud's api host made app); None
    without either."""
    env = os.environ if environ is None else environ
    if not flow_run_id:
        return None
    ui = env.get("PREFECT_UI_URL")
    if not ui:
        api = env.get("PREFECT_API_URL")
        if not api:
            return None
        ui = _ui_from_api(api.rstrip("/"))
    return f"{ui.rstrip('/')}/runs/flow-run/{flow_run_id}"


def _ui_from_api(api: str) -> str:
    # Prefect's own rule (prefect/settings/models/ui.py): a Cloud API URL
    # https://api.prefect.cloud/api/accounts/A/workspaces/W shows at
    # https://app.prefect.cloud/account/A/workspace/W; a server's UI is its API URL without /api.
    if "api.prefect.cloud" in api or "/accounts/" in api:
        return (
            api.replace("https://api.", "https://app.", 1)
            .replace("/api/accounts/", "/account/", 1)
            .replace("/workspaces/", "/workspace/", 1)
        )
    return api.removesuffix("/api")
