"""The session list: one row per session, as the Sessions screen lists them.

``fold`` is pure (row, event -> row); ``SessionListProjection`` loads the rows a batch
touches, folds the batch's events into them and writes them back in one statement.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from functools import singledispatch
from uuid import UUID

from psycopg import Cursor, sql

from domain.envelope import Envelope
from domain.events import (
    CUSTOMER_VISIBLE_ROLES,
    EventPayload,
    MessageRecorded,
    SessionClosed,
    SessionStarted,
    decode_payload,
)
from projections.engine import schema_sql


@dataclass(frozen=True)
class SessionRow:
    session_id: UUID
    workspace_id: str
    status: str
    agent_id: str | None = None
    channel: str | None = None
    contact_name: str | None = None
    started_at: datetime | None = None
    last_message_at: datetime | None = None
    finished_at: datetime | None = None
    message_count: int = 0
    version: int = 0
    position: int = 0


COLUMNS = tuple(f.name for f in fields(SessionRow))


def fold(row: SessionRow | None, event: Envelope) -> SessionRow:
    payload = decode_payload(event.type, event.schema_version, event.payload)
    if row is None:
        row = SessionRow(
            session_id=event.stream_id, workspace_id=event.workspace_id, status="active"
        )
    row = _evolve(payload, row, event)
    return replace(row, version=event.version, position=event.position or row.position)


@singledispatch
def _evolve(_payload: EventPayload, row: SessionRow, _event: Envelope) -> SessionRow:
    return row  # events that do not change a list column


@_evolve.register
def _(payload: SessionStarted, row: SessionRow, event: Envelope) -> SessionRow:
    return replace(
        row,
        agent_id=payload.agent_id,
        channel=payload.channel.value,
        contact_name=payload.contact.name,
        started_at=event.occurred_at,
    )


@_evolve.register
def _(payload: MessageRecorded, row: SessionRow, event: Envelope) -> SessionRow:
    if payload.author_role not in CUSTOMER_VISIBLE_ROLES:
        return row
    last = row.last_message_at
    return replace(
        row,
        message_count=row.message_count + 1,
        last_message_at=event.occurred_at if last is None or event.occurred_at > last else last,
    )


@_evolve.register
def _(_payload: SessionClosed, row: SessionRow, event: Envelope) -> SessionRow:
    return replace(row, status="closed", finished_at=event.occurred_at)


class SessionListProjection:
    name = "session_list"

    def __init__(self, table: str = "session_list") -> None:
        self.table = table

    def schema(self) -> list[str]:
        return [schema_sql("session_list.sql")]

    def apply(self, cur: Cursor, streams: dict[UUID, list[Envelope]]) -> None:
        rows = self._load(cur, list(streams))
        for stream_id, events in streams.items():
            row = rows.get(stream_id)
            for event in events:
                row = fold(row, event)
            rows[stream_id] = row
        self._store(cur, [rows[stream_id] for stream_id in streams])

    def _load(self, cur: Cursor, ids: list[UUID]) -> dict[UUID, SessionRow]:
        query = sql.SQL("SELECT {cols} FROM {table} WHERE session_id = ANY(%s)").format(
            cols=sql.SQL(", ").join(map(sql.Identifier, COLUMNS)), table=sql.Identifier(self.table)
        )
        cur.execute(query, (ids,))
        return {r[0]: SessionRow(*r) for r in cur.fetchall()}

    def _store(self, cur: Cursor, rows: list[SessionRow]) -> None:
        updates = sql.SQL(", ").join(
            sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in COLUMNS[1:]
        )
        query = sql.SQL(
            "INSERT INTO {table} ({cols}) VALUES ({vals})"
            " ON CONFLICT (session_id) DO UPDATE SET {u}"
        ).format(
            table=sql.Identifier(self.table),
            cols=sql.SQL(", ").join(map(sql.Identifier, COLUMNS)),
            vals=sql.SQL(", ").join(sql.Placeholder() * len(COLUMNS)),
            u=updates,
        )
        cur.executemany(query, [tuple(asdict(r).values()) for r in rows])
