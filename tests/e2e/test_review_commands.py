"""Reviewers' commands over HTTP: each records its event, as the reviewer's key."""

from __future__ import annotations

import pytest

from domain.identity import missed_question_group_id
from tests.helpers import OTHER_WORKSPACE, message, wait_for

pytestmark = pytest.mark.stack


def last_event(client, session_id: str) -> dict:
    events = client.get(f"/v1/sessions/{session_id}/history").json()["events"]
    return events[-1]


# (path under the session, body, event type, payload fields the event must carry)
COMMANDS = [
    (
        "/assessment",
        {"assessment": "Yes-B", "reason": "booked, but late"},
        "session.human_assessment_set",
        {"assessment": "Yes-B", "reason": "booked, but late", "previous": None},
    ),
    (
        "/flags",
        {"flag": "is_favorite", "value": True, "reason": "model answer"},
        "session.flag_set",
        {"flag": "is_favorite", "value": True, "previous": None},
    ),
    ("/tags", {"tag": "vip"}, "session.tag_added", {"tag": "vip", "previous": False}),
    (
        "/comments",
        {"text": "check the **price**", "comment_id": "c1"},
        "session.comment_added",
        {"comment_id": "c1", "text": "check the **price**"},
    ),
]


@pytest.mark.parametrize(("path", "body", "event_type", "fields"), COMMANDS)
def test_a_reviewer_command_records_its_event(client, path, body, event_type, fields):
    session_id = client.start_session()["session_id"]
    reviewer = client.as_role("reviewer")
    response = reviewer.post(f"/v1/sessions/{session_id}{path}", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["events"][0]["type"] == event_type
    event = last_event(client, session_id)
    assert event["type"] == event_type
    assert event["position"] == response.json()["position"]
    assert event["payload"].items() >= fields.items()
    assert event["actor"]["name"] == "test reviewer"


def test_assessment_set_then_cleared_with_a_reason(client):
    session_id = client.start_session()["session_id"]
    base = f"/v1/sessions/{session_id}/assessment"
    assert client.post(base, json={"assessment": "No", "reason": "wrong"}).status_code == 201
    cleared = client.post(f"{base}/clear", json={"reason": "re-checked"})
    assert cleared.status_code == 201, cleared.text
    event = last_event(client, session_id)
    assert event["type"] == "session.human_assessment_cleared"
    assert event["payload"] == {"reason": "re-checked", "previous": "No"}
    assert client.post(f"{base}/clear", json={}).json()["error"]["field"] == "reason"


def test_a_stale_previous_value_is_refused(client):
    session_id = client.start_session()["session_id"]
    base = f"/v1/sessions/{session_id}/flags"
    flag = {"flag": "is_test", "value": True, "reason": "qa"}
    assert client.post(base, json={**flag, "previous": None}).status_code == 201
    stale = client.post(base, json={**flag, "value": False, "previous": None})
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "previous_value_mismatch"


def test_a_tag_is_added_then_removed(client):
    session_id = client.start_session()["session_id"]
    client.post(f"/v1/sessions/{session_id}/tags", json={"tag": "refund"})
    removed = client.post(
        f"/v1/sessions/{session_id}/tags/remove", json={"tag": "refund", "reason": "no refund"}
    )
    assert removed.status_code == 201
    assert last_event(client, session_id)["payload"] == {
        "tag": "refund",
        "reason": "no refund",
        "previous": True,
    }
    state = client.get(f"/v1/sessions/{session_id}").json()["state"]
    assert state["tags"] == []


def test_handover_assign_resolve(client):
    session_id = client.start_session()["session_id"]
    reviewer = client.as_role("reviewer")
    base = f"/v1/sessions/{session_id}"
    steps = [
        ("/handover", {"reason": "angry customer"}, "session.handover_requested"),
        ("/assign", {"agent_id": "op-7", "agent_name": "Grace"}, "session.human_agent_assigned"),
        ("/resolve", {"note": "refunded"}, "session.resolved"),
    ]
    for path, body, event_type in steps:
        response = reviewer.post(base + path, json=body)
        assert response.status_code == 201, response.text
        assert last_event(client, session_id)["type"] == event_type
    assert last_event(client, session_id)["payload"] == {"note": "refunded"}
    handover = client.get(f"{base}/history").json()["events"][1]
    assert handover["payload"] == {"trigger": "manual", "reason": "angry customer"}
    again = reviewer.post(f"{base}/resolve", json={})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "session_already_resolved"


def test_a_retried_command_is_recorded_once(client):
    session_id = client.start_session()["session_id"]
    body = {"text": "once", "event_id": "6f1c7e0e-3a51-4c39-9d8f-0d5c7b3f1a11"}
    first = client.post(f"/v1/sessions/{session_id}/comments", json=body)
    second = client.post(f"/v1/sessions/{session_id}/comments", json=body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["duplicate"] is True


def test_a_missed_question_report_and_its_groups_status(client, stack):
    session_id = client.start_session(agent_id="concierge-mq")["session_id"]
    client.append(session_id, message("Do you have vegan pizza?", event_id=None))
    message_id = last_event(client, session_id)["payload"]["message_id"]
    question = "Do you have   vegan pizza?"
    report = {"session_id": session_id, "message_id": message_id, "question": question}
    reported = client.as_role("ingest").post("/v1/missed-questions", json=report)
    assert reported.status_code == 201, reported.text
    event = last_event(client, session_id)
    assert event["type"] == "session.question_missed"
    assert event["payload"]["source"] == "api" and event["payload"]["question"] == question

    group_id = str(missed_question_group_id(stack.settings.workspace, "concierge-mq", question))
    wait_for(
        lambda: client.sql("SELECT 1 FROM missed_question_groups WHERE group_id = %s", (group_id,)),
        what="the missed-question group projected",
    )
    status = f"/v1/missed-questions/{group_id}/status"
    body = {"status": "resolved", "reason": "added to the menu FAQ"}
    assert client.as_role("ingest").post(status, json=body).status_code == 403
    assert client.as_role(OTHER_WORKSPACE).post(status, json=body).status_code == 404
    changed = client.as_role("reviewer").post(status, json=body)
    assert changed.status_code == 201, changed.text
    assert changed.json()["group_id"] == group_id and changed.json()["version"] == 1
    stored = client.sql(
        "SELECT state FROM stored_events WHERE originator_id = %s ORDER BY originator_version",
        (group_id,),
    )
    assert len(stored) == 1 and b'"previous":null' in bytes(stored[0][0])
    stale = client.post(status, json={"status": "ignored", "previous": "unresolved"})
    assert stale.status_code == 409
    assert client.post(status, json={"status": "ignored"}).json()["version"] == 2


def test_reviewer_bodies_are_validated(client):
    session_id = client.start_session()["session_id"]
    bad_flag = client.post(
        f"/v1/sessions/{session_id}/flags", json={"flag": "is_vip", "value": True, "reason": "x"}
    )
    assert bad_flag.status_code == 422
    assert bad_flag.json()["error"]["field"] == "flag"
