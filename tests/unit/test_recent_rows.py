"""RecentRows hands a row back only at the version it was folded to, and stays bounded."""

from __future__ import annotations

from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.recent_rows import RecentRows

STREAMS = [UUID(int=n) for n in range(6)]


def test_a_row_is_handed_back_only_at_its_version():
    rows: RecentRows[str] = RecentRows(10)
    rows.remember(STREAMS[0], 3, "row at 3")
    assert rows.get(STREAMS[0], 3) == "row at 3"
    assert rows.get(STREAMS[0], 2) is None  # the table holds an older row: read it
    assert rows.get(STREAMS[0], 4) is None  # someone else applied version 4 since
    assert rows.get(STREAMS[1], 3) is None


def test_the_least_recently_used_row_goes_first():
    rows: RecentRows[str] = RecentRows(2)
    rows.remember(STREAMS[0], 1, "a")
    rows.remember(STREAMS[1], 1, "b")
    assert rows.get(STREAMS[0], 1) == "a"  # now the most recent
    rows.remember(STREAMS[2], 1, "c")
    assert rows.get(STREAMS[1], 1) is None
    assert rows.get(STREAMS[0], 1) == "a"


def test_no_capacity_keeps_nothing_and_a_negative_one_is_refused():
    rows: RecentRows[str] = RecentRows(0)
    rows.remember(STREAMS[0], 1, "a")
    assert len(rows) == 0
    with pytest.raises(ValueError):
        RecentRows(-1)


@given(
    capacity=st.integers(0, 4),
    steps=st.lists(st.tuples(st.sampled_from(STREAMS), st.integers(1, 5)), max_size=40),
)
def test_what_is_handed_back_is_what_was_last_remembered(capacity, steps):
    rows: RecentRows[tuple[UUID, int]] = RecentRows(capacity)
    last: dict[UUID, int] = {}
    for stream_id, version in steps:
        rows.remember(stream_id, version, (stream_id, version))
        last[stream_id] = version
        assert len(rows) <= capacity
    for stream_id in STREAMS:
        for version in range(1, 6):
            found = rows.get(stream_id, version)
            assert found is None or (found == (stream_id, version) == (stream_id, last[stream_id]))


class _Event:
    def __init__(self, version: int) -> None:
        self.version = version


def test_a_batch_splits_into_kept_rows_and_rows_to_read():
    rows: RecentRows[str] = RecentRows(10)
    rows.remember(STREAMS[0], 4, "kept at 4")
    rows.remember(STREAMS[1], 4, "kept at 4, but 6 is applied")
    batch = {
        STREAMS[0]: [_Event(5), _Event(6)],  # applied 4: kept
        STREAMS[1]: [_Event(7)],  # applied 6: read
        STREAMS[2]: [_Event(1)],  # new: nothing to read
        STREAMS[3]: [_Event(2)],  # applied 1, never kept: read
    }
    kept, unknown = rows.split(batch)
    assert kept == {STREAMS[0]: "kept at 4"}
    assert unknown == [STREAMS[1], STREAMS[3]]
    assert rows.split(batch, readable={STREAMS[3]})[1] == [STREAMS[3]]
