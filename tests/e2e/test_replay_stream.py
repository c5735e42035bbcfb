"""Time-paced replay: GET /v1/sessions/{id}/replay?speed=N plays a session's events (SSE)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from api.routes.replay import MAX_GAP_SECONDS, pause_before
from tests.builders import SessionScript
from tests.helpers import OTHER_WORKSPACE, message

BEGAN = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _at(seconds: float) -> str:
    return (BEGAN + timedelta(seconds=seconds)).isoformat()


def _conversation(client, *offsets: float) -> str:
    """A session started at BEGAN, with one message ``offset`` seconds later for each."""
    session_id = client.start_session(occurred_at=_at(0))["session_id"]
    said = [message(f"message at {s}s", occurred_at=_at(s)) for s in offsets]
    assert client.append(session_id, *said).status_code in (200, 201)
    return session_id


def _replayed(client, session_id: str, **params) -> list[dict]:
    """Every SSE event of the replay, ``{"id", "event", "data"}``, until the stream ends."""
    events, fields = [], {}
    url = f"/v1/sessions/{session_id}/replay"
    with client.stream("GET", url, params=params) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
            elif fields:
                events.append({**fields, "data": json.loads(fields["data"])})
                fields = {}
    return events


@pytest.mark.stack
def test_every_event_is_replayed_in_order_then_end(client):
    session_id = _conversation(client, 1, 2, 3)
    history = client.get(f"/v1/sessions/{session_id}/history").json()["events"]
    events = _replayed(client.as_role("viewer"), session_id, speed=1000)
    *played, end = events
    assert [e["id"] for e in played] == [str(e["version"]) for e in history]
    assert [e["event"] for e in played] == [e["type"] for e in history]
    assert [e["data"] for e in played] == history
    assert end["event"] == "end"
    assert end["data"] == {"session_id": session_id, "events": len(history)}


@pytest.mark.stack
def test_gaps_are_kept_divided_by_speed_and_long_ones_capped(client):
    # Gaps of 2 s and an hour: at speed 20, 0.1 s and (capped at 10 s) 0.5 s.
    session_id = _conversation(client, 0, 2, 3602)
    began = time.monotonic()
    events = _replayed(client, session_id, speed=20)
    elapsed = time.monotonic() - began
    assert len(events) == 5
    assert 0.55 <= elapsed < 5


@pytest.mark.stack
def test_speed_is_validated_and_the_session_scoped(client):
    session_id = _conversation(client, 1)
    replay = f"/v1/sessions/{session_id}/replay"
    for speed in ("0", "-1", "1001", "fast"):
        refused = client.get(replay, params={"speed": speed})
        assert refused.status_code == 422, speed
        assert refused.json()["error"]["field"] == "speed"
    assert client.as_role(OTHER_WORKSPACE).get(replay).status_code == 404
    assert client.get(f"/v1/sessions/{session_id}/state").status_code == 200


def test_the_pause_before_an_event():
    script = SessionScript(step=timedelta(seconds=4)).start().say("hi").say("still there?")
    first, second, third = script.events
    assert pause_before(None, first, 1) == 0
    assert pause_before(first, second, 2) == 2
    assert (
        pause_before(
            first, second.model_copy(update={"occurred_at": BEGAN - timedelta(hours=1)}), 1
        )
        == 0
    )
    late = third.model_copy(update={"occurred_at": third.occurred_at + timedelta(hours=1)})
    assert pause_before(second, late, 4) == MAX_GAP_SECONDS / 4
