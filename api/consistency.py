"""Read-your-writes: a query may name a global position (``min_position``, as a command
answered it) and wait, at most ``wait`` seconds, until the read models it reads have applied
every event up to that position; else 503 with the lag and ``Retry-After``.

Why not just compare ``projection_status.position``: the topic has several partitions and the
worker applies them independently, so a read model can have applied position 120 (one
partition) while 117 (another) is still on its way. Its highest applied position over-reports.

What we check instead is exact. ``projection_streams`` keeps, per read model and stream, the
last applied version. An event (stream S, version v, position p) is applied when that row
for S has a version >= v. So "applied up to P" means: no stored event with a position <= P
has an unapplied (stream, version). Positions are gap-free for readers (the recorder commits
appends in position order), so once every event <= P is seen applied it stays so.

The guarantee:

* a query about one session (path parameter ``session_id``) waits until every event of that
  session at a position <= ``min_position`` is in the read models it reads;
* a list query waits until every event of any stream at a position <= ``min_position`` is in
  every read model it reads;
* either way the ledger's head must have reached ``min_position`` (a position from the future
  is never "applied").

A list check scans the stored events between the highest position this API process already
verified and ``min_position``, so it costs about the lag, not the log. That watermark is
kept per process and only grows; it assumes a read model's applied versions never go back
(a rebuild builds new tables beside the live ones, as DESIGN.md §4 says).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Query, Request
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool

from domain.errors import DomainError
from infra.event_store import EVENTS_TABLE
from projections.engine import ANY_PROJECTION

DEFAULT_WAIT_SECONDS = 5.0
MAX_WAIT_SECONDS = 30.0
FIRST_POLL_SECONDS = 0.02
MAX_POLL_SECONDS = 0.25
RETRY_AFTER_SECONDS = "1"
NO_UPPER_BOUND = 2**62

# An event the read model parked counts as passed: the worker moved on from it, and `ledger
# status` reports it; waiting for it would hold every later query until someone retries it.
WINDOW_SQL = (
    "SELECT min(e.notification_id) FILTER ("
    "  WHERE (ps.version IS NULL OR ps.version < e.originator_version)"
    "  AND NOT EXISTS (SELECT 1 FROM parked_events pe WHERE pe.retried_at IS NULL"
    f"   AND pe.projection IN (%(projection)s, '{ANY_PROJECTION}')"
    "   AND pe.position = e.notification_id)),"
    f" (SELECT max(notification_id) FROM {EVENTS_TABLE})"
    f" FROM {EVENTS_TABLE} e LEFT JOIN projection_streams ps"
    "  ON ps.projection = %(projection)s AND ps.stream_id = e.originator_id"
    " WHERE e.notification_id > %(after)s AND e.notification_id <= %(upto)s"
)
# Two statements rather than an ``OR %(stream)s IS NULL``: each gets a plan fit for its index.
STREAM_WINDOW_SQL = WINDOW_SQL + " AND e.originator_id = %(stream)s"


class ReadModelBehind(DomainError):
    code = "read_model_behind"
    http_status = 503
    headers = {"Retry-After": RETRY_AFTER_SECONDS}

    def __init__(self, min_position: int, applied_through: dict[str, int]) -> None:
        super().__init__(
            f"the read models have not applied position {min_position} yet; retry shortly",
            field="min_position",
        )
        self.details = {
            "lag": {
                name: {"applied_through": through, "behind_by": min_position - through}
                for name, through in applied_through.items()
            }
        }


@dataclass(frozen=True)
class Window:
    first_unapplied: int | None
    head: int

    def applied_through(self, after: int, upto: int) -> int:
        """The highest position up to which every event of the window is applied."""
        if self.first_unapplied is not None:
            return self.first_unapplied - 1
        return max(after, min(self.head, upto))


class ReadModelProgress:
    """How far each read model has applied the ledger, exactly (see the module docstring)."""

    def __init__(self, pool: ConnectionPool, projections: Sequence[str]) -> None:
        self.pool = pool
        self.projections = tuple(projections)
        # Per read model: every event at or below this position is known to be applied.
        self._verified: dict[str, int] = {}

    def window(
        self, projection: str, *, after: int, upto: int, stream_id: UUID | None = None
    ) -> Window:
        params = {"projection": projection, "after": after, "upto": upto, "stream": stream_id}
        with self.pool.connection() as conn:
            first_unapplied, head = conn.execute(
                STREAM_WINDOW_SQL if stream_id else WINDOW_SQL, params
            ).fetchone()
        return Window(first_unapplied, head or 0)

    def applied_through(self, projection: str, min_position: int) -> int:
        """How far ``projection`` is known applied, checking no further than ``min_position``."""
        floor = self._verified.get(projection, 0)
        if floor >= min_position:
            return floor
        through = self.window(projection, after=floor, upto=min_position).applied_through(
            floor, min_position
        )
        self._verified[projection] = max(through, self._verified.get(projection, 0))
        return through

    def stream_applied_through(self, projection: str, min_position: int, stream_id: UUID) -> int:
        window = self.window(projection, after=0, upto=min_position, stream_id=stream_id)
        if window.first_unapplied is not None:
            return window.first_unapplied - 1
        return min(window.head, min_position)

    def lagging(
        self, projections: Sequence[str], min_position: int, stream_id: UUID | None
    ) -> dict[str, int]:
        """The read models that have not applied ``min_position`` yet, and how far they have."""
        through = {
            name: (
                self.stream_applied_through(name, min_position, stream_id)
                if stream_id
                else self.applied_through(name, min_position)
            )
            for name in projections
        }
        return {name: position for name, position in through.items() if position < min_position}


async def wait_until_applied(
    progress: ReadModelProgress,
    projections: Sequence[str],
    min_position: int,
    *,
    stream_id: UUID | None = None,
    wait: float = DEFAULT_WAIT_SECONDS,
) -> None:
    deadline = time.monotonic() + wait
    interval = FIRST_POLL_SECONDS
    while True:
        lagging = await run_in_threadpool(progress.lagging, projections, min_position, stream_id)
        remaining = deadline - time.monotonic()
        if not lagging:
            return
        if remaining <= 0:
            raise ReadModelBehind(min_position, lagging)
        await asyncio.sleep(min(interval, remaining))
        interval = min(interval * 2, MAX_POLL_SECONDS)


# Positions are PostgreSQL bigints: anything larger is no position (and would not fit the
# 503's lag either: orjson refuses integers over 64 bits, which made it a 500).
MAX_POSITION = 2**63 - 1
MinPosition = Annotated[
    int | None,
    Query(
        ge=1,
        le=MAX_POSITION,
        description="A position a command answered: wait until the read models include it.",
    ),
]
Wait = Annotated[
    float,
    Query(gt=0, le=MAX_WAIT_SECONDS, description="Seconds to wait for min_position (then 503)."),
]


def read_your_writes(projections: Sequence[str] | None = None, *, stream_param: str | None = None):
    """A dependency adding ``min_position`` and ``wait`` to a query.

    ``projections``: the read models the query reads (None: all of them; empty: none, the
    query reads the ledger itself). ``stream_param``: the path parameter naming the one stream
    the query is about, which narrows the wait to that stream's events.
    """

    async def consistent(
        request: Request, min_position: MinPosition = None, wait: Wait = DEFAULT_WAIT_SECONDS
    ) -> None:
        stream_id = _path_uuid(request, stream_param) if stream_param else None
        if min_position is None or (stream_param and stream_id is None):
            return  # nothing to wait for, or a malformed id the route answers with 422
        progress: ReadModelProgress = request.app.state.ledger.progress
        await wait_until_applied(
            progress,
            progress.projections if projections is None else projections,
            min_position,
            stream_id=stream_id,
            wait=wait,
        )

    return Depends(consistent)


def _path_uuid(request: Request, name: str) -> UUID | None:
    try:
        return UUID(request.path_params[name])
    except (KeyError, ValueError):
        return None


SESSION_LIST = "session_list"
# Parameters for the session routes: declare them after the caller (``who``) so a request
# is authenticated before it may wait.
SessionListConsistency = Annotated[None, read_your_writes([SESSION_LIST])]
SessionConsistency = Annotated[None, read_your_writes([SESSION_LIST], stream_param="session_id")]
LedgerConsistency = Annotated[None, read_your_writes(())]
# The other read models' queries: a command's answered position holds for them too.
MissedQuestionsConsistency = Annotated[None, read_your_writes(["missed_questions"])]
LeadsConsistency = Annotated[None, read_your_writes(["leads"])]
AuditConsistency = Annotated[None, read_your_writes(["audit_trail"])]
