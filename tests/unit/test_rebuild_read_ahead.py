"""The rebuild's read-ahead over a log that grows while it reads (writers keep appending)."""

from __future__ import annotations

from projections.rebuild import _ReadAhead


class GrowingLog:
    def __init__(self, positions: list[int]) -> None:
        self.positions = positions
        self.reads = 0

    def read(self, after: int, limit: int) -> list[int]:
        self.reads += 1
        return [p for p in self.positions if p > after][:limit]


def test_a_batch_read_ahead_at_the_end_of_the_log_is_read_again_once_the_log_grew():
    log = GrowingLog([1, 2, 3])
    reader = _ReadAhead(log.read, 10, position_of=lambda position: position)
    try:
        assert reader.read(0) == [1, 2, 3]  # and reads ahead after 3: nothing yet
        reader._ahead[1].result()
        log.positions += [4, 5]
        assert reader.read(3) == [4, 5]
    finally:
        reader.close()


def test_a_batch_read_ahead_is_used_when_it_found_events():
    log = GrowingLog(list(range(1, 8)))
    reader = _ReadAhead(log.read, 3, position_of=lambda position: position)
    try:
        assert reader.read(0) == [1, 2, 3]
        reader._ahead[1].result()
        assert reader.read(3) == [4, 5, 6]
        assert log.reads == 2  # the second batch came from the read-ahead
    finally:
        reader.close()
