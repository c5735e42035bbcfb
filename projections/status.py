"""How far each read model has got: position, lag behind the ledger, parked events."""

from __future__ import annotations

from datetime import datetime

from psycopg import Connection
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict

from projections.engine import OPEN_PARKED


class ReadModelStatus(BaseModel):
    """Also the API's answer (``GET /v1/projections``), so it is a pydantic model."""

    model_config = ConfigDict(frozen=True)

    projection: str
    position: int
    lag: int
    events_applied: int
    parked: int
    updated_at: datetime | None


class ParkedEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    projection: str
    position: int | None
    stream_id: str | None
    version: int | None
    event_type: str | None
    error: str
    parked_at: datetime


def read_model_status(
    conn: Connection, names: list[str], head_position: int
) -> list[ReadModelStatus]:
    """``lag`` counts positions the read model has not reached; positions may have gaps
    (a rolled-back append burns its sequence numbers), so it is an upper bound."""
    rows = conn.execute(
        "SELECT name, coalesce(s.position, 0), coalesce(s.events_applied, 0), s.updated_at,"
        " (SELECT count(*) FROM parked_events p WHERE p.retried_at IS NULL"
        "  AND p.projection IN (name, '*'))"
        " FROM unnest(%s::text[]) AS name LEFT JOIN projection_status s ON s.projection = name"
        " ORDER BY name",
        (names,),
    ).fetchall()
    return [
        ReadModelStatus(
            projection=name,
            position=position,
            lag=max(head_position - position, 0),
            events_applied=applied,
            parked=parked,
            updated_at=at,
        )
        for name, position, applied, at, parked in rows
    ]


def parked_events(
    conn: Connection,
    *,
    projection: str | None = None,
    workspace: str | None = None,
    limit: int = 100,
) -> list[ParkedEvent]:
    """The open parked events, oldest first; ``workspace``: only that workspace's (None: all,
    undecodable messages included, as an operator sees them)."""
    rows = (
        conn.cursor(row_factory=dict_row)
        .execute(
            "SELECT id, projection, position, stream_id::text AS stream_id, version, event_type,"
            f" error, parked_at FROM parked_events {OPEN_PARKED} ORDER BY id LIMIT %(limit)s",
            {"p": projection, "w": workspace, "limit": limit},
        )
        .fetchall()
    )
    return [ParkedEvent(**row) for row in rows]
