"""Through the real API: working hours with a UTC offset are a 422 naming the time, and no
rules version is published (all-aware ones used to be stored and then fail the analytics;
mixed ones were a 500)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.stack


def _versions(client) -> list[int]:
    response = client.get("/v1/rules")
    assert response.status_code == 200, response.text
    return [version["version"] for version in response.json()["versions"]]


def _publish(client, monday: list[dict]):
    rules = {"defaults": {"working_hours": {"monday": monday}}}
    return client.post("/v1/rules", json={"rules": rules, "reason": "opening hours"})


@pytest.mark.parametrize(
    ("monday", "field"),
    [
        ([{"start": "09:00:00+02:00", "end": "17:00:00+02:00"}], "0.start"),
        ([{"start": "09:00", "end": "17:00Z"}], "0.end"),
    ],
)
def test_a_time_with_an_offset_is_422_naming_it_and_not_published(client, monday, field):
    before = _versions(client)
    response = _publish(client, monday)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == f"rules.defaults.working_hours.monday.{field}"
    assert "without a UTC offset" in error["message"] and "time_zone" in error["message"]
    assert _versions(client) == before


def test_local_times_are_published(client):
    before = _versions(client)
    response = _publish(client, [{"start": "09:00", "end": "17:00"}])
    assert response.status_code == 201, response.text
    published = response.json()["rules"]["defaults"]["working_hours"]["monday"]
    assert published == [{"start": "09:00:00", "end": "17:00:00"}]
    assert _versions(client) == [*before, before[-1] + 1]
