"""API keys travel only as headers: never in URLs, output, the archive or the DuckDB file."""

from capcover.flows.sequence import run_daily
from tests.helpers import PLAIN_PATH, capcover, python

SECRET = "CG-" + "s3cr3tKeyThatMustNeverLeak0001"  # fake; split so secret scanners do not flag it


def test_secrets_key_is_a_header_and_never_stored(fake_cg, settings, monkeypatch, capsys):
    monkeypatch.setenv("CAPCOVER_COINGECKO_PLAN", "demo")
    monkeypatch.setenv("CAPCOVER_COINGECKO_API_KEY", SECRET)
    from capcover.config.settings import load_settings

    fake_cg.serve()
    run_daily(load_settings())
    assert fake_cg.log
    for request in fake_cg.log:
        assert request.headers.get("x-cg-demo-api-key") == SECRET
        assert SECRET not in request.url
    with open(settings.db, "rb") as fh:
        assert SECRET.encode() not in fh.read()
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err


def test_secrets_key_absent_from_failed_run_output(env, tmp_path):
    """A failing run (nothing listening) prints one line with no key in it."""
    proc = capcover(
        "run",
        env={
            **env,
            "PATH": PLAIN_PATH,
            "CAPCOVER_COINGECKO_PLAN": "pro",
            "CAPCOVER_COINGECKO_API_KEY": SECRET,
            "HOME": str(tmp_path),
            "CAPCOVER_COINGECKO_BASE_URL": "http://127.0.0.1:9/api/v3",
            "CAPCOVER_HTTP_RETRY_BUDGET_S": "0",
        },
    )
    assert proc.returncode == 1
    assert SECRET not in proc.stdout + proc.stderr
    assert "connection failed" in proc.stderr


# -- every failure path, in process and at DEBUG ---------------------------------------------

import logging  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from capcover.fakeapi import CLOUDFLARE_HTML, Reply, Reset, Slow  # noqa: E402
from capcover.fakeapi.coingecko import CoinGecko  # noqa: E402

ECHO_401 = {"status": {"error_code": 10010, "error_message": f"Invalid API Key {SECRET}. Check"}}
PATHS = {
    "success": [],
    "401_echoing_the_key": [Reply(ECHO_401, 401)],
    "401_plain_text_echo": [Reply(raw=f"bad key {SECRET}", status=401, content_type="text/plain")],
    "429_beyond_budget": [Reply({"status": {"error_code": 429}}, 429, {"Retry-After": "119"})],
    "503_until_budget": [
        Reply(raw=f"<html>down {SECRET}</html>", status=503, content_type="text/html")
    ]
    * 20,
    "html_with_200": [Reply(raw=CLOUDFLARE_HTML, content_type="text/html")],
    "truncated_json": [Reply(raw='[{"id": "artificial-intelligence", "market_cap": 1')],
    "connection_reset": [Reset()] * 20,
    "read_timeout": [Slow(1.0)] * 20,
}


@pytest.fixture
def keyed(env, monkeypatch):
    server = CoinGecko.reference()
    for name, value in {
        "CAPCOVER_COINGECKO_BASE_URL": server.base_url,
        "CAPCOVER_COINGECKO_PLAN": "demo",
        "CAPCOVER_COINGECKO_API_KEY": SECRET,
        "CAPCOVER_HTTP_RETRY_BUDGET_S": "0.5",
        "CAPCOVER_HTTP_READ_TIMEOUT_S": "0.2",
    }.items():
        monkeypatch.setenv(name, value)
    yield server
    server.close()


def _db_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


@pytest.mark.parametrize("path", list(PATHS))
def test_secrets_never_leak_on_any_path(path, keyed, capsys, caplog):
    from capcover.config.settings import load_settings
    from capcover.warehouse.db import open_warehouse

    keyed.script("/coins/categories", *PATHS[path])
    caplog.set_level(logging.DEBUG)  # urllib3 logs every request line at DEBUG
    settings = load_settings()
    texts = []
    try:
        run_daily(settings)
    except Exception as exc:  # noqa: BLE001 - every failure type is under test
        texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    assert (path == "success") == (not texts)
    out = capsys.readouterr()
    texts += [out.out, out.err, caplog.text, repr(settings), str(settings.masked())]
    for text in texts:
        assert SECRET not in text
    with open_warehouse(settings.db, read_only=True) as wh:
        dump = repr(wh.query("SELECT * FROM raw_http")) + repr(wh.query("SELECT * FROM runs"))
    assert SECRET not in dump
    assert SECRET.encode() not in _db_bytes(Path(settings.db))
    assert keyed.log  # the key was really sent (as a header) on this path


@pytest.mark.slow
@pytest.mark.parametrize("path", ["success", "401_echoing_the_key"])
def test_secrets_absent_from_a_real_debug_run(path, keyed, env, tmp_path):
    """The daily Prefect flow (on Prefect's temporary server) as a subprocess with Prefect and
    every logger at DEBUG. (`capcover run` itself runs in-process when, as here, no Prefect
    API is configured; the flow is what `capcover serve` and the demo run.)"""
    keyed.script("/coins/categories", *PATHS[path])
    home = tmp_path / "prefect-home"
    flow = (
        "import sys\nfrom capcover.flows.daily import run_flow\n"
        "try:\n    run_flow()\nexcept Exception:\n    sys.exit(1)\n"
    )
    proc = python(
        "-c",
        flow,
        env={
            **env,
            "PATH": PLAIN_PATH,
            "HOME": str(tmp_path),
            "PREFECT_HOME": str(home),
            "CAPCOVER_COINGECKO_BASE_URL": keyed.base_url,
            "CAPCOVER_COINGECKO_PLAN": "demo",
            "CAPCOVER_COINGECKO_API_KEY": SECRET,
            "PREFECT_LOGGING_LEVEL": "DEBUG",
            "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "DEBUG",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
        },
    )
    assert proc.returncode == (0 if path == "success" else 1), proc.stderr[-2000:]
    assert "DEBUG" in proc.stdout + proc.stderr  # the debug logs really were on
    assert SECRET not in proc.stdout + proc.stderr
    assert SECRET.encode() not in _db_bytes(Path(env["CAPCOVER_DB"]))
    for f in home.rglob("*"):  # Prefect's own database and logs
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f
