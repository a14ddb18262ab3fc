"""Everything that talks to the outside world: HTTP sources and the curated quotes file.

Each source returns typed records (pydantic models) plus the raw responses it saw, so the
warehouse can archive them and `capcover rebuild` can re-derive every typed row offline.
"""

from pathlib import Path

from capcover.model.tiers import COMMITTED_TIERS

# Data shipped with capcover. Defined here, not in ingest.quotes, so that reading settings
# (every command does) does not import requests and the HTTP layer.
DATA_DIR = Path(__file__).parent / "data"
CURATED_QUOTES_PATH = DATA_DIR / "quotes.toml"

# What a curated quote may say it is (the `capcover quotes add` choices and the file's schema).
QUOTE_KINDS = ("purchase", "rental_hourly", "assumption")
FORM_FACTORS = ("SXM", "PCIe", "NVL", "OAM")
CONFIDENCE_LEVELS = ("high", "medium", "low")
# The rental tiers `capcover quotes add --tier` offers: the committed terms of the one taxonomy
# (model/tiers.py), each its own market; no tier: on-demand.
RENTAL_TIERS: tuple[str, ...] = tuple(COMMITTED_TIERS.values())
