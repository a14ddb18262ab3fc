"""API keys travel only as headers: never in URLs, output, the archive or the DuckDB file."""

import subprocess
import sys

from flows.pipeline import run_daily

SECRET = "CG-s3cr3tKeyThatMustNeverLeak0001"


def test_secrets_key_is_a_header_and_never_stored(fake_cg, settings, monkeypatch, httpserver,
                                                  capsys):
    monkeypatch.setenv("CAPCOVER_COINGECKO_PLAN", "demo")
    monkeypatch.setenv("CAPCOVER_COINGECKO_API_KEY", SECRET)
    from flows.settings import load_settings

    fake_cg.serve()
    run_daily(load_settings())
    for request, _ in httpserver.log:
        assert request.headers.get("x-cg-demo-api-key") == SECRET
        assert SECRET not in request.url
    with open(settings.db, "rb") as fh:
        assert SECRET.encode() not in fh.read()
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err


def test_secrets_key_absent_from_failed_run_output(env, tmp_path):
    """A failing run (nothing listening) prints one line with no key in it."""
    proc = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run"], capture_output=True, text=True, timeout=120,
        env={**env, "PATH": "/usr/bin:/bin", "CAPCOVER_COINGECKO_PLAN": "pro",
             "CAPCOVER_COINGECKO_API_KEY": SECRET, "HOME": str(tmp_path),
             "CAPCOVER_COINGECKO_BASE_URL": "http://127.0.0.1:9/api/v3",
             "CAPCOVER_HTTP_RETRY_BUDGET_S": "0"},
    )
    assert proc.returncode == 1
    assert SECRET not in proc.stdout + proc.stderr
    assert "connection failed" in proc.stderr
