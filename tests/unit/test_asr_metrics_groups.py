"""Which (workspace, agent, channel, day) groups a batch of session rows makes asr_metrics
recompute: only those in which some row changed what the figures add up."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from uuid import uuid4

from projections.asr_metrics import affected_groups
from projections.session_list import SessionRow

MONDAY, TUESDAY = date(2026, 3, 2), date(2026, 3, 3)


def row(**fields) -> SessionRow:
    values = {"agent_id": "a", "channel": "web", "started_day": MONDAY, **fields}
    return SessionRow(session_id=values.pop("session_id", uuid4()), workspace_id="w1", **values)


def test_a_new_session_changes_its_group():
    new = row()
    assert affected_groups([new], {}) == {("w1", "a", "web", MONDAY)}


def test_messages_change_no_figure_so_no_group_is_recomputed():
    before = row(is_lead=True, lead_value=100.0, asr=12.5)
    after = replace(before, message_count=7, customer_message_count=4, tags=("vip",))
    assert affected_groups([after], {before.session_id: before}) == set()


def test_an_assessment_or_a_test_flag_changes_the_group():
    before = row(is_lead=True, is_opportunity=True, lead_value=100.0)
    for after in (
        replace(before, success_factor=1.0, asr=50.0),
        replace(before, is_test=True),
        replace(before, conversation_quality=4),
    ):
        assert affected_groups([after], {before.session_id: before}) == {("w1", "a", "web", MONDAY)}


def test_a_row_that_moved_changes_the_group_it_left_as_well():
    before = row()
    after = replace(before, started_day=TUESDAY)
    assert affected_groups([after], {before.session_id: before}) == {
        ("w1", "a", "web", MONDAY),
        ("w1", "a", "web", TUESDAY),
    }


def test_a_row_without_a_start_belongs_to_no_group():
    assert affected_groups([row(agent_id=None, started_day=None)], {}) == set()
