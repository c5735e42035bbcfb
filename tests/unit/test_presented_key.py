"""Which key a request presents: a bearer token as FastAPI's ``HTTPBearer`` reads it, else
``X-API-Key``."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from api.deps import presented_key


@pytest.mark.parametrize(
    ("headers", "key"),
    [
        ({"Authorization": "Bearer k1"}, "k1"),
        ({"authorization": "bearer  k1 "}, "k1"),
        ({"Authorization": "Bearer k1", "X-API-Key": "k2"}, "k1"),
        ({"Authorization": "Basic dXNlcjpwdw==", "X-API-Key": "k2"}, "k2"),
        ({"Authorization": "Bearer ", "X-API-Key": "k2"}, "k2"),
        ({"x-api-key": "k2"}, "k2"),
        ({"Authorization": "Bearer"}, None),
        ({"X-API-Key": ""}, None),
        ({}, None),
    ],
)
def test_the_bearer_token_first_then_the_key_header(headers, key):
    assert presented_key(Headers(headers)) == key
