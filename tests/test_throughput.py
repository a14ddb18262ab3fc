"""The per-chip throughput table (model/throughput.toml): every figure sourced, the dense values
NVIDIA's sparse figures halved, counts exact, a bad table one line naming the field."""

from __future__ import annotations

import re
import tomllib
from datetime import date
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capcover.config.settings import throughput_table
from capcover.model.throughput import THROUGHPUT_PATH, equivalent_count, parse_throughput


@pytest.fixture(scope="module")
def doc() -> dict:
    return tomllib.loads(THROUGHPUT_PATH.read_text(encoding="utf-8"))


def _figures(table):
    for chip in table.chip:
        for name in ("tdp_w", "dense_fp8", "dense_bf16"):
            fig = getattr(chip, name)
            if fig is not None:
                yield chip, name, fig


def test_throughput_every_figure_names_a_source_with_a_url_and_a_check_date():
    table = throughput_table()
    assert table.version == 1
    for chip, name, fig in _figures(table):
        src = table.source[fig.source]
        assert src.url.startswith("https://"), (chip.id, name)
        assert src.checked <= date(2026, 12, 6)
        assert fig.published and fig.derivation, (chip.id, name)
    # The SKUs the built-in compute-equivalent scenarios buy, and the reference, are all there.
    assert {"H100 SXM", "H200 SXM", "B200 HGX", "B300 HGX", "MI300X OAM"} <= set(table.chip_ids())


def _published_number(text: str) -> float:
    """The number before the unit in a `published` text: "FP8 Tensor Core: 3,958 teraFLOPS*"
    -> 3958, "... 72 PFLOPS*" -> 72, "Matrix FP8: 2614.9 peak TFLOPS" -> 2614.9."""
    found = re.search(r"(\d[\d,]*(?:\.\d+)?)\s+(?:peak\s+)?(?:teraFLOPS|TFLOPS|PFLOPS)", text)
    assert found is not None, text
    return float(found.group(1).replace(",", ""))


@pytest.mark.parametrize(
    ("chip", "metric", "dense", "published", "per"),
    [
        # NVIDIA: per-GPU figures with sparsity, halved (datasheet: "1/2 lower without").
        ("H100 SXM", "dense_fp8", 1979, 3958, 1),
        ("H100 SXM", "dense_bf16", 989.5, 1979, 1),
        ("H200 SXM", "dense_fp8", 1979, 3958, 1),
        # HGX boards: 8 GPUs, with sparsity (PFLOPS), so / 8 / 2.
        ("B200 HGX", "dense_fp8", 4500, 72, 8 / 1000),
        ("B300 HGX", "dense_fp8", 4500, 72, 8 / 1000),
        ("B200 HGX", "dense_bf16", 2250, 36, 8 / 1000),
        # GB200 NVL72, per GPU in PFLOPS with sparsity.
        ("GB200 NVL72", "dense_fp8", 5000, 10, 1 / 1000),
    ],
)
def test_throughput_nvidia_dense_figures_are_the_published_sparse_ones_halved(
    chip, metric, dense, published, per
):
    fig = throughput_table().get(chip).figure(metric)
    assert fig is not None and fig.value == dense
    assert _published_number(fig.published) == published
    assert "sparsity" in fig.published or "sparse" in fig.published
    assert fig.value == pytest.approx(published / per / 2)


def test_throughput_amd_figures_are_dense_as_published():
    mi300x = throughput_table().get("MI300X OAM")
    assert (mi300x.dense_fp8.value, mi300x.dense_bf16.value) == (2614.9, 1307.4)
    assert _published_number(mi300x.dense_fp8.published) == 2614.9


def test_throughput_the_issue_b200_count_follows_from_the_table():
    table = throughput_table()
    n = equivalent_count(
        720_000, table.tflops("H100 SXM", "dense_fp8"), table.tflops("B200 HGX", "dense_fp8")
    )
    assert n == 316_640  # 720,000 x 1,979 / 4,500, an exact integer
    assert equivalent_count(89_000, 1979, 4500) == 39_140  # 39,140.2 rounds down


@given(
    n=st.integers(min_value=1, max_value=10_000_000),
    ref=st.decimals(min_value="0.1", max_value="100000", places=1),
    chip=st.decimals(min_value="0.1", max_value="100000", places=1),
)
def test_throughput_equivalent_count_is_the_exact_ratio_rounded_half_up(n, ref, chip):
    exact = Fraction(n) * Fraction(ref) / Fraction(chip)  # the figures as written, exactly
    if exact < Fraction(1, 2):
        # Never zero GPUs, and never silently 1 (more compute than the scenario names).
        with pytest.raises(ValueError, match=r"rounds to 0 GPUs"):
            equivalent_count(n, float(ref), float(chip))
        return
    got = equivalent_count(n, float(ref), float(chip))
    assert abs(got - exact) <= Fraction(1, 2)  # the nearest integer...
    assert exact - got != Fraction(1, 2)  # ...and a half rounds up, never down


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["chip"][0]["dense_fp8"].update(source="nowhere"), "unknown source 'nowhere'"),
        (lambda d: d["chip"].append(dict(d["chip"][0])), "defined twice: H100 SXM"),
        (lambda d: d["chip"][0]["dense_fp8"].update(value=-1), "chip.0.dense_fp8.value"),
        (lambda d: d["source"]["nvidia-h100"].pop("checked"), "source.nvidia-h100.checked"),
        (lambda d: d["source"]["nvidia-h100"].update(url="http://x"), "nvidia-h100.url"),
        (lambda d: d["chip"][0].update(form_factor="socket"), "chip.0.form_factor"),
        (lambda d: d.pop("version"), "version"),
    ],
)
def test_throughput_bad_table_is_one_line_naming_the_field(doc, mutate, message):
    import copy

    bad = copy.deepcopy(doc)
    mutate(bad)
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        parse_throughput(bad, where="throughput.toml")
    text = str(err.value)
    assert text.startswith("throughput.toml: ") and "\n" not in text


def test_throughput_unknown_chip_or_metric_names_what_the_table_has():
    table = throughput_table()
    with pytest.raises(ValueError, match=r"unknown chip 'B100' \(throughput table v1 has: H100"):
        table.get("B100")
    with pytest.raises(ValueError, match="no dense_fp4 figure"):
        table.tflops("B200 HGX", "dense_fp4")
    assert table.get("b200 hgx").id == "B200 HGX"  # ids match whatever the case
