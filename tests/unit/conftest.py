"""Fixtures the unit tests of the API's request guard share."""

from __future__ import annotations

import pytest
from starlette.responses import JSONResponse
from starlette.testclient import TestClient

from api.limits import RequestGuard


async def _echo(scope, receive, send) -> None:
    message = await receive()
    await JSONResponse({"received": message["body"].decode()})(scope, receive, send)


@pytest.fixture
def guarded() -> TestClient:
    """A client of the guard in front of an app that answers the body it received."""
    return TestClient(RequestGuard(_echo))
