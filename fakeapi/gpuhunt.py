"""gpuhunt-shaped catalogs for tests and the demo: static route tables, no server of their own.

`routes()` returns `{path: (status, headers, body_bytes)}` for `/{provider}/version` and
`/{provider}/{version}/catalog.zip` (a zip holding `{provider}.csv`, columns as in
../shared/reference/gpu-feeds/gpuhunt_catalog_csv_schema.txt). The rows are ILLUSTRATIVE,
built from the schema: H100 SXM, PCIe and NVL, on-demand and spot, several locations, a CPU
row and an unmapped GPU (both left out), and one absurd outlier (nebius, $400 per GPU-hour).

Expected per-GPU-hour prices of the on-demand H100 SXM quotes (one per provider, instance and
market at its cheapest location): lambdalabs 2.99, aws 12.29, azure 11.00, gcp 11.00, verda 2.50
and 2.40, nebius 400.00 (the outlier).
"""

from __future__ import annotations

import csv
import io
import zipfile

COLUMNS = (
    "instance_name",
    "location",
    "price",
    "cpu",
    "memory",
    "gpu_count",
    "gpu_name",
    "gpu_memory",
    "spot",
    "disk_size",
    "gpu_vendor",
    "flags",
    "cpu_arch",
    "provider_data",
)
VERSION = "20240403-6"

# provider -> rows of (instance_name, location, price per instance-hour, gpu_count, gpu_name,
# spot)
CATALOGS: dict[str, list[tuple[str, str, float, int, str, bool]]] = {
    "lambdalabs": [
        ("gpu_8x_h100_sxm5", "us-east-1", 23.92, 8, "H100", False),
        ("gpu_8x_h100_sxm5", "us-west-1", 25.00, 8, "H100", False),
        ("gpu_1x_h100_pcie", "us-east-1", 2.49, 1, "H100", False),
        ("cpu_4x_general", "us-east-1", 0.20, 0, "", False),
    ],
    "aws": [
        ("p5.48xlarge", "us-east-1", 98.32, 8, "H100", False),
        ("p5.48xlarge", "eu-west-1", 104.00, 8, "H100", False),
        ("p5.48xlarge", "us-east-1", 40.00, 8, "H100", True),
        ("g4dn.xlarge", "us-east-1", 0.526, 1, "T4", False),
    ],
    "azure": [
        ("Standard_ND96isr_H100_v5", "eastus", 88.00, 8, "H100", False),
        ("Standard_NC40ads_H100_v5", "eastus", 6.98, 1, "H100NVL", False),
    ],
    "gcp": [
        ("a3-highgpu-8g", "us-central1", 88.00, 8, "H100", False),
        ("a3-highgpu-8g", "us-central1", 30.00, 8, "H100", True),
    ],
    "verda": [
        ("8x H100 SXM5 80GB", "FIN-01", 20.00, 8, "H100", False),
        ("1x H100 SXM5 80GB", "FIN-01", 2.40, 1, "H100", False),
        ("1x H100 SXM5 80GB", "FIN-01", 1.20, 1, "H100", True),
    ],
    "nebius": [
        ("gpu-h100-sxm", "eu-north1", 3200.00, 8, "H100", False),  # the absurd outlier
    ],
}


def catalog_csv(provider: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for name, location, price, gpus, gpu, spot in CATALOGS[provider]:
        vendor = "nvidia" if gpus else ""
        writer.writerow(
            [
                name,
                location,
                price,
                96,
                1024,
                gpus,
                gpu,
                80 if gpus else 0,
                str(spot),
                1000,
                vendor,
                "",
                "x86",
                "",
            ]
        )
    return out.getvalue()


def catalog_zip(provider: str) -> bytes:
    """The catalog zip, byte for byte the same on every call (fixed timestamps)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo(f"{provider}.csv", date_time=(2024, 4, 3, 6, 5, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, catalog_csv(provider))
    return buf.getvalue()


def routes(
    providers: tuple[str, ...] | list[str] | None = None, version: str = VERSION
) -> dict[str, tuple[int, dict[str, str], bytes]]:
    """The route table for `providers` (default: every provider above)."""
    table: dict[str, tuple[int, dict[str, str], bytes]] = {}
    for provider in providers or CATALOGS:
        table[f"/{provider}/version"] = (200, {"Content-Type": "text/plain"}, version.encode())
        table[f"/{provider}/{version}/catalog.zip"] = (
            200,
            {"Content-Type": "application/zip"},
            catalog_zip(provider),
        )
    return table
