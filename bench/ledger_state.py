"""Where the ledger's parts stand, read from PostgreSQL: how far the relay published and which
read models still lack events. The benchmarks wait on these; the drills check them."""

from __future__ import annotations

import time

import psycopg

from projections.registry import all_projections

# Every read model records, per stream, the newest version it applied; a stream is behind
# when that differs from the head the event store recorded with the stream's last append.
LAGGING_STREAMS = """
SELECT p.name, count(*) FROM stream_heads h
CROSS JOIN unnest(%s::text[]) AS p(name)
LEFT JOIN projection_streams s ON s.projection = p.name AND s.stream_id = h.stream_id
WHERE s.version IS DISTINCT FROM h.version
GROUP BY p.name
"""


def projection_names() -> list[str]:
    return [projection.name for projection in all_projections()]


def lagging_streams(url: str) -> dict[str, int]:
    """Read model -> number of streams it has not applied up to their head."""
    with psycopg.connect(url) as conn:
        return dict(conn.execute(LAGGING_STREAMS, (projection_names(),)).fetchall())


def events_applied(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT coalesce(sum(events_applied), 0) FROM projection_status")
        return int(row.fetchone()[0])


def head_position(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT coalesce(max(notification_id), 0) FROM stored_events"
        ).fetchone()[0]


def relay_position(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT coalesce(max(position), 0) FROM relay_position").fetchone()
        return int(row[0])


def wait(probe, *, timeout: float, interval: float = 0.1, what: str = "") -> float:
    """Poll until ``probe()`` is truthy; returns the time it became so (monotonic)."""
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout:.0f} s: {what or probe}")
        time.sleep(interval)
    return time.monotonic()


def lowest_applied_position(url: str) -> int:
    """The newest position the furthest-behind read model has applied (0: one has none)."""
    names = projection_names()
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT position FROM projection_status WHERE projection = ANY(%s)", (names,)
        ).fetchall()
    return min(position for (position,) in rows) if len(rows) == len(names) else 0


def wait_caught_up(url: str, *, timeout: float, interval: float = 0.2) -> float:
    """Poll until no read model lacks an event of any stream.

    That check joins every stream's head with every read model's bookkeeping, which scans
    both: polled every 0.2 s through the streaming scenario it took PostgreSQL's CPU from the
    worker it measured, the more the larger the store (seen at 200,000 events: ~150 such
    scans of a 50,000-row table in 25 s). So first wait, reading a row per read model, until
    each has applied up to the store's head position; then check exactly."""
    deadline = time.monotonic() + timeout
    head = head_position(url)
    wait(
        lambda: lowest_applied_position(url) >= head,
        timeout=timeout,
        interval=interval,
        what=f"every read model applied up to position {head}",
    )
    return wait(
        lambda: not lagging_streams(url),
        timeout=max(deadline - time.monotonic(), 0.0),
        interval=interval,
        what="read models caught up with the event store",
    )


def wait_relayed(url: str, *, timeout: float) -> float:
    head = head_position(url)
    return wait(
        lambda: relay_position(url) >= head,
        timeout=timeout,
        what=f"relay published up to position {head}",
    )
