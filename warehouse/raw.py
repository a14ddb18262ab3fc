"""The raw archive: every response a run received, written by ONE function (`archive_raws`)
and read back by `run_responses` (one run), `stream_runs` (many runs in one pass, for
`capcover rebuild`) and `held_catalogs` (what a run need not fetch again).

Two tables behind the view `raw_http` (migration 090): backfill runs write
`raw_http_backfill`, every other run `raw_http_daily`, so a daily run's commit and checkpoint
never rewrite the backfill's market charts. A response the run did not fetch again because the
archive holds it (`RawResponse.same_as`) is stored as a link: an empty body and the
(run_id, seq) of the row that holds it; readers resolve it.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterable, Sequence

from capcover.ingest.models import RawResponse
from capcover.warehouse.db import Warehouse

LINKS = 90  # the migration that splits the archive and adds the link columns
DAILY, BACKFILL = "raw_http_daily", "raw_http_backfill"
_COLUMNS = (
    "source, endpoint, method, url, params, request_body, status, body, fetched_at,"
    " elapsed_ms, attempt"
)


def archive_raws(
    wh: Warehouse,
    run_id: str,
    raws: Iterable[tuple[int, RawResponse]],
    *,
    backfill: bool = False,
) -> int:
    """Append numbered responses (seq, response) of run `run_id` to the archive: the backfill's
    table with `backfill`, else the daily one. Returns the rows written. The only writer of
    the raw archive; call inside the run's transaction."""
    linked = wh.has(LINKS)
    rows = []
    for seq, r in raws:
        row: tuple = (
            run_id,
            seq,
            r.source,
            r.endpoint,
            r.method,
            r.url,
            json.dumps(r.params, sort_keys=True, default=str),
            r.request_body,
            r.status,
            "" if r.same_as is not None and linked else r.body,
            r.sha256,
            r.fetched_at,
            r.elapsed_ms,
            r.attempt,
        )
        if linked:
            row += r.same_as if r.same_as is not None else (None, None)
        rows.append(row)
    table = (BACKFILL if backfill else DAILY) if linked else "raw_http"
    return wh.append(table, rows)


def _record(row: Sequence, body: str | None = None) -> RawResponse:
    (s, e, m, u, p, rb, st, b, f, el, a) = row[:11]
    link = tuple(row[11:13]) if len(row) > 11 and row[11] is not None else None
    return RawResponse(
        source=s,
        endpoint=e,
        method=m,
        url=u,
        params=json.loads(p or "{}"),
        request_body=rb,
        status=st,
        body=b if body is None else body,
        fetched_at=f,
        elapsed_ms=el,
        attempt=a,
        same_as=link,
    )


def _bodies(wh: Warehouse, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """The bodies of the rows (run_id, seq) that links point at (point lookups)."""
    found = {}
    for run_id, seq in sorted(set(keys)):
        body = wh.scalar("SELECT body FROM raw_http WHERE run_id = ? AND seq = ?", [run_id, seq])
        if body is None:
            raise LookupError(f"raw archive: a link names ({run_id}, {seq}), which is not archived")
        found[(run_id, seq)] = body
    return found


def _links_sql(wh: Warehouse) -> str:
    return ", same_as_run_id, same_as_seq" if wh.has(LINKS) else ""


def run_responses(
    wh: Warehouse, run_id: str, *, charts: bool = True, backfill: bool = False
) -> list[RawResponse]:
    """A run's archived responses, in the order they were received, links resolved.
    `charts=False` leaves the backfill's market charts out (they are parsed in SQL);
    `backfill`: the run is a backfill's (its rows are in the backfill's table)."""
    table = (BACKFILL if backfill else DAILY) if wh.has(LINKS) else "raw_http"
    if charts:
        rows = wh.query(
            f"SELECT {_COLUMNS}{_links_sql(wh)} FROM {table}"  # noqa: S608 - constants
            " WHERE run_id = ? ORDER BY seq",
            [run_id],
        )
    else:
        # The rows from the narrow columns, then each by its key: a filter in the same scan
        # read the body of every chart of the run (100 MB at 10 years).
        rows = [
            row
            for (seq,) in wh.query(
                f"SELECT seq FROM {table} WHERE run_id = ?"  # noqa: S608 - constants
                " AND endpoint NOT LIKE '/coins/%/market_chart' ORDER BY seq",
                [run_id],
            )
            for row in wh.query(
                f"SELECT {_COLUMNS}{_links_sql(wh)} FROM {table}"  # noqa: S608 - constants
                " WHERE run_id = ? AND seq = ?",
                [run_id, seq],
            )
        ]
    bodies = _bodies(wh, (tuple(r[11:13]) for r in rows if len(r) > 11 and r[11] is not None))
    return [
        _record(r, bodies.get(tuple(r[11:13])) if len(r) > 11 and r[11] is not None else None)
        for r in rows
    ]


def stream_runs(
    wh: Warehouse, run_ids: Sequence[str], *, batch_rows: int = 256
) -> Generator[tuple[str, list[RawResponse]], None, None]:
    """(run_id, its responses) for the daily archive's runs among `run_ids`, one run at a
    time, from ONE pass over the archive in the order it was written (commit order), links
    resolved. Memory holds one run's responses and the bodies later links point at.

    Reads on a cursor of its own, so the caller may write on `wh` meanwhile (the archive
    itself is never written by a reader)."""
    if not run_ids:
        return
    table = DAILY if wh.has(LINKS) else "raw_http"
    # Bodies that later rows link to: kept from the pass until their last link is served.
    pending: dict[tuple[str, int], int] = {}
    if wh.has(LINKS):
        for run_id, seq, n in wh.query(
            f"SELECT same_as_run_id, same_as_seq, count(*) FROM {table}"  # noqa: S608
            " WHERE same_as_run_id IS NOT NULL AND list_contains(?, run_id) GROUP BY ALL",
            [list(run_ids)],
        ):
            pending[(run_id, seq)] = n
    streamed = {
        r
        for (r,) in wh.query(
            f"SELECT DISTINCT run_id FROM {table} WHERE list_contains(?, run_id)",  # noqa: S608
            [list(run_ids)],
        )
    }
    # Targets outside the pass (a run not replayed): looked up once, up front.
    held = _bodies(wh, [k for k in pending if k[0] not in streamed])
    cur = wh.con.cursor()
    try:
        # No ORDER BY: DuckDB returns a plain scan in insertion order (preserve_insertion_order),
        # and a sort would hold every body of the archive at once.
        cur.execute(
            f"SELECT run_id, seq, {_COLUMNS}{_links_sql(wh)} FROM {table}"  # noqa: S608
            " WHERE list_contains(?, run_id)",
            [list(run_ids)],
        )
        current: str | None = None
        out: list[RawResponse] = []
        while batch := cur.fetchmany(batch_rows):
            for row in batch:
                run_id, seq, rest = row[0], row[1], row[2:]
                if run_id != current:
                    if current is not None:
                        yield current, out
                    current, out = run_id, []
                key = tuple(rest[11:13]) if len(rest) > 11 and rest[11] is not None else None
                if key is not None:
                    if key not in held:
                        raise LookupError(
                            f"raw archive: run {run_id} links to ({key[0]}, {key[1]}), which is "
                            f"not archived"
                        )
                    body = held[key]
                    pending[key] -= 1
                    if not pending[key]:
                        held.pop(key)
                    out.append(_record(rest, body))
                else:
                    if (run_id, seq) in pending:
                        held[(run_id, seq)] = rest[7]
                    out.append(_record(rest))
        if current is not None:
            yield current, out
    finally:
        cur.close()


def held_catalogs(wh: Warehouse, source: str) -> dict[str, RawResponse]:
    """provider -> the newest successful `/{provider}/{version}/catalog.zip` response of
    `source` in the archive (a link row resolved to the row holding the body), with
    `same_as` naming that row: what a run links to instead of fetching it again."""
    if not wh.has(LINKS):
        return {}
    rows = wh.query(
        f"""
        SELECT split_part(endpoint, '/', 2) AS provider,
               arg_max(coalesce(same_as_run_id, run_id), fetched_at),
               arg_max(CASE WHEN same_as_run_id IS NULL THEN seq ELSE same_as_seq END,
                       fetched_at)
        FROM {DAILY}
        WHERE source = ? AND status = 200 AND endpoint LIKE '/%/%/catalog.zip'
        GROUP BY provider
        """,  # noqa: S608 - constants
        [source],
    )
    held = {}
    for provider, run_id, seq in rows:
        found = wh.query(
            f"SELECT {_COLUMNS} FROM {DAILY} WHERE run_id = ? AND seq = ?",  # noqa: S608
            [run_id, seq],
        )
        if found:
            record = _record(found[0])
            held[provider] = RawResponse(
                **{**record.__dict__, "same_as": (run_id, seq)},
            )
    return held
