"""The model stage: pure arithmetic, reproducing the CoinDesk article exactly."""

import pytest

from capcover.model.coverage import NVIDIA_H100_SHIPPED_2023, coverage
from capcover.model.prices import estimate


def test_coverage_reproduces_the_coindesk_article():
    cov = coverage(25e9, 720_000, 30_000)
    assert cov.buildout_cost_usd == 21.6e9
    assert cov.coverage_ratio == 25e9 / 21.6e9
    assert round(cov.coverage_ratio, 3) == 1.157


def test_coverage_derived_metrics():
    cov = coverage(25e9, 720_000, 30_000)
    assert cov.gpus_affordable == pytest.approx(833_333.33, abs=0.01)
    assert cov.breakeven_unit_price_usd == pytest.approx(34_722.22, abs=0.01)
    assert cov.share_of_2023_h100_shipments == 720_000 / 550_000
    assert NVIDIA_H100_SHIPPED_2023 == 550_000


def test_coverage_below_one_when_cap_is_short():
    assert coverage(20e9, 720_000, 30_000).coverage_ratio < 1.0


@pytest.mark.parametrize("args", [(1e9, 0, 30_000), (1e9, 10, 0), (-1.0, 10, 1.0)])
def test_coverage_rejects_nonsense(args):
    with pytest.raises(ValueError):
        coverage(*args)


def test_estimate_central_value_is_robust_to_one_outlier():
    assert estimate([25_000, 30_000, 30_000, 300_000]).central_usd == 30_000
    with pytest.raises(ValueError):
        estimate([])
