"""Auditors' answers at their edges: verifying one session, and a state before it existed."""

from __future__ import annotations

import uuid

from tests.helpers import OTHER_WORKSPACE


def test_verifying_a_session_of_another_workspace_or_none_is_a_404(client):
    session_id = client.start_session()["session_id"]
    outsider = client.as_role(OTHER_WORKSPACE)
    hidden = outsider.get("/v1/ledger/verify", params={"session": session_id})
    assert hidden.status_code == 404
    assert hidden.json()["error"]["field"] == "session"
    unknown = client.get("/v1/ledger/verify", params={"session": str(uuid.uuid4())})
    assert unknown.status_code == 404
    own = client.get("/v1/ledger/verify", params={"session": session_id})
    assert own.status_code == 200
    report = own.json()
    assert report["ok"] and report["streams"] == 1
    assert report["chain_attested_through"] <= report["head"]


def test_a_state_before_the_session_existed_is_a_404_naming_as_of(client):
    session_id = client.start_session()["session_id"]
    before = client.get(
        f"/v1/sessions/{session_id}/state", params={"as_of": "2020-01-01T00:00:00Z"}
    )
    assert before.status_code == 404
    error = before.json()["error"]
    assert (error["code"], error["field"]) == ("not_yet_recorded", "as_of")
    assert "did not exist yet" in error["message"]
    after = client.get(f"/v1/sessions/{session_id}/state", params={"as_of": "2999-01-01T00:00:00Z"})
    assert after.status_code == 200 and after.json()["version"] == 1
