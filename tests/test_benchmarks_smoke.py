"""The benchmark scripts still run (tiny sizes, seconds) and write ratios with their baselines.

No wall-clock assertions: only that every figure is there, paired with a baseline measured in
the same run, and that the fake API behaves like the real one where the benchmarks rely on it.
"""

import json

import requests

from capcover.fakeapi.coingecko import CoinGecko


def test_fakeapi_rate_limit_answers_429_beyond_r_per_second():
    with CoinGecko.generated({"artificial-intelligence": 3}, rate_per_s=2) as fake:
        url = f"{fake.base_url}/coins/artificial-intelligence-coin-00000/market_chart"
        answers = [
            requests.get(url, params={"vs_currency": "usd", "days": 30}, timeout=5)
            for _ in range(3)
        ]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].headers["Retry-After"] == "1"
    assert answers[2].json()["status"]["error_code"] == 429
    assert sum(fake.rejected.values()) == 1 and sum(fake.requests.values()) == 3
    assert len(answers[0].json()["prices"]) == 31  # 30 daily points and the "now" point


def test_benchmarks_quick_run_writes_every_figure_as_a_ratio(tmp_path, monkeypatch, capsys):
    from benchmarks import run

    for key in [k for k in __import__("os").environ if k.startswith("CAPCOVER_")]:
        monkeypatch.delenv(key)
    assert (
        run.main(["--quick", "--parts", "load,calls,backfill,overhead", "--out", str(tmp_path)])
        == 0
    )
    doc = json.loads((tmp_path / "quick.json").read_text())
    assert doc["machine"]["cores"] and doc["machine"]["versions"]["duckdb"]
    parts = {f["part"] for f in doc["figures"]}
    assert parts == {"load", "calls", "backfill", "overhead"}
    for f in doc["figures"]:
        assert f["baseline"] and f["baseline_value"] is not None
        assert f["ratio"] is not None or f["baseline_value"] == 0
        assert f["repeat"] >= 1 and "ratio_min" in f
    backfill = {f["name"]: f for f in doc["figures"] if f["part"] == "backfill"}
    # The naive loop's time is a figure of its own, not hidden in `extra`, beside its 429s.
    naive_time = backfill["backfill time, client at R, vs a naive loop"]
    assert naive_time["unit"] == "s" and naive_time["baseline_min"] is not None
    assert (
        backfill["backfill 429s per run, client at R (target 0), vs a naive loop"]["unit"] == "429s"
    )
    overhead = {f["name"] for f in doc["figures"] if f["part"] == "overhead"}
    assert "capcover run, no Prefect API: in-process sequence (new process)" in overhead
    assert "import the flow module with a Prefect API (Prefect + flows.daily)" in overhead
    calls = {f["name"]: f for f in doc["figures"] if f["part"] == "calls"}
    cg = next(f for n, f in calls.items() if n.startswith("CoinGecko calls"))
    # categories + 2 pages for 260 coins + the empty page that ends them
    assert cg["value"] == cg["baseline_value"] == 4
    table = capsys.readouterr().out
    assert "capcover loader vs DuckDB appender ceiling" in table
    assert "capcover min" in table and "ratio (median)" in table
    assert (tmp_path / "quick.md").read_text().count("|") > 20


def test_benchmarks_readme_table_equals_the_latest_make_bench():
    from benchmarks.run import README, RESULTS, readme_block

    block = readme_block(README.read_text(encoding="utf-8"))
    assert block is not None, "README.md lost its bench markers"
    assert block == (RESULTS / "latest.md").read_text(encoding="utf-8").strip("\n")


def test_benchmarks_moved_figures_are_the_ones_beyond_their_noise():
    from benchmarks.common import Figure
    from benchmarks.run import moved

    def fig(name, median, low):
        return Figure("p", name, median, "s", "b", 1.0, value_min=low, baseline_min=1.0)

    previous = {"figures": [f.as_dict() for f in (fig("steady", 1.0, 0.9), fig("jump", 1.0, 0.98))]}
    lines = moved(previous, [fig("steady", 1.05, 0.95), fig("jump", 1.5, 1.45), fig("new", 2, 2)])
    assert len(lines) == 1 and lines[0].startswith("p: jump: ratio (median) 1 -> 1.5")
    assert moved(None, [fig("jump", 1.5, 1.45)]) == []
