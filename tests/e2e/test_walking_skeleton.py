"""One conversation travels through the real stack: HTTP -> event store -> relay -> Kafka ->
faust worker -> session_list -> HTTP."""

from __future__ import annotations

import signal
import uuid

import pytest

from tests.helpers import closed, message

pytestmark = pytest.mark.stack


def test_a_conversation_appears_on_the_session_list(client):
    started = client.start_session(contact={"name": "Ada Lovelace"}, channel="sms")
    session_id = started["session_id"]
    response = client.append(
        session_id,
        message("Hello, can I book a table?"),
        message("Of course. For how many?", role="ai"),
        message("Four", role="customer"),
        message("draft: suggest the terrace", role="copilot_draft"),
        message("VIP guest", role="private_note"),
    )
    assert response.status_code == 201, response.text
    assert response.json()["version"] == 6
    assert client.append(session_id, closed()).status_code == 201

    row = client.wait_listed(session_id, status="closed", message_count=3)
    assert row["contact_name"] == "Ada Lovelace"
    assert row["channel"] == "sms"
    assert row["agent_id"] == "concierge"
    assert row["version"] == 7
    assert row["finished_at"] is not None and row["started_at"] <= row["last_message_at"]
    assert any(
        item["session_id"] == session_id for item in client.get("/v1/sessions").json()["items"]
    )


def test_the_same_event_posted_twice_is_stored_and_projected_once(client):
    session_id = client.start_session()["session_id"]
    event_id = str(uuid.uuid4())
    payload = message("only once", event_id=event_id)
    first = client.append(session_id, payload)
    second = client.append(session_id, payload)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["duplicate"] is True
    assert first.json()["events"] == second.json()["events"]

    stored = client.sql(
        "SELECT count(*) FROM stored_events WHERE originator_id = %s", (session_id,)
    )
    assert stored == [(2,)]
    client.wait_listed(session_id, message_count=1, version=2)


def test_an_event_id_reused_for_another_event_is_refused(client):
    session_id = client.start_session()["session_id"]
    event_id = str(uuid.uuid4())
    assert client.append(session_id, message("one", event_id=event_id)).status_code == 201
    reused = client.append(session_id, message("two", event_id=event_id))
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "event_id_reused"


def test_bad_input_is_a_clear_error_and_stores_nothing(client):
    session_id = client.start_session()["session_id"]
    bad_role = client.append(session_id, message("hi", role="martian"))
    assert bad_role.status_code == 422
    assert bad_role.json()["error"]["field"] == "events.0.payload.author_role"
    unknown_type = client.append(session_id, {"type": "session.exploded", "payload": {}})
    assert unknown_type.status_code == 422
    no_agent = client.post("/v1/sessions", json={"channel": "web"})
    assert no_agent.json()["error"]["field"] == "agent_id"
    missing = client.append(str(uuid.uuid4()), message("anyone?"))
    assert missing.status_code == 404
    conflict = client.append(session_id, message("late"), expected_version=5)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "version_conflict"
    stored = client.sql(
        "SELECT count(*) FROM stored_events WHERE originator_id = %s", (session_id,)
    )
    assert stored == [(1,)]


def test_no_message_after_close(client):
    session_id = client.start_session()["session_id"]
    client.append(session_id, closed())
    refused = client.append(session_id, message("hello?"))
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "session_closed"


def test_a_restarted_worker_resumes_without_double_counting(client, stack):
    session_id = client.start_session()["session_id"]
    client.append(session_id, message("before the crash"))
    client.wait_listed(session_id, message_count=1)

    stack.kill_service("worker", signal.SIGKILL)
    client.append(session_id, message("while the worker is down"), message("ok", role="ai"))
    stack.start_service("worker")

    row = client.wait_listed(session_id, message_count=3, version=4)
    assert row["status"] == "active"
