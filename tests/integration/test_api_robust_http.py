"""Bad input through the real API: a 4xx naming the field and the reason, never a 500, and
nothing of another workspace's (or of a stream that is not a session) shown as a session.

Each test is one of a reviewer's reproducers: tampered cursors, extreme dates, a garbage
``Last-Event-ID``, ids of streams that are not sessions, loose idempotent retries, and error
bodies that named no field.
"""

from __future__ import annotations

import base64
import uuid

import orjson
import pytest

from domain.identity import missed_question_group_id
from domain.rules_events import ruleset_stream_id
from infra.event_store import EVENTS_TABLE
from tests.helpers import OTHER_WORKSPACE, message, missed, rules_body, wait_for

pytestmark = pytest.mark.stack


def tampered(document) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(document)).decode()


def refused(response, status: int, code: str, field: str | None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field), error
    return error


def stored_count(client, stream_id) -> int:
    query = f"SELECT count(*) FROM {EVENTS_TABLE} WHERE originator_id = %s"
    return client.sql(query, (str(stream_id),))[0][0]


# --- cursors ----------------------------------------------------------------------------------


def session_cursor(key: str, session_id) -> str:
    return tampered({"sort": "started_at", "order": "desc", "key": key, "id": session_id})


@pytest.mark.parametrize(
    ("path", "cursor"),
    [
        ("/v1/sessions", session_cursor("2026-01-01T00:00:00", 123)),
        ("/v1/sessions", session_cursor("2026-W01-1", str(uuid.uuid4()))),
        ("/v1/audit", tampered(["2026-01-01T00:00:00+00:00", 1])),
        ("/v1/leads", tampered(["2026-01-01T00:00:00+00:00", 1])),
        ("/v1/missed-questions", tampered([1, 1])),
    ],
)
def test_a_tampered_cursor_is_an_invalid_cursor(client, path, cursor):
    refused(client.get(path, params={"cursor": cursor}), 422, "invalid_cursor", "cursor")


def test_a_cursor_key_with_an_offset_postgresql_refuses_still_pages(client):
    cursor = session_cursor("2026-01-01T00:00:00+05:30:45.5", str(uuid.uuid4()))
    answer = client.get("/v1/sessions", params={"cursor": cursor})
    assert answer.status_code == 200, answer.text
    at = tampered(["2026-01-01T00:00:00+05:30:45.5", str(uuid.uuid4())])
    for path in ("/v1/audit", "/v1/leads"):
        assert client.get(path, params={"cursor": at}).status_code == 200, path


# --- extreme dates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/missed-questions", {"from": "0001-01-01", "to": "9999-12-31"}),
        ("/v1/exports/missed-questions.csv", {"to": "9999-12-31"}),
    ],
)
def test_the_last_day_of_the_calendar_is_an_open_end(client, path, params):
    answer = client.get(path, params=params)
    assert answer.status_code == 200, answer.text


# --- Last-Event-ID ----------------------------------------------------------------------------


# Header bytes are read as Latin-1: b"\xb2" is "²", a digit to str.isdigit.
@pytest.mark.parametrize("last_event_id", [b"\xb2", "²".encode(), b"9" * 40, b"garbage"])
def test_a_last_event_id_that_is_no_position_starts_the_stream_from_now(client, last_event_id):
    headers = {"Last-Event-ID": last_event_id}
    with client.stream("GET", "/v1/sessions/stream", headers=headers) as answer:
        assert answer.status_code == 200
        assert next(answer.iter_lines()).startswith("retry:")


# --- ids of streams that are not sessions -----------------------------------------------------


@pytest.fixture(scope="module")
def group_id(stack) -> str:
    """A missed-question group with a status: a stream of the workspace's, not a session."""
    from tests.helpers import StackClient

    with StackClient(stack) as client:
        agent = f"robust-{uuid.uuid4().hex[:8]}"
        session_id = client.start_session(agent_id=agent)["session_id"]
        said = message("Do you deliver on Sundays?")
        assert client.append(session_id, said, missed(said)).status_code == 201
        group = str(
            missed_question_group_id(stack.settings.workspace, agent, "Do you deliver on Sundays?")
        )
        wait_for(
            lambda: client.sql(
                "SELECT 1 FROM missed_question_groups WHERE group_id = %s", (group,)
            ),
            what="the missed-question group projected",
        )
        status = client.post(f"/v1/missed-questions/{group}/status", json={"status": "resolved"})
        assert status.status_code == 201, status.text
        return group


@pytest.fixture(scope="module")
def other_ruleset(stack) -> str:
    """Another workspace's ruleset stream: its id is derived from the workspace's name."""
    from tests.helpers import StackClient

    with StackClient(stack, OTHER_WORKSPACE) as outsider:
        body = {"rules": rules_body(0.5, "09:00"), "reason": "theirs"}
        assert outsider.post("/v1/rules", json=body).status_code == 201
    return str(ruleset_stream_id(OTHER_WORKSPACE))


NOT_A_SESSION = ["group_id", "other_ruleset"]


@pytest.mark.parametrize("stream", NOT_A_SESSION)
def test_reading_a_stream_that_is_no_session_is_404(client, request, stream):
    stream_id = request.getfixturevalue(stream)
    for path in (
        f"/v1/sessions/{stream_id}",
        f"/v1/sessions/{stream_id}/state",
        f"/v1/sessions/{stream_id}/history",
        f"/v1/sessions/{stream_id}/replay",
        f"/v1/exports/sessions/{stream_id}/transcript.txt",
    ):
        refused(client.get(path), 404, "not_found", None)


@pytest.mark.parametrize("stream", NOT_A_SESSION)
def test_recording_on_a_stream_that_is_no_session_is_404_and_stores_nothing(
    client, request, stream
):
    stream_id = request.getfixturevalue(stream)
    before = stored_count(client, stream_id)
    tag = {"tag": "vip", "reason": "big spender"}
    for answer in (
        client.append(stream_id, message("hello")),
        client.post(f"/v1/sessions/{stream_id}/tags", json=tag),
        client.post(
            "/v1/sessions", json={"agent_id": "a", "channel": "web", "session_id": stream_id}
        ),
    ):
        refused(answer, 404, "not_found", None)
    assert stored_count(client, stream_id) == before


# --- idempotent retries -----------------------------------------------------------------------


def test_another_workspace_retrying_a_known_event_id_finds_no_session(client):
    event_id = str(uuid.uuid4())
    start = {"agent_id": "a", "channel": "web", "event_id": event_id}
    session_id = client.start_session(**start)["session_id"]
    tag_event = str(uuid.uuid4())
    tag = {"tag": "vip", "reason": "big spender", "event_id": tag_event}
    assert client.post(f"/v1/sessions/{session_id}/tags", json=tag).status_code == 201

    outsider = client.as_role(OTHER_WORKSPACE)
    retried_start = outsider.post("/v1/sessions", json={**start, "session_id": session_id})
    refused(retried_start, 404, "not_found", None)
    refused(outsider.post(f"/v1/sessions/{session_id}/tags", json=tag), 404, "not_found", None)


def test_a_start_retried_by_its_event_id_alone_is_a_duplicate_of_the_same_session(client):
    """The README's start names no session id: a client whose first answer was lost learns
    the session from the retry (before, the retry drew a new id and was a 409)."""
    start = {"agent_id": "a", "channel": "web", "event_id": str(uuid.uuid4())}
    first = client.post("/v1/sessions", json=start)
    again = client.post("/v1/sessions", json=start)
    assert (first.status_code, again.status_code) == (201, 200), again.text
    assert again.json() == {**first.json(), "duplicate": True}
    other_agent = client.post("/v1/sessions", json={**start, "agent_id": "b"})
    refused(other_agent, 409, "event_id_reused", "event_id")
    outsider = client.as_role(OTHER_WORKSPACE).post("/v1/sessions", json=start)
    refused(outsider, 409, "event_id_reused", "event_id")


def test_a_retry_with_another_occurred_at_reuses_the_event_id(client):
    session_id = client.start_session()["session_id"]
    said = message("hi", event_id=str(uuid.uuid4()), occurred_at="2026-03-02T09:30:00Z")
    assert client.append(session_id, said).status_code == 201
    again = client.append(session_id, said)
    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    six_years_earlier = {**said, "occurred_at": "2020-03-02T09:30:00Z"}
    refused(client.append(session_id, six_years_earlier), 409, "event_id_reused", "event_id")


def test_a_retry_without_occurred_at_of_an_event_the_server_stamped_is_a_duplicate(client):
    session_id = client.start_session()["session_id"]
    said = message("hi", event_id=str(uuid.uuid4()))
    assert client.append(session_id, said).status_code == 201
    assert client.append(session_id, said).status_code == 200


def test_a_retry_leaving_out_a_field_the_original_set_reuses_the_event_id(client):
    session_id = client.start_session()["session_id"]
    said = message("hi", event_id=str(uuid.uuid4()))
    said["payload"]["author"] = "Bo"
    assert client.append(session_id, said).status_code == 201
    anonymous = {**said, "payload": {k: v for k, v in said["payload"].items() if k != "author"}}
    refused(client.append(session_id, anonymous), 409, "event_id_reused", "event_id")


def test_an_override_retried_without_previous_is_a_duplicate(client):
    session_id = client.start_session()["session_id"]
    body = {"assessment": "No", "reason": "wrong answer", "event_id": str(uuid.uuid4())}
    path = f"/v1/sessions/{session_id}/assessment"
    assert client.post(path, json=body).status_code == 201
    assert client.post(path, json=body).json()["duplicate"] is True


# --- error bodies -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"content": b"", "headers": {"content-type": "application/json"}},
        {"json": [{"agent_id": "a", "channel": "web"}]},
        {"content": b"agent_id=a", "headers": {"content-type": "text/plain"}},
    ],
)
def test_a_body_that_is_no_json_object_names_the_body(client, request_kwargs):
    error = refused(client.post("/v1/sessions", **request_kwargs), 422, "validation_error", "body")
    assert error["message"] == "a JSON object body is required"


def test_malformed_json_says_where_and_why(client):
    answer = client.post(
        "/v1/sessions", content=b'{"agent_id":', headers={"content-type": "application/json"}
    )
    error = refused(answer, 422, "validation_error", "body")
    assert error["message"].startswith("invalid JSON at character 12: ")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"agent_id": "caf\xe9", "channel": "web"}', "body"),
        (b'{"agent_id": "a", "channel": "web", "agent_id": "b"}', "agent_id"),
        (b'{"agent_id": " ", "channel": "web"}', "agent_id"),
    ],
)
def test_a_body_read_more_than_one_way_or_blank_is_refused_and_stores_nothing(client, body, field):
    """Not UTF-8, a key named twice, an agent id of white space: 422 naming it, no session."""
    session_id = str(uuid.uuid4())
    body = body.replace(b'"channel"', f'"session_id": "{session_id}", "channel"'.encode())
    answer = client.post("/v1/sessions", content=body, headers={"content-type": "application/json"})
    refused(answer, 422, "validation_error", field)
    assert stored_count(client, session_id) == 0


def test_a_previous_value_mismatch_shows_json_values(client, group_id):
    session_id = client.start_session()["session_id"]
    stale = client.post(
        f"/v1/sessions/{session_id}/assessment",
        json={"assessment": "Yes-A", "reason": "fine", "previous": "No"},
    )
    error = refused(stale, 409, "previous_value_mismatch", "previous")
    assert 'holds null, not "No"' in error["message"]
    status = f"/v1/missed-questions/{group_id}/status"
    stale = client.post(status, json={"status": "ignored", "previous": "unresolved"})
    error = refused(stale, 409, "previous_value_mismatch", "previous")
    assert error["message"].endswith(', not "unresolved"'), error["message"]
    assert "<" not in error["message"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/audit", {"from": "2026-05-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}),
        ("/v1/missed-questions", {"from": "2026-05-01", "to": "2026-01-01"}),
        ("/v1/missed-questions/share", {"from": "2026-05-01", "to": "2026-01-01"}),
        ("/v1/exports/audit.csv", {"from": "2026-05-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}),
        ("/v1/metrics/asr", {"from": "2026-05-01", "to": "2026-01-01"}),
    ],
)
def test_a_range_that_ends_before_it_begins_is_a_422_naming_to(client, path, params):
    response = client.get(path, params=params)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "to"


def test_a_replay_speed_below_the_least_is_refused(client):
    session_id = client.start_session()["session_id"]
    response = client.get(f"/v1/sessions/{session_id}/replay", params={"speed": "5e-324"})
    assert response.status_code == 422 and response.json()["error"]["field"] == "speed"


def test_an_agent_id_with_a_slash_can_be_exported(client):
    agent = f"team/{uuid.uuid4().hex[:8]}"
    started = client.start_session(agent_id=agent)
    response = client.get(
        f"/v1/exports/agents/{agent}/sessions.json",
        params={"min_position": started["position"]},
    )
    assert response.status_code == 200, response.text
    assert [s["session_id"] for s in response.json()] == [started["session_id"]]
