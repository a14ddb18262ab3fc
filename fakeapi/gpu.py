"""Fake Vast.ai and RunPod feeds on a FakeAPI, built from the captured answers in
fakeapi/fixtures/gpu-feeds (each with its `_source`).

The fake Vast.ai applies the parts of the bundles query that shape pagination (gpu_name,
the dph_total cursor, the ids already read at the cursor's price, ascending order, a page cap:
64 like the live one, or any other a test sets) but, like a marketplace whose filters drift,
it does NOT drop bids, rented or de-verified offers: the parser must say what they are.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from capcover.fakeapi import fixtures
from capcover.fakeapi.faults import Reply
from capcover.fakeapi.server import FakeAPI, Request

VAST_PATH = "/api/v0/bundles/"
RUNPOD_PATH = "/graphql"
PAGE_CAP = 64
VAST_REFERENCE = "vastai_bundles_h100_sxm_2026-08-22.json"
VAST_ASKS = "vastai_h100_sxm_asks_2026-08-22.json"
RUNPOD_REFERENCE = "runpod_graphql_gputypes_2026-08-22.json"
RUNPOD_TERMS = "runpod_graphql_gputypes_terms_2026-11.json"


def feed_reference(name: str) -> dict:
    """A captured feed answer from fakeapi/fixtures/gpu-feeds, `_source` included."""
    return fixtures.gpu_feed(name)


def vast_offer(
    i: int, gpu_name: str, num_gpus: int, dph_total: float, **extra: Any
) -> dict[str, Any]:
    """The real captured offer, re-labelled: a new id (and machine), GPU, count and price."""
    base: dict[str, Any] = copy.deepcopy(fixtures.gpu_feed(VAST_REFERENCE)["offers"][0])
    base.update(
        {
            "id": 50_000_000 + i,
            "ask_contract_id": 50_000_000 + i,
            "machine_id": 1000 + i,
            "host_id": 700_000 + i,
            "gpu_name": gpu_name,
            "num_gpus": num_gpus,
            "gpu_frac": 1.0,
            "dph_base": dph_total,
            "dph_total": dph_total,
            "verification": "verified",
            "is_bid": False,
            "rentable": True,
            "rented": False,
        }
    )
    base.update(extra)
    return base


def captured_h100_sxm_asks() -> list[dict]:
    """The 8 H100 SXM asks of the 2026-08-22 capture (fixtures/gpu-feeds/VAST_ASKS: identity
    and price fields as captured, every other field the first offer's), then the bigger slices
    of the same machines that sort after the capture's window: a machine whose 1-GPU ask has
    `gpu_frac` f holds 1/f GPUs and lists 2, 4, ... of them too, at the same price per GPU plus
    the same storage charge per instance."""
    base = fixtures.gpu_feed(VAST_REFERENCE)["offers"][0]
    asks = fixtures.gpu_feed(VAST_ASKS)
    offers = []
    for values in asks["offers"]:
        ask = {**copy.deepcopy(base), **dict(zip(asks["fields"], values, strict=True))}
        ask["ask_contract_id"] = ask["id"]
        offers.append(ask)
    slices = []
    for ask in offers:
        gpus, storage = round(1 / ask["gpu_frac"]), ask["dph_total"] - ask["dph_base"]
        size = 2
        while size <= gpus:
            slices.append(
                {
                    **copy.deepcopy(ask),
                    "id": ask["id"] + 100 * size,
                    "ask_contract_id": ask["id"] + 100 * size,
                    "num_gpus": size,
                    "gpu_frac": size / gpus,
                    "dph_base": ask["dph_base"] * size,
                    "dph_total": ask["dph_base"] * size + storage,
                    "verified": None,  # NOTES.md: the boolean may be null; `verification` rules
                }
            )
            size *= 2
    return offers + slices


def vast_market() -> list[dict]:
    """The captured H100 SXM book with its machines' bigger slices (19 offers, 8 machines),
    H100 PCIe/NVL, H200 and B200 asks, and what the parser must handle: a bid, a de-verified
    host, a rented offer (the fake ignores the rented filter, as a drifting server might) and
    a malformed offer (zero GPUs)."""
    offers = captured_h100_sxm_asks()
    offers.append(vast_offer(100, "H100 PCIE", 1, 1.60))
    offers.append(vast_offer(101, "H100 NVL", 2, 4.40))
    offers.append(vast_offer(102, "H200", 8, 8 * 2.90))
    offers.append(vast_offer(103, "H200", 1, 3.10))
    offers.append(vast_offer(104, "B200", 8, 8 * 4.50))
    offers.append(vast_offer(105, "H100 SXM", 1, 0.50, is_bid=True))  # an interruptible bid
    offers.append(vast_offer(106, "H100 SXM", 1, 0.90, verification="deverified"))
    offers.append(vast_offer(107, "H100 SXM", 1, 0.95, rented=True))
    offers.append(vast_offer(108, "H100 SXM", 0, 1.00))  # malformed: zero GPUs -> quarantine
    return offers


def vast_flood(
    n: int, per_gpu_usd: float, *, first: int = 500, verification: str = "verified"
) -> list[dict]:
    """`n` extra H100 SXM asks at `per_gpu_usd` per GPU-hour, each a 1-GPU machine of its
    own (the flood of cheap asks one marketplace can throw at a pooled median)."""
    return [
        vast_offer(first + k, "H100 SXM", 1, per_gpu_usd, verification=verification)
        for k in range(n)
    ]


def vast_book(n: int, gpu_name: str = "H100 SXM") -> list[dict]:
    """`n` verified asks for one GPU name at 1.80, 1.81, ... per GPU-hour (1/2/4/8-GPU
    instances, each its own machine): a book longer than one page."""
    out = []
    for i in range(n):
        gpus = (1, 2, 4, 8)[i % 4]
        out.append(vast_offer(i, gpu_name, gpus, round((1.80 + i * 0.01) * gpus, 6)))
    return out


class FakeVast:
    """The bundles endpoint: `offers` filtered by GPU name and price cursor, at most `page_cap`
    per answer; `queries` seen."""

    def __init__(self, offers: list[dict] | None = None, page_cap: int = PAGE_CAP) -> None:
        self.offers = offers if offers is not None else vast_market()
        self.page_cap = page_cap
        self.queries: list[dict] = []

    def install(self, api: FakeAPI, prefix: str = "") -> FakeVast:
        api.handle(prefix + VAST_PATH, self, method="GET")
        return self

    def __call__(self, request: Request) -> Reply:
        q = json.loads(request.query["q"])
        self.queries.append(q)
        hits = [
            o
            for o in self.offers
            if all(_holds(o.get(f), q.get(f) or {}) for f in ("gpu_name", "dph_total", "id"))
        ]
        # Ascending price; offers of one price in the book's own order (the live order of
        # ties is not documented, so a test may shuffle the book to vary it).
        hits.sort(key=lambda o: o["dph_total"])
        limit = min(int(q.get("limit", self.page_cap)), self.page_cap)
        return Reply({"offers": hits[:limit]})


# The bundles query's operators on one field (the vast-ai CLI's table: eq, neq, gt, gte, lt,
# lte, in, notin); an operator the fake does not know matches nothing, loudly wrong.
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda v, x: v == x,
    "neq": lambda v, x: v != x,
    "gt": lambda v, x: v > x,
    "gte": lambda v, x: v >= x,
    "lt": lambda v, x: v < x,
    "lte": lambda v, x: v <= x,
    "in": lambda v, x: v in x,
    "notin": lambda v, x: v not in x,
}


def _holds(value: Any, conditions: dict) -> bool:
    return all(op in _OPS and _OPS[op](value, arg) for op, arg in conditions.items())


class FakeRunPod:
    """The GraphQL endpoint: `gpu_types` for a gpuTypes query (default: the answer to the query
    capcover sends, fixtures/gpu-feeds/RUNPOD_TERMS); `user_agents` seen."""

    def __init__(self, gpu_types: list[dict] | None = None) -> None:
        ref = fixtures.gpu_feed(RUNPOD_TERMS)
        self.gpu_types = gpu_types if gpu_types is not None else ref["data"]["gpuTypes"]
        self.user_agents: list[str] = []

    def install(self, api: FakeAPI, prefix: str = "") -> FakeRunPod:
        api.handle(prefix + RUNPOD_PATH, self, method="POST")
        return self

    def __call__(self, request: Request) -> Reply:
        agent = request.headers.get("User-Agent", "")
        self.user_agents.append(agent)
        if agent.startswith("python-requests"):  # what RunPod's CDN did to the default agent
            return Reply(raw="<html>403 Forbidden</html>", status=403, content_type="text/html")
        body = request.json() or {}
        if "gpuTypes" not in body.get("query", ""):
            return Reply({"errors": [{"message": "unknown query"}]})
        return Reply({"data": {"gpuTypes": self.gpu_types}})


class FakeFeeds:
    """Both feeds on one FakeAPI: Vast.ai at /vast, RunPod at /runpod; `reset()` gives fresh
    offers (the server can outlive one test)."""

    def __init__(self, api: FakeAPI) -> None:
        self.api = api
        self.vast_base_url = api.url_for("/vast")
        self.runpod_base_url = api.url_for("/runpod")
        self.reset()

    def reset(self) -> None:
        self.api.clear()
        self.vast = FakeVast()
        self.runpod = FakeRunPod()
        # Routes call through self, so a test may swap `vast`/`runpod` after install.
        self.api.handle("/vast" + VAST_PATH, lambda r: self.vast(r), method="GET")
        self.api.handle("/runpod" + RUNPOD_PATH, lambda r: self.runpod(r), method="POST")


def install_simple_feeds(api: FakeAPI, prefix: str = "") -> None:
    """Five verified offers for any GPU name on Vast.ai and the captured RunPod answer, at the
    root: enough for a benchmark's quote step, not for the parser's edge cases."""
    template = fixtures.gpu_feed(VAST_REFERENCE)["offers"][0]
    runpod = fixtures.gpu_feed(RUNPOD_REFERENCE)
    runpod.pop("_source", None)

    def vast(request: Request) -> Reply:
        name = json.loads(request.query.get("q", "{}")).get("gpu_name", {}).get("eq", "H100 SXM")
        return Reply(
            {
                "offers": [
                    {
                        **template,
                        "id": 1000 + i,
                        "gpu_name": name,
                        "verification": "verified",
                        "dph_total": 1.5 + 0.25 * i,
                    }
                    for i in range(5)
                ]
            }
        )

    api.handle(prefix + VAST_PATH, vast)
    api.add(prefix + RUNPOD_PATH, Reply(raw=json.dumps(runpod)))
