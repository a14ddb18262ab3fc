"""Compute-equivalent and total-cost scenarios: how they are written, what they compute, and the
parameters on every row they report, in report_daily, v_report_parameters, `capcover report`
and the HTML report."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capcover.cli.main import main
from capcover.config.settings import ConfigError, load_settings, throughput_table
from capcover.flows.sequence import run_daily
from capcover.model.report import QuotePoint, SectorInputs, build_reports, price_stats
from capcover.model.scenarios import RunningCosts, Scenario, parse_scenarios
from capcover.warehouse.db import open_warehouse

DAY = date(2026, 12, 6)
CAP = 25e9


def _sector(day: date = DAY) -> SectorInputs:
    at = datetime(day.year, day.month, day.day, 6, tzinfo=UTC)
    return SectorInputs(day, "category", "artificial-intelligence", CAP, None, 0, None, None,
                        None, at, at)  # fmt: skip


def _parse(*entries: dict) -> list[Scenario]:
    return parse_scenarios(list(entries), where="my.toml", throughput=throughput_table())


def _builtin(name: str) -> Scenario:
    (sc,) = [s for s in load_settings(environ=False).scenarios() if s.name == name]
    return sc


# -- compute-equivalent scenarios ------------------------------------------------------------


def test_compute_scenario_count_and_row_carry_the_table_version_and_metric():
    (sc,) = _parse(
        {
            "name": "bf16",
            "gpu_sku": "B200",
            "compute": {"equivalents": 1000, "chip": "B200 HGX", "metric": "dense_bf16"},
            "price": {"kind": "purchase"},
        }
    )
    assert sc.gpu_count == 440  # 1,000 x 989.5 / 2,250 = 439.8 -> 440
    (row,), _ = build_reports(
        _sector(), [sc], price_stats([QuotePoint("B200", "purchase", "s", 40_000, DAY)]), "r"
    )
    assert (row.compute_equivalents, row.compute_reference, row.compute_chip) == (
        1000,
        "H100 SXM",
        "B200 HGX",
    )
    assert (row.compute_metric, row.compute_table_version) == ("dense_bf16", 1)
    assert (row.compute_reference_tflops, row.compute_chip_tflops) == (989.5, 2250)
    assert row.gpu_count == 440 and row.buildout_cost_usd == 440 * 40_000


def test_compute_scenario_takes_the_skus_only_chip_and_a_reference_of_choice():
    (sc,) = _parse(
        {
            "name": "as-b300",
            "gpu_sku": "b300",
            "compute": {"equivalents": 89_000, "reference": "h100 pcie"},
            "price": {"kind": "purchase"},
        }
    )
    assert sc.compute is not None and sc.compute.chip == "B300 HGX"
    assert sc.compute.reference == "H100 PCIe"  # the table's spelling, whatever the user's case
    assert sc.gpu_count == 29_924  # 89,000 x 1,513 / 4,500 = 29,923.8


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"gpu_count": 10, "compute": {"equivalents": 5}},
            "scenario x: gpu_count: give gpu_count or compute, not both",
        ),
        (
            {"compute": {"equivalents": 5, "chip": "B100"}},
            "scenario x: compute: unknown chip 'B100' (throughput table v1 has: H100 SXM",
        ),
        (
            {"compute": {"equivalents": 5, "chip": "H200 SXM"}},
            "scenario x: compute: chip 'H200 SXM' is a H200, not the scenario's B200",
        ),
        ({"compute": {"equivalents": 0}}, "scenario x: compute.equivalents: Input should be"),
        ({"compute": {"equivalents": 5, "metric": "fp4"}}, "scenario x: compute.metric: "),
        ({"compute": {"equivalents": 5, "tflops": 9}}, "scenario x: compute.tflops: Extra"),
    ],
)
def test_compute_scenario_bad_entry_is_one_line_naming_the_field(entry, message):
    base = {"name": "x", "gpu_sku": "B200", "price": {"kind": "purchase"}}
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        _parse({**base, **entry})
    assert str(err.value).startswith("my.toml: ") and "\n" not in str(err.value)


_CHIPS = [c for c in throughput_table().chip if c.figure("dense_fp8") is not None]


@given(
    chip=st.sampled_from(_CHIPS),
    reference=st.sampled_from(_CHIPS),
    n=st.integers(min_value=1, max_value=1_000),
)
def test_compute_scenario_whose_count_rounds_to_zero_is_refused(chip, reference, n):
    """Red team D1: `equivalents` too few for one GPU of the chip (1 H100 as B200 is 0.44) is
    refused naming the scenario and the field, never priced as 1 GPU (more compute than it
    names); any count that rounds to 1 or more is taken as the exact ratio says."""
    table = throughput_table()
    exact = Fraction(n) * Fraction(repr(table.tflops(reference.id, "dense_fp8")))
    exact /= Fraction(repr(table.tflops(chip.id, "dense_fp8")))
    entry = {
        "name": "x",
        "gpu_sku": chip.sku,
        "price": {"kind": "purchase"},
        "compute": {"equivalents": n, "chip": chip.id, "reference": reference.id},
    }
    if exact < Fraction(1, 2):
        with pytest.raises(ValueError, match=r"scenario x: compute\.equivalents: .*rounds to 0"):
            _parse(entry)
    else:
        (sc,) = _parse(entry)
        assert sc.gpu_count >= 1 and abs(sc.gpu_count - exact) <= Fraction(1, 2)


def test_compute_scenario_of_one_h100_as_b200_exits_2_in_one_line(
    env, tmp_path, monkeypatch, capsys
):
    cfg = tmp_path / "capcover.toml"
    cfg.write_text(
        '[[scenario]]\nname = "tiny"\ngpu_sku = "B200"\nprice = { kind = "purchase" }\n'
        'compute = { equivalents = 1, chip = "B200 HGX" }\n'
    )
    monkeypatch.setenv("CAPCOVER_CONFIG", str(cfg))
    assert main(["config"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "scenario tiny: compute.equivalents: " in line and "rounds to 0 GPUs" in line


_COSTS = {
    "years": 5,
    "watts_per_gpu": 700,
    "pue": 1.5,
    "usd_per_kwh": 0.08,
    "hosting_usd_per_kw_month": 184.0,
}
_NUMERIC_FIELDS = [
    ({"gpu_count": 720_000}, ("gpu_count",)),
    ({"compute": {"equivalents": 720_000, "chip": "B200 HGX"}}, ("compute", "equivalents")),
    (
        {"gpu_count": 1, "price": {"kind": "fixed", "unit_price_usd": 30_000}},
        ("price", "unit_price_usd"),
    ),
    ({"gpu_count": 1, "price": {"kind": "rental_hourly", "hours": 8760}}, ("price", "hours")),
    ({"gpu_count": 1, "price": {"kind": "purchase", "multiplier": 1.2}}, ("price", "multiplier")),
    ({"gpu_count": 1, "max_age_days": 30}, ("max_age_days",)),
    *[({"gpu_count": 1, "costs": dict(_COSTS)}, ("costs", k)) for k in _COSTS],
]


@given(
    case=st.sampled_from(_NUMERIC_FIELDS),
    wrong=st.one_of(
        st.integers(min_value=1, max_value=10**6).map(str),
        st.decimals(min_value=1, max_value=10**6, places=2).map(str),
        st.booleans(),
    ),
)
def test_scenario_number_of_the_wrong_type_is_refused(case, wrong):
    """Red team D2: a TOML string ("720000") or boolean in any numeric field of a scenario is
    the wrong type: refused naming the field, never coerced to the number."""
    patch, path = case
    entry = {"name": "x", "gpu_sku": "B200", "price": {"kind": "purchase"}, **patch}
    entry = {k: dict(v) if isinstance(v, dict) else v for k, v in entry.items()}
    (entry if len(path) == 1 else entry[path[0]])[path[-1]] = wrong
    with pytest.raises(ValueError, match=re.escape(f"scenario x: {'.'.join(path)}: ")) as err:
        _parse(entry)
    assert "\n" not in str(err.value)


def test_compute_scenario_of_a_sku_with_two_chips_must_name_one():
    with pytest.raises(ValueError, match=r"name the chip: .* 2 H100 chip\(s\) \(H100 SXM, H100"):
        _parse(
            {
                "name": "x",
                "gpu_sku": "H100",
                "compute": {"equivalents": 5},
                "price": {"kind": "purchase"},
            }
        )


def test_compute_scenario_in_the_user_config_is_a_config_error(env, tmp_path, monkeypatch):
    cfg = tmp_path / "capcover.toml"
    cfg.write_text(
        '[[scenario]]\nname = "mine"\ngpu_sku = "B200"\nprice = { kind = "purchase" }\n'
        'compute = { equivalents = 100_000, chip = "GB200 NVL72" }\n'
    )
    monkeypatch.setenv("CAPCOVER_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match="scenario mine: compute: chip 'GB200 NVL72' is a GB200"):
        load_settings()


# -- total-cost scenarios --------------------------------------------------------------------


def test_total_cost_unit_price_is_capex_plus_power_plus_hosting():
    sc = _builtin("h100-total-cost-5y")
    assert sc.costs == RunningCosts(
        years=5, watts_per_gpu=700, pue=1.54, usd_per_kwh=0.0806, hosting_usd_per_kw_month=184.06
    )
    quote = QuotePoint("H100", "purchase", "s", 30_000, DAY)
    (row,), _ = build_reports(_sector(), [sc], price_stats([quote]), "r")
    power = 5 * 8_760 * 0.7 * 1.54 * 0.0806  # years x h x kW x PUE x USD/kWh
    hosting = 5 * 12 * 0.7 * 184.06  # years x months x kW x USD per kW-month
    assert row.tco_capex_usd == pytest.approx(30_000 * 1.84)
    assert row.tco_power_usd == pytest.approx(power) and power == pytest.approx(3_805.64, abs=0.01)
    assert row.tco_hosting_usd == pytest.approx(hosting) == pytest.approx(7_730.52)
    assert row.unit_price_usd == pytest.approx(55_200 + power + hosting)
    assert row.buildout_cost_usd == pytest.approx(720_000 * row.unit_price_usd)
    assert (row.tco_years, row.tco_watts_per_gpu, row.tco_pue) == (5, 700, 1.54)
    assert (row.tco_usd_per_kwh, row.tco_hosting_usd_per_kw_month) == (0.0806, 184.06)
    assert row.price_basis == "median purchase quote x 1.84 + 5 y power and hosting"
    # 720,000 x 0.7 kW = 504 MW of IT load (the figure).
    assert 720_000 * sc.costs.kw == pytest.approx(504_000)


def test_total_cost_band_moves_only_the_price_part():
    sc = _builtin("h100-total-cost-5y")
    pts = [QuotePoint("H100", "purchase", s, p, DAY) for s, p in [("a", 25e3), ("b", 30e3),
                                                                   ("c", 35e3)]]  # fmt: skip
    (row,), _ = build_reports(_sector(), [sc], price_stats(pts), "r")
    running = sc.costs.total_usd()
    assert CAP / (720_000 * (row.quote_q3_usd * 1.84 + running)) == pytest.approx(
        row.coverage_ratio_low
    )
    assert row.coverage_ratio_low < row.coverage_ratio < row.coverage_ratio_high


@given(
    years=st.floats(0.1, 30),
    watts=st.floats(1, 10_000),
    pue=st.floats(1.0, 5.0),
    kwh=st.floats(0.001, 10),
    host=st.floats(0, 100_000),
    price=st.floats(1, 1e6),
)
def test_total_cost_is_linear_in_years_and_adds_to_the_price(years, watts, pue, kwh, host, price):
    costs = RunningCosts(
        years=years, watts_per_gpu=watts, pue=pue, usd_per_kwh=kwh, hosting_usd_per_kw_month=host
    )
    one = costs.model_copy(update={"years": 1.0})
    assert costs.total_usd() == pytest.approx(years * one.total_usd())
    assert costs.power_usd() == pytest.approx(years * 8_760 * watts / 1000 * pue * kwh)
    sc = Scenario.model_validate(
        {
            "name": "t",
            "gpu_sku": "H100",
            "gpu_count": 1,
            "price": {"kind": "purchase"},
            "costs": costs.model_dump(),
        }  # fmt: skip
    )
    assert sc.unit_price(price) == pytest.approx(price + costs.total_usd())


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"price": {"kind": "rental_hourly", "hours": 8760}}, "a rental price already includes"),
        (
            {
                "costs": {
                    "years": 5,
                    "watts_per_gpu": 700,
                    "pue": 0.9,
                    "usd_per_kwh": 0.08,
                    "hosting_usd_per_kw_month": 0,
                }
            },
            "costs.pue: Input should be greater",
        ),  # fmt: skip
        ({"costs": {"years": 5, "watts_per_gpu": 700, "pue": 1.5}}, "costs.usd_per_kwh: Field"),
        (
            {
                "costs": {
                    "years": float("inf"),
                    "watts_per_gpu": 700,
                    "pue": 1.5,
                    "usd_per_kwh": 0.08,
                    "hosting_usd_per_kw_month": 0,
                }
            },
            "costs.years: ",
        ),  # fmt: skip
    ],
)
def test_total_cost_bad_entry_is_one_line_naming_the_field(patch, message):
    entry = {
        "name": "t",
        "gpu_sku": "H100",
        "gpu_count": 1,
        "price": {"kind": "purchase"},
        "costs": {
            "years": 5,
            "watts_per_gpu": 700,
            "pue": 1.5,
            "usd_per_kwh": 0.08,
            "hosting_usd_per_kw_month": 100,
        },  # fmt: skip
        **patch,
    }
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        _parse(entry)
    assert str(err.value).startswith("my.toml: scenario t: ") and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("price", "extra", "message"),
    [
        ({"kind": "purchase"}, {"market": "spot"}, "market is for rentals"),
        ({"kind": "purchase"}, {"market": "committed_1y"}, "market is for rentals"),
        ({"kind": "fixed", "unit_price_usd": 1.0}, {"market": "spot"}, "market is for rentals"),
        ({"kind": "rental_hourly", "hours": 1}, {"condition": "used"}, "condition (new, used"),
        ({"kind": "rental_hourly", "hours": 1}, {"condition": "any"}, "condition (new, used"),
        ({"kind": "fixed", "unit_price_usd": 1.0}, {"condition": "any"}, "condition (new, used"),
    ],
)
def test_a_field_the_price_kind_does_not_use_is_refused_not_ignored(price, extra, message):
    """`market` prices rentals only and `condition` purchases only: given on another kind
    they would be silently ignored, so they are refused like `costs` on a rental."""
    entry = {"name": "t", "gpu_sku": "H100", "gpu_count": 1, "price": price, **extra}
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        _parse(entry)
    assert str(err.value).startswith("my.toml: scenario t: ") and "\n" not in str(err.value)


# -- in the warehouse and what readers show ---------------------------------------------------

QUOTES = """version = 1
[[quote]]
observed = 2024-01-01
source = "test B200"
kind = "purchase"
sku_label = "B200"
sku = "B200"
price = 40000
currency = "USD"
confidence = "low"
"""


@pytest.fixture
def reported(fake_cg, env, tmp_path, monkeypatch):
    """A daily run on 2024-04-03 (the fake CoinGecko's day) with a B200 purchase quote."""
    path = tmp_path / "my-quotes.toml"
    path.write_text(QUOTES, encoding="utf-8")
    monkeypatch.setenv("CAPCOVER_QUOTES_FILE", str(path))
    fake_cg.serve()
    settings = load_settings()
    run_daily(settings)
    return settings.db


def test_parameters_are_stored_on_the_rows_and_listed_by_the_view(reported):
    with open_warehouse(reported, read_only=True) as wh:
        b200 = wh.query(
            "SELECT gpu_count, compute_equivalents, compute_chip, compute_metric,"
            " compute_table_version, unit_price_usd, coverage_ratio FROM report_daily"
            " WHERE scenario = 'h100eq-720k-b200'"
        )
        assert b200 == [(316_640, 720_000, "B200 HGX", "dense_fp8", 1, 40_000, 25e9 / 12_665.6e6)]
        view = wh.query(
            "SELECT parameter, value, unit FROM v_report_parameters"
            " WHERE scenario = 'h100eq-89k-b200' ORDER BY position"
        )
        assert view == [
            ("compute_equivalents", 89_000, "H100 SXM GPUs"),
            ("compute_reference_tflops", 1979, "dense_fp8 TFLOPS per H100 SXM"),
            ("compute_chip_tflops", 4500, "dense_fp8 TFLOPS per B200 HGX"),
            ("gpu_count", 39_140, "B200 HGX GPUs"),
        ]
        tco = dict(
            wh.query(
                "SELECT parameter, value FROM v_report_parameters"
                " WHERE scenario = 'h100-total-cost-5y'"
            )
        )
        unit = wh.scalar(
            "SELECT unit_price_usd FROM report_daily WHERE scenario = 'h100-total-cost-5y'"
        )
        assert tco["unit_price_usd"] == unit
        assert unit == pytest.approx(tco["tco_capex_usd"] + tco["tco_power_usd"]
                                     + tco["tco_hosting_usd"])  # fmt: skip
        # Other scenarios have no parameters and NULL parameter columns.
        assert (
            wh.scalar("SELECT count(*) FROM v_report_parameters WHERE scenario = 'coindesk-2024'")
            == 0
        )
        assert wh.query(
            "SELECT compute_equivalents, tco_years FROM report_daily"
            " WHERE scenario = 'h100-purchase'"
        ) == [(None, None)]


def test_report_command_shows_the_parameters_as_the_rows_detail(reported, capsys):
    assert main(["report", "--scenario", "h100eq-720k-b200", "--wide"]) == 0  # cells unwrapped
    out = capsys.readouterr().out
    assert "scenario parameters" in out
    (line,) = [x for x in out.splitlines() if " gpu_count " in x and "HGX GPUs" in x]
    cells = [c.strip() for c in line.strip().strip("│").split("│")]
    assert cells[:4] == ["h100eq-720k-b200", "gpu_count", "316,640", "B200 HGX GPUs"]
    assert cells[4] == "round(720000 x 1979.0 / 4500.0)"
    assert main(["report", "--scenario", "h100eq-720k-b200", "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["compute_table_version"], row["compute_metric"]) == (1, "dense_fp8")
    assert main(["report", "--scenario", "coindesk-2024"]) == 0
    assert "scenario parameters" not in capsys.readouterr().out  # nothing to detail


# A row of the HTML report's parameters table (a card per row on a phone: report.html.j2).
_PARAMETER_ROW = (
    r'<tr><td class="head">({})</td><td data-label="parameter">(\w+)</td>'
    r'<td class="n" data-label="value">([^<]+)<'
)


def test_html_report_lists_the_parameters(reported, tmp_path, capsys):
    html = tmp_path / "r.html"
    assert main(["report", "--html", str(html)]) == 0
    page = html.read_text(encoding="utf-8")
    assert "<h2>Scenario parameters</h2>" in page
    rows = re.findall(_PARAMETER_ROW.format("h100-total-cost-5y"), page)
    got = {p: v for _, p, v in rows}
    assert (got["tco_pue"], got["tco_usd_per_kwh"], got["tco_hosting_usd_per_kw_month"]) == (
        "1.54",
        "0.0806",
        "184.06",
    )
    assert (got["tco_years"], got["tco_watts_per_gpu"]) == ("5", "700")
    rows = re.findall(_PARAMETER_ROW.format("h100eq-720k-b200"), page)
    assert dict((p, v) for _, p, v in rows)["gpu_count"] == "316,640"


def test_fmt_parameter_shows_the_value_as_written():
    """A parameter is never rounded to the 3 decimals of other numbers (model/text.py)."""
    from capcover.model.text import fmt_number, fmt_parameter

    assert [fmt_parameter(v) for v in (316_640.0, 184.06, 0.0806, 3805.64184, None)] == [
        "316,640",
        "184.06",
        "0.0806",
        "3,805.64184",
        "",
    ]
    assert fmt_number(0.0806) == "0.081"  # what the value column would show without its view
