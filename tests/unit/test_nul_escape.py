"""The request guard finds a NUL character in any JSON string of a body, and nothing else."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from api.limits import _has_nul_escape

# Backslashes, quotes and the text of the escape itself, so that near-misses are common.
TOKENS = ["\\", '"', "u0000", "\x00", "a", "\n"]
TRICKY = st.lists(st.sampled_from(TOKENS), max_size=8).map("".join)


@given(keys=st.lists(TRICKY, max_size=3), values=st.lists(TRICKY, max_size=3))
def test_a_body_is_refused_exactly_when_one_of_its_strings_holds_nul(keys, values):
    document = {"events": [{key: "" for key in keys}], "text": values}
    body = json.dumps(document).encode()
    holds_nul = any("\x00" in text for text in [*keys, *values])
    assert _has_nul_escape(body) == holds_nul
