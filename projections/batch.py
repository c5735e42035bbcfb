"""Small helpers the read models share for writing a batch with set-based statements."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import Cursor


def executemany(cur: Cursor, query: str, rows: Sequence[Sequence]) -> None:
    """One pipelined statement for all rows; nothing at all when there are none."""
    if rows:
        cur.executemany(query, rows)
