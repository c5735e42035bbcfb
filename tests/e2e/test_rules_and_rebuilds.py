"""Rules as events and blue/green rebuilds through the real stack: HTTP -> ruleset stream;
rebuild into new tables while the worker keeps the live ones; switch; the API serves the new
generation and the worker feeds it.

Hand-computed figures (average lead value 100, Yes-A, an e-mail: an opportunity):
v1: conversion 0.5, Monday 09-17 UTC, recognition 0.25 in hours (not overflow)
    10:00 -> 100 x 0.5 x 1 x 0.25 = 12.5;  14:00 -> 12.5
v2: conversion 0.8, Monday 13-17 UTC
    10:00 (closed) -> 100 x 0.8 x 1 x 1 = 80;  14:00 -> 100 x 0.8 x 1 x 0.25 = 20
"""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import OTHER_WORKSPACE, rules_body, wait_for

pytestmark = pytest.mark.stack


def _publish(client, rules: dict, reason: str) -> int:
    response = client.post("/v1/rules", json={"rules": rules, "reason": reason})
    assert response.status_code == 201, response.text
    return response.json()["version"]


def _lead(client, agent: str, hour: int) -> str:
    started = client.start_session(
        agent_id=agent, contact={"email": "ada@example.com"}, occurred_at=f"2026-03-02T{hour}:00Z"
    )
    analyzed = {
        "type": "session.analyzed",
        "payload": {"is_lead": True, "auto_assessment": "Yes-A", "conversation_quality": 4},
    }
    assert client.append(started["session_id"], analyzed).status_code == 201
    return started["session_id"]


def _generation(client, generation: int, projection: str = "session_list") -> dict | None:
    found = [
        g
        for g in client.get("/v1/projections").json()["generations"]
        if (g["projection"], g["generation"]) == (projection, generation)
    ]
    return found[0] if found else None


def _rebuild(client, version: int, *, switch: bool) -> int:
    response = client.post(
        "/v1/projections/session_list/rebuild", json={"rules_version": version, "switch": switch}
    )
    assert response.status_code == 202, response.text
    return response.json()["generation"]


def _asr_by_hour(client, agent: str) -> dict[int, tuple[float, int]]:
    items = client.get("/v1/sessions", params={"agents": agent}).json()["items"]
    return {int(item["started_at"][11:13]): (item["asr"], item["rules_version"]) for item in items}


def _monthly_asr(client, agent: str) -> list[tuple[float, int]]:
    rows = client.get("/v1/metrics/asr", params={"period": "month"}).json()["rows"]
    return [(row["asr"], row["rules_version"]) for row in rows if row["group"] == agent]


def test_invalid_rules_are_a_422_naming_the_field(client):
    cases = {
        "rules.defaults.conversion_ratio": {"defaults": {"conversion_ratio": -0.1}},
        "rules.defaults.working_hours.monday": {
            "defaults": {
                "working_hours": {
                    "monday": [
                        {"start": "09:00", "end": "12:00"},
                        {"start": "11:00", "end": "14:00"},
                    ]
                }
            }
        },
        "rules.defaults.time_zone": {"defaults": {"time_zone": "Mars/Olympus_Mons"}},
        "rules.defaults.session_length": {
            "defaults": {"session_length": {"short_below_seconds": 600, "long_from_seconds": 60}}
        },
    }
    for field, rules in cases.items():
        response = client.post("/v1/rules", json={"rules": rules, "reason": "bad"})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == field
    viewer = client.as_role("viewer").post(
        "/v1/rules", json={"rules": rules_body(0.5, "09:00"), "reason": "not mine"}
    )
    assert viewer.status_code == 403


def test_rules_v1_then_v2_rebuilt_beside_the_live_tables_and_switched_in(client):
    agent = f"rules-{uuid.uuid4().hex[:8]}"
    v1 = _publish(client, rules_body(0.5, "09:00"), "opening rules")
    first = _rebuild(client, v1, switch=True)
    wait_for(lambda: (_generation(client, first) or {}).get("status") == "live", what="v1 live")

    _lead(client, agent, 10), _lead(client, agent, 14)
    v1_figures = {10: (12.5, v1), 14: (12.5, v1)}
    wait_for(lambda: _asr_by_hour(client, agent) == v1_figures, what="sessions under v1")
    v1_metrics = _monthly_asr(client, agent)
    assert v1_metrics == [(25.0, v1)]

    v2 = _publish(client, rules_body(0.8, "13:00"), "afternoons only; better closing")
    assert _asr_by_hour(client, agent) == v1_figures  # publishing alone changes nothing
    shadow = _rebuild(client, v2, switch=False)

    def caught_up() -> bool:
        # Meanwhile the API keeps serving v1's tables, unchanged.
        assert _asr_by_hour(client, agent) == v1_figures
        assert _monthly_asr(client, agent) == v1_metrics
        return (_generation(client, shadow) or {}).get("status") == "shadow"

    wait_for(caught_up, what="the v2 shadow caught up")
    tables = _generation(client, shadow)["tables"]
    rebuilt = client.sql(
        f"SELECT extract(hour FROM started_at)::int, asr, rules_version"
        f" FROM {tables['session_list']} WHERE agent_id = %s ORDER BY 1",
        (agent,),
    )
    assert rebuilt == [(10, 80.0, v2), (14, 20.0, v2)]

    report = client.get("/v1/rules/diff-report", params={"from": v1, "to": v2}).json()
    (row,) = [r for r in report["rows"] if r["agent_id"] == agent]
    assert row["month"] == "2026-03"
    assert row["figures"]["asr"] == {"before": 25.0, "after": 100.0, "change": 75.0}
    assert row["figures"]["opportunities"]["after"] == 2

    switched = client.post("/v1/projections/session_list/switch", json={"generation": shadow})
    assert switched.status_code == 200, switched.text
    assert _asr_by_hour(client, agent) == {10: (80.0, v2), 14: (20.0, v2)}
    assert _monthly_asr(client, agent) == [(100.0, v2)]

    _lead(client, agent, 15)  # after the switch: the worker feeds the new generation
    wait_for(lambda: _asr_by_hour(client, agent).get(15) == (20.0, v2), what="fed after switch")


def test_rules_versions_diff_and_audit(client):
    before = client.get("/v1/rules").json()
    first = _publish(client, rules_body(0.5, "09:00"), "baseline")
    second = _publish(client, rules_body(0.5, "10:00"), "open later")
    listed = client.get("/v1/rules").json()
    assert [v["version"] for v in listed["versions"]][-2:] == [first, second]
    assert listed["versions"][-1]["reason"] == "open later"
    assert listed["versions"][-1]["actor"]["kind"] == "api_key"
    assert len(listed["versions"]) == len(before["versions"]) + 2
    assert client.get(f"/v1/rules/{second}").json()["rules"]["version"] == second
    assert client.get("/v1/rules/999").status_code == 404

    diff = client.get("/v1/rules/diff", params={"from": first, "to": second}).json()
    assert diff["changes"] == [
        {
            "field": "defaults.working_hours.monday",
            "before": [{"start": "09:00:00", "end": "17:00:00"}],
            "after": [{"start": "10:00:00", "end": "17:00:00"}],
        }
    ]
    stale = client.post(
        "/v1/rules", json={"rules": {**rules_body(0.5, "09:00"), "version": first}, "reason": "x"}
    )
    assert stale.status_code == 409

    def audited() -> list[dict]:
        items = client.get("/v1/audit", params={"kind": "rules.published"}).json()["items"]
        return [i for i in items if i["reason"] == "open later"]

    (entry,) = wait_for(audited, what="rules.published in the audit trail")
    assert entry["field"] == "rules" and entry["after"]["version"] == second


def test_leads_rebuilt_under_rules_without_phone_merging_are_split_after_the_switch(client):
    tag = uuid.uuid4().hex[:8]
    phone = f"+1 202 555 {int(tag[:4], 16) % 10000:04d}"
    sessions = {
        client.start_session(contact={"name": f"Ada {tag}", "phone": phone})["session_id"]
        for _ in range(2)
    }

    def leads() -> list[set[str]]:
        found = client.get("/v1/leads", params={"search": tag}).json()["items"]
        details = [client.get(f"/v1/leads/{lead['lead_id']}").json() for lead in found]
        return sorted(({s["session_id"] for s in d["session_list"]} for d in details), key=min)

    wait_for(lambda: leads() == [sessions], what="both sessions merged by phone")
    version = _publish(client, {"lead_merge_identifiers": ["email"]}, "phones are shared")
    response = client.post(
        "/v1/projections/leads/rebuild", json={"rules_version": version, "switch": True}
    )
    assert response.status_code == 202, response.text
    generation = response.json()["generation"]
    assert response.json()["tables"]["lead_members"] == f"lead_members__g{generation}"

    def live() -> bool:
        return (_generation(client, generation, "leads") or {}).get("status") == "live"

    wait_for(live, what="the leads generation without phone merging switched in")
    assert leads() == sorted(({s} for s in sessions), key=min)
    # Only leads was switched to the new version: the rules list says so per read model.
    listed = client.get("/v1/rules").json()
    assert listed["live_versions"]["leads"] == version
    assert listed["live_versions"]["session_list"] == listed["live_version"] < version
    assert set(listed["live_versions"]) == {"session_list", "missed_questions", "leads"}


def test_a_shadow_kept_for_a_what_if_is_cancelled_by_its_generation(client):
    response = client.post("/v1/projections/audit_trail/rebuild", json={"switch": False})
    assert response.status_code == 202, response.text
    shadow = response.json()["generation"]
    wait_for(
        lambda: (_generation(client, shadow, "audit_trail") or {}).get("status") == "shadow",
        what="the audit trail shadow caught up",
    )
    cancelled = client.delete("/v1/projections/audit_trail/rebuild", params={"generation": shadow})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"


def test_another_workspaces_admin_may_not_switch_or_cancel_a_generation_of_its_rules(client):
    version = _publish(client, rules_body(0.6, "08:00"), "ours to roll out")
    shadow = _rebuild(client, version, switch=False)
    wait_for(
        lambda: (_generation(client, shadow) or {}).get("status") == "shadow",
        what="the shadow under this workspace's rules caught up",
    )
    outsider = client.as_role(OTHER_WORKSPACE)
    attempts = [
        outsider.post("/v1/projections/session_list/switch", json={"generation": shadow}),
        outsider.delete("/v1/projections/session_list/rebuild", params={"generation": shadow}),
    ]
    assert [a.status_code for a in attempts] == [403, 403]
    assert attempts[0].json()["error"]["code"] == "other_workspaces_rules"
    assert _generation(client, shadow)["status"] == "shadow"
    owner = client.delete("/v1/projections/session_list/rebuild", params={"generation": shadow})
    assert owner.status_code == 200 and owner.json()["status"] == "cancelled"
