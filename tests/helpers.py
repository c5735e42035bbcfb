"""Helpers the tests share: an HTTP client for a running stack, waiting, event builders."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import psycopg

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.1, what: str = ""
) -> T:
    """Poll until ``probe`` returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or probe}")
        time.sleep(interval)


def message(text: str, role: str = "customer", **extra: Any) -> dict:
    return {
        "type": "session.message_recorded",
        **extra,
        "payload": {"message_id": uuid.uuid4().hex, "author_role": role, "text": text},
    }


def missed(said: dict) -> dict:
    """The agent missing the question a ``message`` asked (reported through the API)."""
    text = said["payload"]["text"]
    payload = {"message_id": said["payload"]["message_id"], "question": text, "source": "api"}
    return {"type": "session.question_missed", "payload": payload}


def closed(reason: str = "completed") -> dict:
    return {"type": "session.closed", "payload": {"reason": reason}}


# The workspace of the second admin key every test stack has (cross-workspace tests).
OTHER_WORKSPACE = "other-workspace"


class StackClient(httpx.Client):
    """An HTTP client of a test stack, authenticated with one of its keys (``stack.api_keys``,
    issued by tests/conftest.py). The admin key, the default, may ingest, review and read."""

    def __init__(self, stack, role: str = "admin") -> None:
        headers = {"Authorization": f"Bearer {stack.api_keys[role]}"}
        super().__init__(base_url=stack.endpoints.api_url, timeout=30, headers=headers)
        self.stack = stack
        self._others: list[httpx.Client] = []

    def as_role(self, role: str) -> StackClient:
        """A client of the same stack with another key: a role, or ``OTHER_WORKSPACE``."""
        other = StackClient(self.stack, role)
        self._others.append(other)
        return other

    def anonymous(self) -> httpx.Client:
        """A client that sends no key at all."""
        other = httpx.Client(base_url=self.stack.endpoints.api_url, timeout=30)
        self._others.append(other)
        return other

    def close(self) -> None:
        for other in self._others:
            other.close()
        super().close()

    def start_session(self, **fields: Any) -> dict:
        body = {"agent_id": "concierge", "channel": "web", **fields}
        response = self.post("/v1/sessions", json=body)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def append(self, session_id: str, *events: dict, **body: Any) -> httpx.Response:
        return self.post(f"/v1/sessions/{session_id}/events", json={"events": list(events), **body})

    def listed(self, session_id: str) -> dict | None:
        """The session's row on the session list, or None while not projected."""
        response = self.get(f"/v1/sessions/{session_id}")
        assert response.status_code == 200, response.text
        return response.json()["listed"]

    def wait_listed(self, session_id: str, timeout: float = 30.0, **expected: Any) -> dict:
        def matches() -> dict | None:
            row = self.listed(session_id)
            if row and all(row.get(k) == v for k, v in expected.items()):
                return row
            return None

        return wait_for(matches, timeout=timeout, what=f"session {session_id} listed {expected}")

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.stack.endpoints.database_url) as conn:
            return conn.execute(query, params).fetchall()


def needs_data(path, what: str):
    """Skip where a data set is absent, except in CI, where ``shared/`` is always beside the
    clone: there a missing file must fail the run rather than quietly shrink it."""
    import os

    import pytest

    present = path is not None and path.is_file()
    return pytest.mark.skipif(
        not present and not os.environ.get("CI"), reason=f"{what} is not here"
    )


def rules_body(conversion_ratio: float, opens: str) -> dict:
    """A POST /v1/rules body: a lead worth 100, non-overflow recognition 0.25 inside Monday's
    hours from ``opens`` to 17:00, and the given conversion ratio."""
    return {
        "defaults": {
            "lead_valuation": {"average_lead_value": 100},
            "conversion_ratio": conversion_ratio,
            "recognition": {"overflow": False, "missed_call_share": 0.25},
            "working_hours": {"monday": [{"start": opens, "end": "17:00"}]},
        }
    }
