"""SKU normalisation over real labels from the reference payloads (tests/fixtures/gpu-feeds)."""

import json

import pytest

from capcover.ingest.sku import UNMAPPED, normalise, parse_catalogue
from tests.conftest import FEEDS

# (label exactly as a feed wrote it, where it comes from, sku, form factor, memory GB)
REAL_LABELS = [
    ("H100 SXM", "vastai gpu_name", "H100", "SXM", None),
    ("NVIDIA H100 80GB HBM3", "runpod id", "H100", None, 80.0),
    ("H100 SXM", "runpod displayName", "H100", "SXM", None),
    ("NVIDIA H200", "runpod id", "H200", None, None),
    ("H200 SXM", "runpod displayName", "H200", "SXM", None),
    ("NVIDIA B200", "runpod id", "B200", None, None),
    ("NVIDIA B300 SXM6 AC", "runpod id", "B300", "SXM", None),
    ("AMD Instinct MI300X OAM", "runpod id", "MI300X", "OAM", None),
    ("NVIDIA A100-SXM4-40GB", "runpod id", "A100", "SXM", 40.0),
    ("A100 SXM 40GB", "runpod displayName", "A100", "SXM", 40.0),
    ("NVIDIA GeForce RTX 4090", "runpod id", "RTX 4090", None, None),
    ("NVIDIA GeForce RTX 3070", "runpod id", "RTX 3070", None, None),
    ("NVIDIA L40S", "runpod id", "L40S", None, None),
    ("1x H100 (80 GB PCIe)", "lambda description", "H100", "PCIe", 80.0),
    ("8x H100 (80 GB SXM5)", "lambda description", "H100", "SXM", 80.0),
    ("gpu_8x_h100_sxm5", "lambda name", "H100", "SXM", None),
    ("B200 (180 GB SXM6)", "lambda gpu_description", "B200", "SXM", 180.0),
    ("GH200 (96 GB)", "lambda gpu_description", "GH200", None, 96.0),
    ("gpu_1x_gh200", "lambda name", "GH200", None, None),
    ("8x A100 (80 GB SXM4)", "lambda description", "A100", "SXM", 80.0),
    ("A6000", "shadeform shade_instance_type", "A6000", None, None),
    ("gpu_1x_a6000", "skypilot InstanceType", "A6000", None, None),
    ("H100NVL", "gpuhunt gpu_name", "H100", "NVL", None),
    ("MI300X", "gpuhunt gpu_name", "MI300X", None, None),
]


@pytest.mark.parametrize(("label", "where", "sku", "form", "memory"), REAL_LABELS)
def test_sku_normalises_real_feed_labels(label, where, sku, form, memory):
    m = normalise(label)
    assert (m.sku, m.form_factor, m.memory_gb) == (sku, form, memory), where


def test_sku_labels_in_the_table_are_really_in_the_payloads():
    text = "\n".join(p.read_text(encoding="utf-8") for p in FEEDS.iterdir())
    for label, where, *_ in REAL_LABELS:
        assert label in text, (label, where)


@pytest.mark.parametrize(
    ("label", "sku"),
    [
        ("NVIDIA GB200 NVL72", "GB200"),  # GB200 before B200
        ("B200", "B200"),
        ("NVIDIA H200 NVL", "H200"),  # H200 before H100
        ("NVIDIA H20", "H20"),  # H20 never matches H200 ...
        ("H20 96GB", "H20"),
        ("NVIDIA H200 141GB", "H200"),  # ... and H200 never reads as H20
        ("GH200 480GB", "GH200"),  # GH200 is not H200
        ("L40", "L40"),
        ("L4", "L4"),
    ],
)
def test_sku_order_keeps_look_alike_names_apart(label, sku):
    assert normalise(label).sku == sku


@pytest.mark.parametrize(
    ("label", "form"),
    [
        ("H100 SXM", "SXM"),
        ("H100 PCIE", "PCIe"),
        ("H100 NVL", "NVL"),
        ("H100NVL", "NVL"),
        ("H100 80GB NVLink", None),  # NVLink is an interconnect, not the NVL card
    ],
)
def test_sku_form_factors_stay_apart(label, form):
    assert normalise(label).form_factor == form


@pytest.mark.parametrize("label", ["Tesla V100", "NVIDIA T4", "Radeon Pro W7900", "TPU v5e"])
def test_sku_unknown_labels_are_unmapped_not_guessed(label):
    assert normalise(label).sku == UNMAPPED


def test_sku_catalogue_is_data_order_decides():
    # The same labels, with a catalogue whose order is wrong: the file, not code, decides.
    doc = '[[sku]]\nsku = "X"\ntokens = ["H100"]\n[[sku]]\nsku = "H100"\ntokens = ["H100"]\n'
    assert parse_catalogue(doc).normalise("NVIDIA H100").sku == "X"


def test_sku_catalogue_rejects_an_entry_without_tokens():
    with pytest.raises(ValueError, match="tokens"):
        parse_catalogue('[[sku]]\nsku = "H100"\n')


def test_sku_every_runpod_reference_type_maps():
    types = json.loads((FEEDS / "runpod_graphql_gputypes_2026-08-22.json").read_text())
    for t in types["data"]["gpuTypes"]:
        assert normalise(t["id"]).sku != UNMAPPED, t["id"]
