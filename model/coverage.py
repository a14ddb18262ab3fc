"""The coverage arithmetic: does the sector's market cap pay for the GPU buildout?"""

from __future__ import annotations

from dataclasses import dataclass

NVIDIA_H100_SHIPPED_2023 = 550_000  # CoinDesk, 2024-04-03, citing Statista/Omdia


@dataclass(frozen=True)
class Coverage:
    """All amounts in USD; counts in GPUs."""

    buildout_cost_usd: float
    coverage_ratio: float  # sector cap / buildout cost; >= 1.0 means the cap covers it
    gpus_affordable: float  # how many GPUs the sector cap buys at this unit price
    breakeven_unit_price_usd: float  # the unit price at which the ratio is exactly 1.0
    share_of_2023_h100_shipments: float  # gpu_count / Nvidia's 2023 H100 shipments


def coverage(sector_market_cap_usd: float, gpu_count: int, unit_price_usd: float) -> Coverage:
    """Coverage of `gpu_count` GPUs at `unit_price_usd` each by `sector_market_cap_usd`.

    `unit_price_usd` is the full cost per GPU under the scenario (purchase price, all-in
    price, or a year's rent), so buildout cost is simply count times price.
    """
    if gpu_count <= 0:
        raise ValueError("gpu_count must be positive")
    if unit_price_usd <= 0:
        raise ValueError("unit_price_usd must be positive")
    if sector_market_cap_usd < 0:
        raise ValueError("sector_market_cap_usd must not be negative")
    cost = gpu_count * unit_price_usd
    return Coverage(
        buildout_cost_usd=cost,
        coverage_ratio=sector_market_cap_usd / cost,
        gpus_affordable=sector_market_cap_usd / unit_price_usd,
        breakeven_unit_price_usd=sector_market_cap_usd / gpu_count,
        share_of_2023_h100_shipments=gpu_count / NVIDIA_H100_SHIPPED_2023,
    )
