"""``SessionState.transcript_entry`` looks message ids up in an index that never shows."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from domain.events import AuthorRole
from domain.session_state import SessionState, TranscriptEntry

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def entry(message_id: str, version: int = 1) -> TranscriptEntry:
    return TranscriptEntry(
        version=version,
        occurred_at=T0,
        message_id=message_id,
        author_role=AuthorRole.customer,
        author=None,
        text="hi",
    )


def test_finds_appended_entries_and_misses_others():
    state = SessionState(id=uuid4())
    assert state.transcript_entry("m1") is None
    state.transcript.append(entry("m1"))
    state.transcript.append(entry("m2", 2))
    assert state.transcript_entry("m2").version == 2
    assert state.transcript_entry("m3") is None


def test_follows_a_replaced_transcript_and_copies():
    state = SessionState(id=uuid4(), transcript=[entry("m1"), entry("m2", 2)])
    assert state.transcript_entry("m2") is not None
    state.transcript = [entry("m3", 3)]
    assert state.transcript_entry("m2") is None
    copy = state.model_copy(deep=True)
    copy.transcript.append(entry("m4", 4))
    assert copy.transcript_entry("m4") is not None
    assert state.transcript_entry("m4") is None


def test_the_index_takes_no_part_in_equality():
    looked_up = SessionState(id=uuid4())
    looked_up.transcript.append(entry("m1"))
    looked_up.transcript_entry("m1")
    fresh = looked_up.model_copy(update={"transcript": [entry("m1")]})
    assert fresh == looked_up
