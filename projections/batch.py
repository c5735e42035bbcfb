"""Small helpers the read models share for writing a batch with set-based statements."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from uuid import UUID

import orjson
from psycopg import Cursor


def uuid_array(ids: Iterable[UUID]) -> str:
    """A uuid[] parameter as its text (pass it as ``%s::uuid[]``): psycopg adapts a list
    element by element (500 ids: 2.7 ms per statement against 1.5 ms as text, the server's
    part included), and a rebuild's batch passes thousands."""
    return "{" + ",".join(map(str, ids)) + "}"


def executemany(cur: Cursor, query: str, rows: Sequence[Sequence]) -> None:
    """One pipelined statement for all rows; nothing at all when there are none."""
    if rows:
        cur.executemany(query, rows)


def json_rows(table: str, columns: str, *, alias: str = "") -> str:
    """A template (``projections.tables.over``) inserting ``columns`` of the rows of one
    JSON array parameter, each row an object keyed by column name (other keys ignored)."""
    target = f"{{{table}}} AS {alias}" if alias else f"{{{table}}}"
    return (
        f"INSERT INTO {target} ({columns}) SELECT {columns}"
        f" FROM jsonb_populate_recordset(NULL::{{{table}}}, %s::jsonb)"
    )


def execute_json(cur: Cursor, query: str, rows: Sequence[object]) -> None:
    """``query`` (see ``json_rows``) once for all rows, as one JSON array that orjson writes
    in C (dataclasses, UUIDs, datetimes): one statement for PostgreSQL to plan and run
    however large the batch, and no per-value adaptation in psycopg. Nothing at all when
    there are no rows; rows keep their order (an upsert locks in it)."""
    if rows:
        cur.execute(query, (orjson.dumps(rows).decode(),))
