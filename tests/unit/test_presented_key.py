"""Which key a request presents: a bearer token as FastAPI's ``HTTPBearer`` reads it, or
``X-API-Key``; never one of two different keys."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from api.auth import Unauthenticated
from api.deps import presented_key


@pytest.mark.parametrize(
    ("headers", "key"),
    [
        ({"Authorization": "Bearer k1"}, "k1"),
        ({"authorization": "bearer  k1 "}, "k1"),
        ({"Authorization": "Bearer k1", "X-API-Key": "k1"}, "k1"),
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


def test_two_different_keys_are_refused_naming_the_key_header():
    headers = Headers({"Authorization": "Bearer k1", "X-API-Key": "k2"})
    with pytest.raises(Unauthenticated) as refused:
        presented_key(headers)
    assert refused.value.field == "X-API-Key"
    assert "two different API keys" in refused.value.message
