"""The rows a read model wrote last, kept in the applying process so the next batch of the
same streams need not read them back."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar
from uuid import UUID

R = TypeVar("R")


class RecentRows(Generic[R]):
    """Each stream's row as of the version it was folded to, for the most recent streams.

    A worker applies a stream's batches one after another, so the row a batch needs is most
    often the one the previous batch wrote. It is used only when its version is the one the
    engine has applied (the version before the batch's first event), which is what makes it
    safe to keep across transactions: if another process applied the stream since, or the
    transaction that wrote the row rolled back, the versions differ and the caller reads the
    row from the table. Bounded, least recently used first out, so memory stays flat however
    many streams the log holds.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError("capacity must be >= 0")
        self.capacity = capacity
        self._rows: OrderedDict[UUID, tuple[int, R]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, stream_id: UUID, applied: int) -> R | None:
        """The row of ``stream_id`` if it was folded exactly up to version ``applied``."""
        entry = self._rows.get(stream_id)
        if entry is None or entry[0] != applied:
            return None
        self._rows.move_to_end(stream_id)
        return entry[1]

    def remember(self, stream_id: UUID, version: int, row: R) -> None:
        if not self.capacity:
            return
        self._rows[stream_id] = (version, row)
        self._rows.move_to_end(stream_id)
        while len(self._rows) > self.capacity:
            self._rows.popitem(last=False)
