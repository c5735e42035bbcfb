"""Queries over the read models, scoped to the caller's workspace."""

from __future__ import annotations

import base64
from datetime import datetime
from uuid import UUID

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from api.schemas import SessionListItem, SessionPage
from domain.errors import DomainError

LIST_COLUMNS = ", ".join(SessionListItem.model_fields)


class InvalidCursor(DomainError):
    code = "invalid_cursor"
    http_status = 422

    def __init__(self) -> None:
        super().__init__("cursor is not one this API issued", field="cursor")


def encode_cursor(started_at: datetime | None, session_id: UUID) -> str:
    raw = f"{started_at.isoformat() if started_at else ''}|{session_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime | None, UUID]:
    try:
        started, session_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return (datetime.fromisoformat(started) if started else None), UUID(session_id)
    except ValueError as error:
        raise InvalidCursor() from error


class SessionQueries:
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def page(self, workspace_id: str, *, limit: int, cursor: str | None) -> SessionPage:
        """Newest first; keyset pagination on (started_at, session_id), stable under inserts."""
        where, params = "workspace_id = %s", [workspace_id]
        if cursor:
            started_at, session_id = decode_cursor(cursor)
            where += " AND (started_at, session_id) < (%s, %s)"
            params += [started_at, session_id]
        query = (
            f"SELECT {LIST_COLUMNS} FROM session_list WHERE {where}"
            " ORDER BY started_at DESC, session_id DESC LIMIT %s"
        )
        rows = self._fetch(query, [*params, limit + 1])
        items = [SessionListItem(**row) for row in rows[:limit]]
        more = len(rows) > limit
        next_cursor = encode_cursor(items[-1].started_at, items[-1].session_id) if more else None
        return SessionPage(items=items, next_cursor=next_cursor)

    def row(self, workspace_id: str, session_id: UUID) -> SessionListItem | None:
        rows = self._fetch(
            f"SELECT {LIST_COLUMNS} FROM session_list WHERE workspace_id = %s AND session_id = %s",
            [workspace_id, session_id],
        )
        return SessionListItem(**rows[0]) if rows else None

    def _fetch(self, query: str, params: list) -> list[dict]:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, params)
            return cur.fetchall()
