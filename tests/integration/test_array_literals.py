"""The array parameters the read models pass as text read back as the values given."""

from __future__ import annotations

import psycopg
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.batch import int_array, text_array

# PostgreSQL text holds no NUL character.
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))


def test_text_and_bigint_arrays_round_trip(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:

        @settings(max_examples=200, deadline=None)
        @given(
            texts=st.lists(TEXT, max_size=8),
            ints=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=8),
        )
        def round_trip(texts, ints):
            row = conn.execute(
                "SELECT %s::text[], %s::bigint[]", (text_array(texts), int_array(ints))
            ).fetchone()
            assert row == (texts, ints)

        round_trip()
