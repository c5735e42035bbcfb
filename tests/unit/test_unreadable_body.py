"""The request guard refuses a body that cannot be read one way only: bytes that are not UTF-8,
or an object that names a key twice (a 422 naming the key's path); any other body passes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.limits import (
    DUPLICATE_KEY_REASON,
    NOT_UTF8_REASON,
    NUL_REASON,
    TOO_DEEP_REASON,
    _unreadable,
)

JSON = {"content-type": "application/json"}


def _refused(answer, field: str, message: str) -> None:
    assert answer.status_code == 422
    assert answer.json()["error"] == {
        "code": "validation_error",
        "message": message,
        "field": field,
    }


@pytest.mark.parametrize(
    ("body", "byte"),
    [(b'{"text": "caf\xe9"}', "byte 13 is 0xe9"), (b'\xff{"a": 1}', "byte 0 is 0xff")],
)
def test_a_body_that_is_not_utf8_is_a_422_naming_the_body(guarded, body, byte):
    answer = guarded.post("/", content=body, headers=JSON)
    _refused(answer, "body", f"{NOT_UTF8_REASON}: {byte}")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"agent_id": "a", "agent_id": "b"}', "agent_id"),
        (b'{"events": [{"payload": {"text": "x", "text": "y"}}]}', "events.0.payload.text"),
        (b'{"a": {"b": 1}, "c": [1, {"d": 1, "e": {}, "d": 2}]}', "c.1.d"),
        (b'[{"x": 1}, {"x": 1, "x": 1}]', "1.x"),
    ],
)
def test_a_key_named_twice_in_one_object_is_a_422_naming_its_path(guarded, body, field):
    answer = guarded.post("/", content=body, headers=JSON)
    _refused(answer, field, f"{field}: {DUPLICATE_KEY_REASON}")


DEEP = 100_000


@pytest.mark.parametrize(
    "body",
    [
        b"[" * DEEP + b"]" * DEEP,
        b'{"a":' * DEEP + b"1" + b"}" * DEEP,
        b'{"a": 1, "a": ' + b"[" * DEEP + b"]" * DEEP + b"}",
    ],
)
def test_a_body_nested_too_deeply_to_read_is_a_422_naming_the_body(guarded, body):
    """Python's parser gives up at its recursion limit: said, not a 500 or a bare 400."""
    _refused(guarded.post("/", content=body, headers=JSON), "body", TOO_DEEP_REASON)


def test_a_nul_deep_down_is_still_refused_without_a_field(guarded):
    body = b"[" * DEEP + b'"\\u0000"' + b"]" * DEEP
    answer = guarded.post("/", content=body, headers=JSON)
    assert answer.status_code == 422
    assert answer.json()["error"]["message"] == NUL_REASON


@pytest.mark.parametrize(
    "body",
    [b"", b'{"text": "caf\xc3\xa9 \xf0\x9f\x98\x80"}', b'{"a": {"k": 1}, "b": {"k": 1}}', b"{"],
)
def test_everything_else_passes_as_sent(guarded, body):
    """Valid UTF-8, the same key in different objects, and bodies that are no JSON at all
    (FastAPI says where those break) reach the app unchanged."""
    answer = guarded.post("/", content=body, headers=JSON)
    assert (answer.status_code, answer.json()) == (200, {"received": body.decode()})


KEYS = st.sampled_from(["a", "b", "text"])
OBJECTS = st.recursive(
    st.integers(0, 3) | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3).map(lambda items: ("list", items))
        | st.lists(st.tuples(KEYS, inner), max_size=3).map(lambda pairs: ("object", pairs))
    ),
    max_leaves=10,
)


def _written(value) -> str:
    if isinstance(value, tuple) and value[0] == "list":
        return "[" + ",".join(map(_written, value[1])) + "]"
    if isinstance(value, tuple):
        return "{" + ",".join(f"{json.dumps(k)}:{_written(v)}" for k, v in value[1]) + "}"
    return json.dumps(value)


def _repeats_a_key(value) -> bool:
    if not isinstance(value, tuple):
        return False
    if value[0] == "object":
        keys = [key for key, _ in value[1]]
        if len(set(keys)) != len(keys):
            return True
        return any(_repeats_a_key(item) for _, item in value[1])
    return any(_repeats_a_key(item) for item in value[1])


@given(OBJECTS)
def test_a_body_is_refused_exactly_when_an_object_in_it_repeats_a_key(value):
    refused = _unreadable(_written(value).encode())
    assert (refused is not None) == _repeats_a_key(value)
    if refused is not None:
        assert refused[1] == f"{refused[0]}: {DUPLICATE_KEY_REASON}"
