"""What a setting's range is: a closed (or left-open) interval of finite numbers.

The ranges themselves live beside each setting's default in config/defaults.py (the one table
of settings); the settings model turns them into pydantic constraints (`Bound.constraint`), the
lean reader checks them with `Bound.contains`, and docs/threat-model.md prints them as
`Bound.describe` writes them. Importing this module loads nothing else (the lean reader uses
it).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

# How a number setting is written as text (an environment variable, a comma-separated list): a
# plain decimal, optionally with an exponent. Not `1_000` (Python's and pydantic's digit
# grouping), `0x10`, `10^21`, `inf`, `nan` or digits of other scripts (`١٠`, `５`): the settings
# model and the lean reader both refuse what this does not match (rule C2).
PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


_NON_FINITE = re.compile(r"[+-]?(?:inf|infinity|nan)", re.IGNORECASE)


def plain_number_text(value: Any) -> Any:
    """`value` unchanged, unless it is text that is not a plain decimal number (ValueError);
    `inf` and `nan` are left to the finite-number check that names them."""
    if isinstance(value, str):
        text = value.strip()
        if not PLAIN_NUMBER.fullmatch(text) and not _NON_FINITE.fullmatch(text):
            raise ValueError("must be a plain decimal number like 1000 or 2.5e3")
    return value


@dataclass(frozen=True)
class Bound:
    """A closed range [low, high], or (low, high] with `low_open`; finite numbers only."""

    low: float
    high: float
    low_open: bool = False
    unit: str = ""

    def constraint(self) -> Any:
        """This range as an `Annotated` constraint pydantic enforces."""
        from annotated_types import Interval  # only where the settings model is built

        if self.low_open:
            return Interval(gt=self.low, le=self.high)
        return Interval(ge=self.low, le=self.high)

    def contains(self, value: float) -> bool:
        if isinstance(value, bool) or not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        return above and value <= self.high

    def describe(self) -> str:
        left = "(" if self.low_open else "["
        unit = f" {self.unit}" if self.unit else ""
        return f"{left}{_number(self.low)}, {_number(self.high)}]{unit}"


def _number(value: float) -> str:
    """1,048,576 and 86,400 as such; 1e+18 and 0.01 as Python writes them."""
    if value == int(value) and abs(value) < 1e7:
        return f"{int(value):,}"
    return f"{value:g}"
