"""The session list's narrow write: a stored row that only messages changed is updated in
``MESSAGE_COLUMNS`` alone, and only such a row."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.errors import DomainError
from projections.session_list import COLUMNS, MESSAGE_COLUMNS, _split_by_change, fold_all
from tests.unit.test_session_list_fold import RESTAURANT, histories, history_of

MESSAGES = st.lists(st.sampled_from(["say", "reply", "human", "note"]), min_size=1, max_size=4)


def _changed_columns(before, after) -> set[str]:
    return {c for c in COLUMNS if getattr(before, c) != getattr(after, c)}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories, MESSAGES)
def test_messages_after_any_history_change_only_the_message_columns(steps, messages):
    script = history_of(steps)
    stored = fold_all(None, script.events, RESTAURANT)
    seen = len(script.events)
    roles = {"say": "customer", "reply": "ai", "human": "human_agent", "note": "private_note"}
    for kind in messages:
        with contextlib.suppress(DomainError):  # a closed session takes no more messages
            script.say("text", role=roles[kind])
    after = fold_all(stored, script.events[seen:], RESTAURANT)

    assert _changed_columns(stored, after) <= set(MESSAGE_COLUMNS)
    whole, narrow = _split_by_change([after], {after.session_id: stored})
    assert (whole, narrow) == ([], [after])


def test_a_new_row_and_a_row_with_other_changes_are_written_whole():
    script = history_of([("say", 0)])
    stored = fold_all(None, script.events, RESTAURANT)
    seen = len(script.events)
    script.say("and one more").record("session.tag_added", tag="vip")
    tagged = fold_all(stored, script.events[seen:], RESTAURANT)
    fresh = fold_all(None, history_of([("say", 1)]).events, RESTAURANT)

    whole, narrow = _split_by_change([tagged, fresh], {tagged.session_id: stored})
    assert (whole, narrow) == ([tagged, fresh], [])
