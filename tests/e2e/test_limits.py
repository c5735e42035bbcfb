"""Limits: a body over 1 MiB is 413, a message text over 64 KiB is 422 naming the field."""

from __future__ import annotations

import json

import pytest

from api.limits import MAX_BODY_BYTES
from domain.events import MAX_MESSAGE_BYTES
from tests.helpers import message

pytestmark = pytest.mark.stack


def oversized_body() -> bytes:
    events = [message("x" * 60_000) for _ in range(MAX_BODY_BYTES // 60_000 + 1)]
    body = json.dumps({"events": events}).encode()
    assert len(body) > MAX_BODY_BYTES
    return body


def refused_error(client, session_id: str, content) -> dict:
    response = client.post(
        f"/v1/sessions/{session_id}/events",
        content=content,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    return response.json()["error"]


def test_a_body_over_1_mib_is_413(client):
    session_id = client.start_session()["session_id"]
    assert refused_error(client, session_id, oversized_body())["code"] == "payload_too_large"


def test_a_streamed_body_over_1_mib_is_413_too(client):
    session_id = client.start_session()["session_id"]
    body = oversized_body()

    def chunks():  # no Content-Length: sent chunked, counted as it arrives
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    assert refused_error(client, session_id, chunks())["code"] == "payload_too_large"
    stored = client.sql(
        "SELECT count(*) FROM stored_events WHERE originator_id = %s", (session_id,)
    )
    assert stored == [(1,)]


def test_a_message_text_over_64_kib_is_422_naming_the_field(client):
    session_id = client.start_session()["session_id"]
    response = client.append(session_id, message("é" * (MAX_MESSAGE_BYTES // 2 + 1)))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "events.0.payload.text"
    assert "exceeds" in error["message"]
    at_limit = client.append(session_id, message("x" * MAX_MESSAGE_BYTES))
    assert at_limit.status_code == 201, at_limit.text


def test_a_nul_character_is_refused_with_the_field_not_stored(client):
    query = client.get("/v1/missed-questions", params={"agent": "+\x00J"})
    assert query.status_code == 422
    assert query.json()["error"]["field"] == "agent"

    session_id = client.start_session()["session_id"]
    body = client.append(session_id, message("hello\x00world"))
    assert body.status_code == 422
    assert body.json()["error"]["field"] == "events.0.payload.text"
    history = client.get(f"/v1/sessions/{session_id}/history").json()["events"]
    assert len(history) == 1

    backslash = client.append(session_id, message("a literal \\u0000 is fine"))
    assert backslash.status_code == 201


# Valid ISO 8601 instants whose UTC time falls outside year 1 to 9999: Python cannot hold them.
BEFORE_YEAR_1 = "0001-01-01T00:00:00+05:00"
AFTER_YEAR_9999 = "9999-12-31T23:59:59-05:00"


def test_an_instant_outside_what_utc_can_hold_is_422_naming_the_field(client):
    session_id = client.start_session()["session_id"]
    for instant in (BEFORE_YEAR_1, AFTER_YEAR_9999):
        response = client.append(session_id, message("hi", occurred_at=instant))
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["field"] == "events.0.occurred_at"
        assert "UTC" in error["message"]
    start = client.post(
        "/v1/sessions", json={"agent_id": "a", "channel": "web", "occurred_at": BEFORE_YEAR_1}
    )
    assert start.status_code == 422, start.text
    assert start.json()["error"]["field"] == "occurred_at"
    history = client.get(f"/v1/sessions/{session_id}/history").json()["events"]
    assert len(history) == 1


def test_a_reported_time_with_no_local_time_somewhere_is_422_naming_the_field(client):
    """0001-01-01T12:00Z has no local time west of UTC: every read model would have parked
    the session's events from there on."""
    session_id = client.start_session()["session_id"]
    for instant in ("0001-01-01T12:00:00Z", "9999-12-31T12:00:00Z"):
        response = client.append(session_id, message("hi", occurred_at=instant))
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == "events.0.occurred_at"
        assert "local time in every time zone" in response.json()["error"]["message"]
    kept = client.append(session_id, message("hi", occurred_at="0001-01-02T00:00:00Z"))
    assert kept.status_code == 201, kept.text
