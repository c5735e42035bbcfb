"""Filters and ASR through the real stack: HTTP -> event store -> relay -> Kafka -> faust
worker -> session_list and asr_metrics -> HTTP queries (built-in rules v0: a lead is worth 1,
everything converts, overflow recognition 1)."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import message, wait_for

pytestmark = pytest.mark.stack


def _event(event_type: str, **payload) -> dict:
    return {"type": event_type, "payload": payload}


def _analyzed(assessment: str, stars: int) -> dict:
    return _event(
        "session.analyzed", is_lead=True, auto_assessment=assessment, conversation_quality=stars
    )


def _session(client, agent: str, channel: str, contact: dict, *events: dict) -> str:
    session_id = client.start_session(agent_id=agent, channel=channel, contact=contact)[
        "session_id"
    ]
    response = client.append(session_id, *events)
    assert response.status_code == 201, response.text
    return session_id


def test_filters_and_asr_over_http(client):
    agent = f"e2e-{uuid.uuid4().hex[:8]}"
    booked = _session(
        client,
        agent,
        "web",
        {"name": "Ada", "email": "ada@example.com"},
        message("a table for two?"),
        message("sure", role="ai"),
        message("at 8"),
        _analyzed("Yes-A", 5),
    )
    _session(
        client,
        agent,
        "sms",
        {"phone": "+4930123"},
        message("do you deliver?"),
        _analyzed("No", 3),
        _event("session.human_assessment_set", assessment="Yes-B", reason="it did deliver"),
    )
    _session(  # a test: never counts, never listed by default
        client,
        agent,
        "web",
        {"email": "qa@example.com"},
        message("test 1 2 3"),
        message("ok", role="ai"),
        _analyzed("Yes-A", 5),
        _event("session.flag_set", flag="is_test", value=True, reason="qa"),
    )
    _session(client, agent, "web", {}, message("hi"), _analyzed("Yes-A", 1))  # no contact

    combination = {
        "agents": agent,
        "channels": ["web", "voice"],
        "is_opportunity": "true",
        "message_count_op": "gte",
        "message_count": 2,
    }

    def listed() -> list[str]:
        response = client.get("/v1/sessions", params=combination | {"include_test": "true"})
        assert response.status_code == 200, response.text
        return [item["session_id"] for item in response.json()["items"]]

    # Wait until all four are projected (the test one too), then filter live sessions only.
    wait_for(lambda: len(listed()) == 2, what="both web opportunities listed")
    response = client.get("/v1/sessions", params=combination)
    assert [item["session_id"] for item in response.json()["items"]] == [booked]

    def figures() -> dict | None:
        response = client.get("/v1/metrics/asr", params={"group_by": "agent", "period": "month"})
        assert response.status_code == 200, response.text
        rows = [row for row in response.json()["rows"] if row["group"] == agent]
        return rows[0] if rows and rows[0]["sessions"] == 3 else None

    row = wait_for(figures, what="asr_metrics of the agent")
    # Ada (Yes-A) and the sms guest (a reviewer's Yes-B over the automatic No) count 1 x 1 each;
    # the contactless lead is no opportunity; the test session is left out.
    assert (row["leads"], row["opportunities"], row["asr"], row["oss"]) == (3, 2, 2.0, 1.0)
    assert row["css"] == pytest.approx((1.0 + 0.6 + 0.2) / 3)
    assert row["rules_version"] == 0

    bad = client.get("/v1/sessions", params={"message_count_op": "approx"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "message_count_op")
