"""Live updates: GET /v1/sessions/stream pushes session-list changes (Server-Sent Events)."""

from __future__ import annotations

import json
import queue
import threading
from contextlib import contextmanager

import httpx
import pytest

from api.auth import Role
from api.cli.keys import api_keys, issue_key
from tests.helpers import OTHER_WORKSPACE, message

pytestmark = pytest.mark.stack


@contextmanager
def listening(client, **headers: str):
    """Collect the stream's events, ``{"id", "event", "data"}``, on a queue, in a thread."""
    events: queue.Queue[dict] = queue.Queue()
    opened: queue.Queue[httpx.Response] = queue.Queue()
    stop = threading.Event()

    def read() -> None:
        try:
            with client.stream("GET", "/v1/sessions/stream", headers=headers, timeout=None) as r:
                opened.put(r)
                collect(r.iter_lines(), events)
        except httpx.HTTPError:
            if not stop.is_set():
                raise

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    response = opened.get(timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    try:
        yield events
    finally:
        stop.set()
        response.close()
        reader.join(5)


def collect(lines, events: queue.Queue) -> None:
    fields: dict = {}
    for line in lines:
        if not line:
            if "data" in fields:
                events.put({**fields, "data": json.loads(fields["data"])})
            fields = {}
        elif not line.startswith(":"):  # a comment: the keep-alive
            name, _, value = line.partition(": ")
            fields[name] = value


def wait_for_change(events: queue.Queue, session_id: str, version: int) -> dict:
    while True:
        event = events.get(timeout=30)
        data = event["data"]
        if data["session_id"] == session_id and data["version"] >= version:
            return event


def test_a_change_is_pushed_as_it_is_projected(client):
    session_id = client.start_session()["session_id"]
    with listening(client.as_role("viewer")) as events:
        written = client.append(session_id, message("hello")).json()
        event = wait_for_change(events, session_id, written["version"])
    assert event["event"] == "session"
    assert event["data"] == {
        "session_id": session_id,
        "version": written["version"],
        "position": written["position"],
    }
    assert event["id"] == str(written["position"])


def test_last_event_id_resumes_after_a_position(client):
    started = client.start_session()
    session_id = started["session_id"]
    written = client.append(session_id, message("while disconnected")).json()
    client.wait_listed(session_id, version=written["version"])
    resume_from = str(started["position"] - 1)
    with listening(client, **{"Last-Event-ID": resume_from}) as events:
        event = wait_for_change(events, session_id, written["version"])
    assert event["data"]["position"] == written["position"]


def test_a_last_event_id_past_the_ledgers_head_starts_from_now(client):
    """A tab kept from before the database was reset: not silent until the ledger grows
    past its position, but pushed the changes from now on, as a new client is."""
    with listening(client, **{"Last-Event-ID": "1000000000000"}) as events:
        session_id = client.start_session()["session_id"]
        written = client.append(session_id, message("after the reset")).json()
        event = wait_for_change(events, session_id, written["version"])
    assert event["data"]["position"] == written["position"]


def test_other_workspaces_changes_are_not_pushed(client):
    session_id = client.start_session()["session_id"]
    outsider = client.as_role(OTHER_WORKSPACE)
    own_session = outsider.post("/v1/sessions", json={"agent_id": "x", "channel": "web"}).json()
    with listening(outsider, **{"Last-Event-ID": "0"}) as events:
        first = events.get(timeout=30)
    assert first["data"]["session_id"] == own_session["session_id"] != session_id


def test_the_stream_needs_a_key(client):
    with httpx.Client(base_url=str(client.base_url)) as anonymous:
        assert anonymous.get("/v1/sessions/stream").status_code == 401


def test_a_revoked_keys_open_stream_ends_with_unauthenticated(client):
    """Its other requests are refused at once; its open stream must stop watching too."""
    url = client.stack.endpoints.database_url
    issued = issue_key(url, client.stack.settings.workspace, Role.viewer, "revoked while live")
    session_id = client.start_session()["session_id"]
    viewer = client.anonymous()
    with listening(viewer, authorization=f"Bearer {issued.secret}") as events:
        written = client.append(session_id, message("before")).json()
        wait_for_change(events, session_id, written["version"])
        with api_keys(url) as keys:
            keys.revoke(issued.key.id)
        client.append(session_id, message("after"))
        last = events.get(timeout=10)
        while last["event"] == "session":  # changes projected before the revocation was seen
            last = events.get(timeout=10)
    assert (last["event"], last["data"]) == ("unauthenticated", {})
