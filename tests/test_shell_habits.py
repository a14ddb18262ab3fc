"""Shell habits (docs/threat-model.md, "Output channels: the terminal"): a reader that closes
the pipe early (`capcover run | head -1`, `| head -0`, a pager quit) is treated like /dev/null.
The command finishes its work and exits with its own code, with nothing on stderr: a run that
committed exits 0, never 1; a reader's exit code is still its verdict. Every command that
prints is tried with its stdout closed before it writes a byte.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from capcover.warehouse.db import open_warehouse

ROOT = Path(__file__).resolve().parent.parent


def _closed_stdout(args: list[str], env: dict) -> tuple[int, str]:
    """Run capcover with a stdout pipe whose reader has already left."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "capcover", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader leaves before anything is written
    err = proc.stderr.read()
    return proc.wait(timeout=240), err


def test_shell_habits_run_into_a_closed_pipe_commits_and_exits_0(fake_cg, env):
    fake_cg.serve()
    code, err = _closed_stdout(["run"], env)
    assert (code, err) == (0, "")
    with open_warehouse(env["CAPCOVER_DB"], read_only=True) as wh:
        assert wh.query("SELECT status FROM runs") == [("ok",)]
        assert wh.scalar("SELECT count(*) FROM report_daily") > 0


def test_shell_habits_run_piped_into_head_1_exits_0(fake_cg, env):
    fake_cg.serve()
    proc = subprocess.run(
        f'{sys.executable} -m capcover run | head -1; echo "exit=${{PIPESTATUS[0]}}" >&2',
        shell=True,
        executable="/bin/bash",
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.stdout.count("\n") == 1 and proc.stdout.startswith("capcover run")
    assert proc.stderr == "exit=0\n"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["sql", "SELECT * FROM range(100000)", "--format", "csv"], 0),
        (["report", "--format", "json"], 0),
        (["status"], 0),
        (["config"], 0),
        (["alerts"], 0),
        (["sql", "SELECT * FROM no_such_table"], 1),  # its own verdict, said on stderr
    ],
)
def test_shell_habits_readers_keep_their_own_exit_code(fake_cg, env, args, code):
    fake_cg.serve()
    from capcover.config.settings import load_settings
    from capcover.flows.sequence import run_daily

    run_daily(load_settings())
    got, err = _closed_stdout(args, env)
    assert got == code, err
    assert (err == "") == (code == 0)
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err
