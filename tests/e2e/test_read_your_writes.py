"""Read-your-writes: a query given a command's position waits until the read models have
it; with the worker stopped it answers 503 with the lag. (Own module: it stops the worker.)"""

from __future__ import annotations

import pytest

from tests.helpers import message

pytestmark = pytest.mark.stack


def test_a_query_waits_for_the_position_a_command_answered(client):
    session_id = client.start_session()["session_id"]
    written = client.append(session_id, message("one"), message("two", role="ai")).json()
    detail = client.get(f"/v1/sessions/{session_id}", params={"min_position": written["position"]})
    assert detail.status_code == 200, detail.text
    assert detail.json()["listed"]["message_count"] == 2  # no polling needed

    closed = client.append(session_id, {"type": "session.closed", "payload": {}}).json()
    page = client.get("/v1/sessions", params={"min_position": closed["position"]})
    assert page.status_code == 200, page.text
    row = next(i for i in page.json()["items"] if i["session_id"] == session_id)
    assert row["status"] == "closed"


READ_MODEL_QUERIES = (
    "/v1/sessions",
    "/v1/audit",
    "/v1/missed-questions",
    "/v1/missed-questions/share",
    "/v1/leads",
    "/v1/metrics/asr",
    "/v1/exports/audit.csv",
    "/v1/exports/missed-questions.csv",
)


def test_a_position_from_the_future_is_not_applied(client):
    head = client.get("/healthz").json()["position"]
    for path in READ_MODEL_QUERIES:
        response = client.get(path, params={"min_position": head + 1000, "wait": 0.3})
        assert response.status_code == 503, path
        assert client.get(path, params={"min_position": head}).status_code == 200, path
    assert response.json()["error"]["code"] == "read_model_behind"


def test_with_the_worker_stopped_a_query_answers_503_with_the_lag(client, stack):
    session_id = client.start_session()["session_id"]
    stack.services["worker"].stop()
    try:
        written = client.append(session_id, message("while nobody projects")).json()
        for path in (f"/v1/sessions/{session_id}", "/v1/sessions"):
            behind = client.get(path, params={"min_position": written["position"], "wait": 0.5})
            assert behind.status_code == 503, behind.text
            assert behind.headers["Retry-After"] == "1"
            error = behind.json()["error"]
            assert error["field"] == "min_position"
            assert error["lag"]["session_list"]["behind_by"] >= 1
        # The ledger itself is always current: its history does not wait.
        history = client.get(
            f"/v1/sessions/{session_id}/history", params={"min_position": written["position"]}
        )
        assert history.status_code == 200
    finally:
        stack.start_service("worker")
    caught_up = client.get(
        f"/v1/sessions/{session_id}", params={"min_position": written["position"], "wait": 30}
    )
    assert caught_up.status_code == 200, caught_up.text
    assert caught_up.json()["listed"]["message_count"] == 1
