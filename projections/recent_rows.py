"""The rows a read model wrote last, kept in the applying process so the next batch of the
same streams need not read them back."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Container, Mapping, Sequence
from typing import Generic, TypeVar
from uuid import UUID

from domain.envelope import Envelope

R = TypeVar("R")

# Streams a read model keeps rows for: the sessions that take events at any one time, with
# room to spare (the worker's child grew by 6 MB holding 3,241 session-list rows); a stream
# not among them is read from the table.
DEFAULT_CAPACITY = 5_000


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

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
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

    def split(
        self,
        streams: Mapping[UUID, Sequence[Envelope]],
        *,
        readable: Container[UUID] | None = None,
    ) -> tuple[dict[UUID, R], list[UUID]]:
        """For a batch, as the engine hands it over (each stream's events from the one after
        the version it has applied): the rows kept at that version, and the streams whose
        row must be read, being neither kept nor new (from version 1), and in ``readable``
        when given."""
        kept: dict[UUID, R] = {}
        unknown: list[UUID] = []
        for stream_id, events in streams.items():
            applied = events[0].version - 1
            row = self.get(stream_id, applied)
            if row is not None:
                kept[stream_id] = row
            elif applied and (readable is None or stream_id in readable):
                unknown.append(stream_id)
        return kept, unknown

    def remember(self, stream_id: UUID, version: int, row: R) -> None:
        if not self.capacity:
            return
        self._rows[stream_id] = (version, row)
        self._rows.move_to_end(stream_id)
        while len(self._rows) > self.capacity:
            self._rows.popitem(last=False)
