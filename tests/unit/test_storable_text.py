"""The request guard refuses a JSON body whose text holds a surrogate that is not half of a
pair (UTF-8 cannot hold one), naming the field; a pair (an emoji, escaped) passes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.limits import LONE_SURROGATE_REASON, NUL_REASON, _has_lone_surrogate_escape

# Backslashes, quotes, surrogates as text and as characters, so that near-misses are common.
TOKENS = ["\\", '"', "u", "ud800", "UDBFF", "udc00", "uDfFf", "uD83D", "ude00", "\ud800"]
TOKENS += ["\udfff", "\U0001f600", "\ud7ff", "a"]
TRICKY = st.lists(st.sampled_from(TOKENS), max_size=8).map("".join)


def _lone_surrogate_in(text: str) -> bool:
    return any("\ud800" <= character <= "\udfff" for character in text)


@given(keys=st.lists(TRICKY, max_size=3), values=st.lists(TRICKY, max_size=3))
def test_a_body_is_refused_exactly_when_one_of_its_strings_holds_a_lone_surrogate(keys, values):
    body = json.dumps({"events": [{key: "" for key in keys}], "text": values}).encode()
    # As read back, not as written: two lone halves side by side are escaped as a pair, and
    # Python's json joins every escaped pair into one character, so what is left is alone.
    document = json.loads(body)
    texts = [*document["events"][0], *document["text"]]
    assert _has_lone_surrogate_escape(body) == any(_lone_surrogate_in(text) for text in texts)


@pytest.mark.parametrize(
    ("body", "lone"),
    [
        (rb'"\udfff"', True),
        (rb'"\ud800x"', True),
        (rb'"\uDBFF"', True),
        (rb'"\ud83d\ude00"', False),
        (rb'"\uD83D\uDE00"', False),
        (rb'"\\ud800"', False),  # an escaped backslash, then text
        (rb'"\\\ud800"', True),  # an escaped backslash, then the escape
        (rb'"\\ud83d\ude00"', True),  # the high half is text: the low one is alone
        (rb'"\ud83d\\ude00"', True),
        (rb'"\ud7ff\ue000"', False),  # either side of the surrogates
    ],
)
def test_lone_surrogate_escapes(body, lone):
    assert _has_lone_surrogate_escape(body) == lone


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (rb'{"parameters": {"campaign": "\udfff"}}', "parameters.campaign"),
        (rb'{"utm": {"source": "spring\ud800x"}}', "utm.source"),
        (rb'{"parameters": {"a\udfffb": "x"}}', "parameters.a\ufffdb"),
        (rb'{"events": [{"payload": {"text": "\\\ud83d"}}]}', "events.0.payload.text"),
    ],
)
def test_the_guard_answers_422_naming_the_field(guarded, body, field):
    response = guarded.post("/", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "invalid_character",
        "message": f"{field}: {LONE_SURROGATE_REASON}",
        "field": field,
    }


def test_the_guard_still_names_a_nul_and_passes_a_pair(guarded):
    nul = guarded.post("/", content=rb'{"parameters": {"a": "\u0000"}}')
    assert (nul.status_code, nul.json()["error"]["message"]) == (422, f"parameters.a: {NUL_REASON}")
    emoji = rb'{"text": "\ud83d\ude00"}'
    passed = guarded.post("/", content=emoji)
    assert (passed.status_code, passed.json()) == (200, {"received": emoji.decode()})
