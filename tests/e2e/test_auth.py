"""API keys: authentication, the role matrix, workspace isolation, the actor of events."""

from __future__ import annotations

import argparse
import uuid

import pytest

from api.auth import Role
from api.cli.keys import api_keys, cmd_create, ensure_demo_admin_key, issue_key
from tests.helpers import OTHER_WORKSPACE, message

pytestmark = pytest.mark.stack


def comment(text: str = "looks fine") -> dict:
    return {"text": text}


def test_no_key_or_a_wrong_key_is_401_with_a_challenge(client):
    anonymous = client.anonymous()
    for headers in ({}, {"Authorization": "Bearer ledger_nope_nope"}, {"X-API-Key": "x"}):
        response = anonymous.get("/v1/sessions", headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["error"]["code"] == "unauthenticated"


def test_the_key_is_accepted_in_x_api_key_too(client, stack):
    response = client.anonymous().get(
        "/v1/sessions", headers={"X-API-Key": stack.api_keys["viewer"]}
    )
    assert response.status_code == 200, response.text


def test_two_different_keys_are_a_401_naming_the_key_header(client, stack):
    viewer, admin = stack.api_keys["viewer"], stack.api_keys["admin"]
    anonymous = client.anonymous()
    both = anonymous.get(
        "/v1/sessions", headers={"Authorization": f"Bearer {viewer}", "X-API-Key": admin}
    )
    assert both.status_code == 401, both.text
    assert both.json()["error"]["field"] == "X-API-Key"
    same = anonymous.get(
        "/v1/sessions", headers={"Authorization": f"Bearer {viewer}", "X-API-Key": viewer}
    )
    assert same.status_code == 200, same.text


def test_a_revoked_key_is_refused(client, stack):
    url = stack.endpoints.database_url
    issued = issue_key(url, stack.settings.workspace, Role.viewer, "short-lived")
    headers = {"Authorization": f"Bearer {issued.secret}"}
    assert client.anonymous().get("/v1/sessions", headers=headers).status_code == 200
    with api_keys(url) as keys:
        assert keys.revoke(issued.key.id).revoked_at is not None
    assert client.anonymous().get("/v1/sessions", headers=headers).status_code == 401


def test_keys_create_prints_the_key_once_and_stores_only_its_hash(client, stack, capsys):
    args = argparse.Namespace(workspace="cli-workspace", role="viewer", name="from the CLI")
    assert cmd_create(stack.settings.model_copy(update=_db(stack)), args) == 0
    secret = capsys.readouterr().out.split("key: ")[1].split()[0]
    stored = client.sql("SELECT secret_hash::text FROM api_keys WHERE name = 'from the CLI'")
    assert len(stored) == 1 and secret not in stored[0][0]
    ok = client.anonymous().get("/v1/sessions", headers={"Authorization": f"Bearer {secret}"})
    assert ok.status_code == 200 and ok.json()["items"] == []


def _db(stack) -> dict:
    return {"database_url": stack.endpoints.database_url}


# (role, method, path template, body, expected status) — {s} is a live session of the
# workspace. 403 is the role boundary; any other status means the role got through.
ROLE_MATRIX = [
    ("viewer", "get", "/v1/sessions", None, 200),
    ("viewer", "get", "/v1/sessions/{s}", None, 200),
    ("viewer", "post", "/v1/sessions", {"agent_id": "a", "channel": "web"}, 403),
    ("viewer", "post", "/v1/sessions/{s}/comments", comment(), 403),
    ("ingest", "get", "/v1/sessions", None, 403),
    ("ingest", "get", "/v1/sessions/{s}/history", None, 403),
    ("ingest", "post", "/v1/sessions", {"agent_id": "a", "channel": "web"}, 201),
    ("ingest", "post", "/v1/sessions/{s}/events", {"events": [message("hi")]}, 201),
    ("ingest", "post", "/v1/sessions/{s}/comments", comment(), 403),
    ("reviewer", "post", "/v1/sessions", {"agent_id": "a", "channel": "web"}, 403),
    ("reviewer", "post", "/v1/sessions/{s}/events", {"events": [message("hi")]}, 403),
    ("reviewer", "get", "/v1/sessions/{s}/history", None, 200),
    ("reviewer", "post", "/v1/sessions/{s}/comments", comment(), 201),
    ("admin", "post", "/v1/sessions/{s}/events", {"events": [message("hi")]}, 201),
    ("admin", "post", "/v1/sessions/{s}/comments", comment(), 201),
    ("admin", "get", "/v1/sessions/{s}", None, 200),
]


@pytest.mark.parametrize(("role", "method", "path", "body", "status"), ROLE_MATRIX)
def test_role_boundaries(client, role, method, path, body, status):
    session_id = client.start_session()["session_id"]
    caller = client.as_role(role)
    kwargs = {"json": body} if body is not None else {}
    response = caller.request(method, path.format(s=session_id), **kwargs)
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json()["error"]["code"] == "forbidden"


def test_an_ingest_key_cannot_record_a_reviewers_judgement_through_the_ingest_route(client):
    session_id = client.start_session()["session_id"]
    payload = {"flag": "is_test", "value": True, "reason": "x"}
    flag = {"type": "session.flag_set", "payload": payload}
    refused = client.as_role("ingest").append(session_id, message("hi"), flag)
    assert refused.status_code == 403
    assert refused.json()["error"]["field"] == "events.1.type"
    assert client.append(session_id, flag).status_code == 201  # the admin key may


def test_an_ingest_key_may_hand_over_as_the_agent_runtime(client):
    session_id = client.start_session()["session_id"]
    handover = {"type": "session.handover_requested", "payload": {"trigger": "customer_request"}}
    assert client.as_role("ingest").append(session_id, handover).status_code == 201


def test_another_workspaces_session_is_a_404_and_shows_nothing(client):
    started = client.start_session(contact={"name": "Secret Customer"})
    session_id = started["session_id"]
    client.append(session_id, message("my card number is 4111"))
    outsider = client.as_role(OTHER_WORKSPACE)
    for path in ("/v1/sessions/{s}", "/v1/sessions/{s}/history"):
        response = outsider.get(path.format(s=session_id))
        assert response.status_code == 404
        assert "Secret" not in response.text and "4111" not in response.text
    writes = [
        outsider.append(session_id, message("injected")),
        outsider.post(f"/v1/sessions/{session_id}/comments", json=comment()),
    ]
    assert [w.status_code for w in writes] == [404, 404]
    listed = outsider.get("/v1/sessions", params={"min_position": started["position"]})
    assert listed.status_code == 200
    assert all(item["session_id"] != session_id for item in listed.json()["items"])
    stored = client.sql(
        "SELECT count(*) FROM stored_events WHERE originator_id = %s", (session_id,)
    )
    assert stored == [(2,)]


def test_the_actor_of_every_event_is_the_key(client, stack):
    session_id = (
        client.as_role("ingest")
        .post("/v1/sessions", json={"agent_id": "concierge", "channel": "web"})
        .json()["session_id"]
    )
    client.as_role("reviewer").post(f"/v1/sessions/{session_id}/comments", json=comment())
    spoofed = client.append(
        session_id, {**message("hi"), "actor": {"kind": "user", "id": "ceo", "name": "CEO"}}
    )
    assert spoofed.status_code == 422  # an actor is never taken from a body

    events = client.get(f"/v1/sessions/{session_id}/history").json()["events"]
    actors = [(e["type"], e["actor"]) for e in events]
    ingest_id = stack.api_keys["ingest"].split("_")[1]
    reviewer_id = stack.api_keys["reviewer"].split("_")[1]
    assert actors == [
        ("session.started", {"kind": "api_key", "id": ingest_id, "name": "test ingest"}),
        ("session.comment_added", {"kind": "api_key", "id": reviewer_id, "name": "test reviewer"}),
    ]


def test_the_openapi_document_describes_the_key(client):
    document = client.anonymous().get("/openapi.json").json()
    assert {"HTTPBearer", "APIKeyHeader"} <= set(document["components"]["securitySchemes"])
    comment_route = document["paths"]["/v1/sessions/{session_id}/comments"]["post"]
    assert {"401", "403", "404", "409", "422"} <= set(comment_route["responses"])
    assert comment_route["security"] == [{"HTTPBearer": []}, {"APIKeyHeader": []}]


def test_unknown_session_for_a_reviewer_command_is_404(client):
    response = client.post(f"/v1/sessions/{uuid.uuid4()}/comments", json=comment())
    assert response.status_code == 404


def test_ledger_up_issues_a_demo_admin_key_once_on_a_fresh_workspace(client, stack, tmp_path):
    settings = stack.settings.model_copy(update={"workspace": "fresh-workspace"})
    url = stack.endpoints.database_url
    key = ensure_demo_admin_key(settings, url, tmp_path)
    key_file = tmp_path / "demo-admin.key"
    assert key_file.read_text().strip() == key
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert ensure_demo_admin_key(settings, url, tmp_path) is None  # the workspace has a key
    headers = {"Authorization": f"Bearer {key}"}
    started = client.anonymous().post(
        "/v1/sessions", json={"agent_id": "demo", "channel": "web"}, headers=headers
    )
    assert started.status_code == 201
    assert client.get(f"/v1/sessions/{started.json()['session_id']}").status_code == 404


def test_whoami_tells_a_key_its_role_and_workspace(client):
    viewer = client.as_role("viewer").get("/v1/whoami")
    assert viewer.status_code == 200
    assert viewer.json()["role"] == "viewer"
    assert viewer.json()["grants"] == ["viewer"]
    assert client.anonymous().get("/v1/whoami").status_code == 401
