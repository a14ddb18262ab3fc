"""gpuhunt's catalog bucket for tests and the demo: static route tables, no server of their own.

`routes()` returns `{path: (status, headers, body_bytes)}` for `/{provider}/version` and
`/{provider}/{version}/catalog.zip` (a zip holding `{provider}.csv`). The rows are the real
shapes of fixtures/gpu-feeds/gpuhunt_catalogs_2026-11.json (each provider with its `_source`:
instance names, locations, flags and provider_data as gpuhunt's provider modules write them),
written the way gpuhunt's own storage.dump writes a catalog: csv.DictWriter over the v2
columns, then zipped alone, as its publish script does.

On-demand H100 SXM rows of the fixtures, per GPU-hour at the cheapest location: aws 6.88
(p5.4xlarge) and 6.88 (p5.48xlarge), gcp 11.03 and 11.65 (a3-highgpu/megagpu; 5.82 is the DWS
calendar-mode reservation, not on-demand), oci 10.00, verda 3.95 (both sizes), lambdalabs 4.29
and 3.99, nebius 2.95, runpod 3.29 (secure) and 2.69 (community; 2.49 is the cluster price).
"""

from __future__ import annotations

import copy
import csv
import io
import zipfile
from typing import Any

from capcover.fakeapi import fixtures

FIXTURE = "gpuhunt_catalogs_2026-11.json"


def catalogs() -> dict[str, Any]:
    """The fixture: {"columns", "version", "providers": {name: {"_source", "rows"}}}."""
    return fixtures.gpu_feed(FIXTURE)


CATALOG = catalogs()
COLUMNS: tuple[str, ...] = tuple(CATALOG["columns"])
VERSION: str = CATALOG["version"]
PROVIDERS: tuple[str, ...] = tuple(CATALOG["providers"])
CATALOGS: dict[str, Any] = CATALOG["providers"]  # provider -> {"_source", "rows"}


def provider_rows(provider: str) -> list[dict[str, str]]:
    """A provider's rows as gpuhunt writes them: column name -> CSV cell text."""
    return [
        dict(zip(COLUMNS, row, strict=True))
        for row in copy.deepcopy(CATALOG["providers"][provider]["rows"])
    ]


def catalog_csv(provider: str, rows: list[dict[str, str]] | None = None) -> str:
    """`{provider}.csv` as gpuhunt's storage.dump writes it (excel dialect, CRLF lines)."""
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS))
    writer.writeheader()
    for row in provider_rows(provider) if rows is None else rows:
        writer.writerow(row)
    return out.getvalue()


def catalog_zip(provider: str, rows: list[dict[str, str]] | None = None) -> bytes:
    """The catalog zip, byte for byte the same on every call (fixed timestamps)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo(f"{provider}.csv", date_time=(2026, 11, 20, 17, 42, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, catalog_csv(provider, rows))
    return buf.getvalue()


def routes(
    providers: tuple[str, ...] | list[str] | None = None,
    version: str = VERSION,
    rows: dict[str, list[dict[str, str]]] | None = None,
) -> dict[str, tuple[int, dict[str, str], bytes]]:
    """The route table for `providers` (default: every provider of the fixture); `rows`
    replaces a provider's rows (a test's own catalog in the same shape)."""
    table: dict[str, tuple[int, dict[str, str], bytes]] = {}
    for provider in providers or PROVIDERS:
        # The publish script writes the version with `echo`: a trailing newline.
        table[f"/{provider}/version"] = (
            200,
            {"Content-Type": "text/plain"},
            (version + "\n").encode(),
        )
        table[f"/{provider}/{version}/catalog.zip"] = (
            200,
            {"Content-Type": "application/zip"},
            catalog_zip(provider, (rows or {}).get(provider)),
        )
    return table
