"""`capcover report --html/--png`: one self-contained file, opened in headless Chromium (Debian's
`chromium` package) whose screenshot must show the chart's line colour."""

from __future__ import annotations

import io
import os
import shutil
import subprocess

import pytest
from PIL import Image

from cli.main import main
from config.settings import load_settings
from fakeapi.coingecko import CoinGecko
from flows.backfill import run_backfill
from report.html import COLOURS


@pytest.fixture
def reported_db(tmp_path, monkeypatch):
    """A warehouse with 30 days of history-basis reports (a backfill over a fake server)."""
    from rich.console import Console

    for key in list(os.environ):
        if key.startswith("CAPCOVER_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CAPCOVER_DB", str(tmp_path / "capcover.duckdb"))
    with CoinGecko.charts(n_coins=6) as srv:
        monkeypatch.setenv("CAPCOVER_COINGECKO_BASE_URL", srv.base_url)
        monkeypatch.setenv("CAPCOVER_COINGECKO_RATE_PER_MINUTE", "60000")
        run_backfill(load_settings(), 30, console=Console(file=io.StringIO()))
    return tmp_path


def screenshot(html_path, png_path, tmp_path) -> Image.Image:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium package is needed: apt-get install -y chromium"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'chromium-profile'}",
         f"--screenshot={png_path}", "--window-size=1200,900", html_path.as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    return Image.open(png_path).convert("RGB")


def colour_pixels(img: Image.Image, hex_colour: str, tolerance: int = 40) -> int:
    target = tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    raw = img.tobytes()
    return sum(1 for i in range(0, len(raw), 3)
               if all(abs(raw[i + k] - target[k]) <= tolerance for k in range(3)))


def test_html_report_renders_the_chart_in_headless_chromium(reported_db, tmp_path, capsys):
    html_path = tmp_path / "out" / "report.html"
    png_path = tmp_path / "out" / "chart.png"
    assert main(["report", "--html", str(html_path), "--png", str(png_path)]) == 0
    assert f"wrote {html_path}" in capsys.readouterr().out
    text = html_path.read_text(encoding="utf-8")
    # Self-contained: nothing to fetch, so it opens offline.
    assert "<script" not in text and "<link" not in text and "src=" not in text
    assert "1.0 = the sector cap buys the GPUs" in text and "coindesk-2024" in text
    assert "CoinDesk" in text  # the quotes behind the numbers, with their sources
    shot = screenshot(html_path, tmp_path / "shot.png", tmp_path)
    assert shot.size == (1200, 900)
    assert colour_pixels(shot, COLOURS["coindesk-2024"]) > 300  # the drawn history line
    chart = Image.open(png_path).convert("RGB")
    assert colour_pixels(chart, COLOURS["coindesk-2024"]) > 300


def test_html_report_on_an_empty_warehouse_says_what_to_do(tmp_path, monkeypatch, capsys):
    from warehouse.db import open_warehouse

    monkeypatch.setenv("CAPCOVER_DB", str(tmp_path / "empty.duckdb"))
    open_warehouse(tmp_path / "empty.duckdb").close()
    html_path = tmp_path / "r.html"
    assert main(["report", "--html", str(html_path)]) == 0
    assert "No reports yet" in html_path.read_text(encoding="utf-8")
