"""Missed questions, leads and the audit trail through the real stack: HTTP -> event store ->
relay -> Kafka -> faust worker -> read models -> HTTP queries."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import OTHER_WORKSPACE, message, missed, wait_for

pytestmark = pytest.mark.stack


def appended(client, session_id: str, *events: dict) -> None:
    response = client.append(session_id, *events)
    assert response.status_code == 201, response.text


def found(client, path: str, **params) -> dict | None:
    """The JSON of a query once it lists something (read models are eventually consistent)."""
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    return body if body.get("items", True) else None


def lead_of_sessions(client, search: str, sessions: int) -> dict | None:
    body = found(client, "/v1/leads", search=search)
    return body if body and body["items"][0]["sessions"] == sessions else None


def test_review_read_models_answer_over_http(client):
    tag = uuid.uuid4().hex[:8]
    agent, email = f"concierge-{tag}", f"ada-{tag}@example.com"
    first = client.start_session(agent_id=agent, contact={"email": email.upper()})["session_id"]
    question = message("Do you  have vegan pizza?")
    flagged = {
        "type": "session.flag_set",
        "payload": {"flag": "is_todo", "value": True, "reason": "call back"},
    }
    appended(client, first, question, missed(question), flagged)
    second = client.start_session(agent_id=agent, channel="sms")["session_id"]
    identified = {"type": "session.contact_identified", "payload": {"contact": {"email": email}}}
    appended(client, second, identified)

    groups = wait_for(
        lambda: found(client, "/v1/missed-questions", agent=agent), what="missed question"
    )
    (group,) = groups["items"]
    assert (group["question"], group["occurrences"], group["status"]) == (
        "Do you have vegan pizza?",
        1,
        "unresolved",
    )
    detail = client.get(f"/v1/missed-questions/{group['group_id']}").json()
    assert detail["occurrences"][0]["session_id"] == first

    leads = wait_for(lambda: lead_of_sessions(client, email, 2), what="both sessions in one lead")
    lead_id = leads["items"][0]["lead_id"]
    lead = client.get(f"/v1/leads/{lead_id}").json()
    assert {s["session_id"] for s in lead["session_list"]} == {first, second}
    (merge,) = lead["merges"]
    assert f"because both had email {email}" in merge["explanation"]
    redirected = client.get(f"/v1/leads/{merge['merged_lead_id']}").json()
    assert redirected["merged_into"] == lead_id
    assert client.as_role(OTHER_WORKSPACE).get(f"/v1/leads/{lead_id}").status_code == 404
    # The session list links both sessions to the surviving lead, the merged one's included.
    listed = client.get("/v1/sessions", params={"agents": agent}).json()["items"]
    assert {(row["session_id"], row["lead_id"]) for row in listed} == {
        (first, lead_id),
        (second, lead_id),
    }
    assert client.get(f"/v1/sessions/{second}").json()["listed"]["lead_id"] == lead_id

    audit = wait_for(lambda: found(client, "/v1/audit", session=first), what="audit entry")
    (entry,) = audit["items"]
    assert (entry["field"], entry["before"], entry["after"], entry["reason"]) == (
        "flags.is_todo",
        None,
        True,
        "call back",
    )
    assert client.get("/v1/audit", params={"cursor": "nonsense"}).status_code == 422
