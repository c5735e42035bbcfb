"""Schema evolution through the real store: an event written at schema version 1 is read as
the current model, while its stored bytes (and so its hash) are never rewritten."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg

from api.commands import Caller, NewEvent, SessionCommands
from domain.envelope import SYSTEM_ACTOR, Envelope, seal_envelope
from domain.events import MessageReacted, MessageRecorded, SessionStarted
from domain.replay import replay
from infra.verification import verify_ledger

CALLER = Caller(workspace_id="w1", actor=SYSTEM_ACTOR)


def v1_reaction(after: Envelope) -> Envelope:
    """What the agent widget of 2025 wrote: ``reaction: "up"``, no ``by_role``."""
    document = {
        **after.to_document(),
        "event_id": str(uuid.uuid4()),
        "version": after.version + 1,
        "type": "session.message_reacted",
        "schema_version": 1,
        "recorded_at": datetime(2025, 6, 1, tzinfo=UTC).isoformat(),
        "prev_hash": after.hash,
        "payload": {"message_id": "m1", "reaction": "up", "by": "visitor"},
    }
    return seal_envelope(document)


def test_a_version_1_event_is_upcast_on_read_and_its_bytes_stay(store):
    commands = SessionCommands(store)
    session_id = uuid.uuid4()
    commands.start(session_id, NewEvent(SessionStarted(agent_id="a", channel="web")), CALLER)
    result = commands.append(
        session_id,
        [NewEvent(MessageRecorded(message_id="m1", author_role="ai", text="Hi"))],
        CALLER,
    )
    old = v1_reaction(result.events[-1])
    store.append([old])
    raw_before = _raw(store.url, session_id, old.version)

    history = store.read_stream(session_id)
    assert history[-1].schema_version == 1 and history[-1].payload["reaction"] == "up"
    reaction = replay(session_id, history).state.transcript[0].reactions
    assert [r.reaction.value for r in reaction] == ["thumbs_up"]
    assert [r.by_role.value for r in reaction] == ["customer"]
    assert MessageReacted.schema_version == 2

    assert _raw(store.url, session_id, old.version) == raw_before
    assert verify_ledger(store.url).ok


def _raw(url: str, session_id: uuid.UUID, version: int) -> bytes:
    with psycopg.connect(url) as conn:
        (state,) = conn.execute(
            "SELECT state FROM stored_events WHERE originator_id=%s AND originator_version=%s",
            (session_id, version),
        ).fetchone()
    return bytes(state)
