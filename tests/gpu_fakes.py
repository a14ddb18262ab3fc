"""Fake Vast.ai and RunPod servers over real HTTP, built from the reference payloads in
tests/fixtures/gpu-feeds (each with its `_source`).

The fake Vast.ai applies the parts of the bundles query that shape pagination (gpu_name,
the dph_total cursor, ascending order, the 64-offer cap) but, like a marketplace whose filters
drift, it does NOT drop bids or unverified offers: the parser must.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

FEEDS = Path(__file__).parent / "fixtures" / "gpu-feeds"
VAST_PATH = "/api/v0/bundles/"
RUNPOD_PATH = "/graphql"
PAGE_CAP = 64


def feed_reference(name: str) -> dict:
    return json.loads((FEEDS / name).read_text(encoding="utf-8"))


def vast_offer(i: int, gpu_name: str, num_gpus: int, dph_total: float, **extra) -> dict:
    """The real captured offer, re-labelled: a new id, GPU, count and instance price."""
    base = copy.deepcopy(feed_reference("vastai_bundles_h100_sxm_2026-08-22.json")["offers"][0])
    base.update({"id": 50_000_000 + i, "ask_contract_id": 50_000_000 + i, "machine_id": 1000 + i,
                 "gpu_name": gpu_name, "num_gpus": num_gpus, "dph_total": dph_total,
                 "verification": "verified", "is_bid": False, "rentable": True,
                 "rented": False})
    base.update(extra)
    return base


def vast_market() -> list[dict]:
    """70 H100 SXM offers (more than one 64-offer page), H100 PCIe/NVL, H200, B200, plus a bid,
    an unverified offer and a malformed one that must not become quotes."""
    offers = []
    for i in range(70):  # per-GPU prices 1.80, 1.81, ... 2.49; instance sizes 1, 2, 4, 8
        gpus = (1, 2, 4, 8)[i % 4]
        offers.append(vast_offer(i, "H100 SXM", gpus, round((1.80 + i * 0.01) * gpus, 6)))
    offers.append(vast_offer(100, "H100 PCIE", 1, 1.60))
    offers.append(vast_offer(101, "H100 NVL", 2, 4.40))
    offers.append(vast_offer(102, "H200", 8, 8 * 2.90))
    offers.append(vast_offer(103, "H200", 1, 3.10))
    offers.append(vast_offer(104, "B200", 8, 8 * 4.50))
    offers.append(vast_offer(105, "H100 SXM", 1, 0.50, is_bid=True))  # interruptible bid
    offers.append(vast_offer(106, "H100 SXM", 1, 0.90, verification="unverified"))
    offers.append(vast_offer(107, "H100 SXM", 0, 1.00))  # malformed: zero GPUs -> quarantine
    return offers


class FakeVast:
    def __init__(self, offers: list[dict] | None = None) -> None:
        self.offers = offers if offers is not None else vast_market()
        self.queries: list[dict] = []

    def __call__(self, request: Request) -> Response:
        q = json.loads(request.args["q"])
        self.queries.append(q)
        hits = [o for o in self.offers if o["gpu_name"] == q["gpu_name"]["eq"]]
        floor = q.get("dph_total", {}).get("gte")
        if floor is not None:
            hits = [o for o in hits if o["dph_total"] >= floor]
        hits.sort(key=lambda o: (o["dph_total"], o["id"]))
        limit = min(int(q.get("limit", PAGE_CAP)), PAGE_CAP)
        return Response(json.dumps({"offers": hits[:limit]}), content_type="application/json")


class FakeRunPod:
    def __init__(self, gpu_types: list[dict] | None = None) -> None:
        ref = feed_reference("runpod_graphql_gputypes_2026-08-22.json")
        self.gpu_types = gpu_types if gpu_types is not None else ref["data"]["gpuTypes"]
        self.user_agents: list[str] = []

    def __call__(self, request: Request) -> Response:
        agent = request.headers.get("User-Agent", "")
        self.user_agents.append(agent)
        if agent.startswith("python-requests"):  # what RunPod's CDN did to the default agent
            return Response("<html>403 Forbidden</html>", status=403, content_type="text/html")
        body = request.get_json(silent=True) or {}
        if "gpuTypes" not in body.get("query", ""):
            return Response(json.dumps({"errors": [{"message": "unknown query"}]}),
                            content_type="application/json")
        return Response(json.dumps({"data": {"gpuTypes": self.gpu_types}}),
                        content_type="application/json")


class FakeFeeds:
    """Both feeds on one local server: Vast.ai at /vast, RunPod at /runpod."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.vast = FakeVast()
        self.runpod = FakeRunPod()
        server.expect_request("/vast" + VAST_PATH, method="GET").respond_with_handler(
            lambda r: self.vast(r))
        server.expect_request("/runpod" + RUNPOD_PATH, method="POST").respond_with_handler(
            lambda r: self.runpod(r))
        self.vast_base_url = server.url_for("/vast")
        self.runpod_base_url = server.url_for("/runpod")

    def reset(self) -> None:
        self.vast = FakeVast()
        self.runpod = FakeRunPod()
