"""What a batch of session rows changes in asr_metrics: the old share of every row whose share
changed taken out of its group, the new one added; adding up all the changes ever made gives
the figures of the rows as they are, however they arrived."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import date
from fractions import Fraction
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from projections.asr_metrics import share_changes, share_of
from projections.session_list import SessionRow

MONDAY, TUESDAY = date(2026, 3, 2), date(2026, 3, 3)


def row(**fields) -> SessionRow:
    values = {"agent_id": "a", "channel": "web", "started_day": MONDAY, **fields}
    return SessionRow(session_id=values.pop("session_id", uuid4()), workspace_id="w1", **values)


def groups(changes) -> set:
    return {share.group for _, share in changes}


def test_a_new_session_adds_its_share():
    new = row()
    assert share_changes([new], {}) == [(1, share_of(new))]


def test_messages_change_no_share_so_nothing_is_written():
    before = row(is_lead=True, lead_value=100.0, asr=12.5)
    after = replace(before, message_count=7, customer_message_count=4, tags=("vip",))
    assert share_changes([after], {before.session_id: before}) == []


def test_an_assessment_or_a_quality_rating_replaces_the_share():
    before = row(is_lead=True, is_opportunity=True, lead_value=100.0)
    for after in (
        replace(before, success_factor=1.0, asr=50.0),
        replace(before, conversation_quality=4),
    ):
        assert share_changes([after], {before.session_id: before}) == [
            (-1, share_of(before)),
            (1, share_of(after)),
        ]


def test_a_session_flagged_as_test_is_taken_out():
    before = row(is_lead=True)
    after = replace(before, is_test=True)
    assert share_changes([after], {before.session_id: before}) == [(-1, share_of(before))]
    assert share_changes([before], {after.session_id: after}) == [(1, share_of(before))]


def test_a_row_that_moved_leaves_one_group_and_joins_another():
    before = row()
    after = replace(before, started_day=TUESDAY)
    assert groups(share_changes([after], {before.session_id: before})) == {
        ("w1", "a", "web", MONDAY),
        ("w1", "a", "web", TUESDAY),
    }


def test_a_row_without_a_start_belongs_to_no_group():
    assert share_changes([row(agent_id=None, started_day=None)], {}) == []


def test_a_success_factor_counts_only_for_an_opportunity():
    assert share_of(row(success_factor=1.0)).success_factor is None
    assert share_of(row(success_factor=1.0, is_opportunity=True)).success_factor == 1.0


# Each session's successive rows, as a stream of batches would store them.
figures = st.fixed_dictionaries(
    {
        "is_test": st.booleans(),
        "is_lead": st.booleans(),
        "is_opportunity": st.booleans(),
        "lead_value": st.floats(0, 1e6, allow_nan=False),
        "asr": st.floats(0, 1e6, allow_nan=False),
        "success_factor": st.none() | st.sampled_from([0.0, 0.5, 1.0]),
        "conversation_quality": st.none() | st.integers(1, 5),
        "started_day": st.sampled_from([MONDAY, TUESDAY]),
        "message_count": st.integers(0, 3),
    }
)


@given(st.lists(st.lists(figures, min_size=1, max_size=6), min_size=1, max_size=6))
def test_the_changes_add_up_to_the_shares_of_the_rows_as_they_are(histories):
    totals: Counter = Counter()
    stored: dict = {}
    sessions = [uuid4() for _ in histories]
    for step in range(max(map(len, histories))):
        batch = [
            row(session_id=session, **history[step])
            for session, history in zip(sessions, histories, strict=True)
            if step < len(history)
        ]
        for sign, share in share_changes(batch, stored):
            _add(totals, share, sign)
        stored.update((r.session_id, r) for r in batch)
    expected: Counter = Counter()
    for current in stored.values():
        if (share := share_of(current)) is not None:
            _add(expected, share, 1)
    assert _nonzero(totals) == _nonzero(expected)


def _nonzero(totals: Counter) -> dict:
    return {key: value for key, value in totals.items() if value != 0}


def _add(totals: Counter, share, sign: int) -> None:
    # Exact arithmetic, as PostgreSQL's numeric sums are: floats would leave rounding residue.
    for name in ("is_lead", "is_opportunity", "lead_value", "asr", "success_factor"):
        value = getattr(share, name)
        if value is not None:
            totals[(share.group, name)] += sign * Fraction(value)
    totals[(share.group, "sessions")] += sign
    if share.conversation_quality is not None:
        totals[(share.group, "quality")] += sign * share.conversation_quality
