"""The array parameters the read models pass as text read back as the values given."""

from __future__ import annotations

from datetime import UTC

import orjson
import psycopg
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.batch import int_array, rows_of_json, text_array

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


def test_rows_of_json_read_back_as_written(database_url):
    """Read models write their rows through ``rows_of_json``: text, arrays, nested documents,
    numbers and times come back as written."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TEMP TABLE json_rows_probe"
            " (label text, labels text[], counts integer[], doc jsonb, share double precision,"
            "  at timestamptz, flag boolean)"
        )

        @settings(max_examples=200, deadline=None)
        @given(
            label=st.none() | TEXT,
            labels=st.lists(TEXT, max_size=5),
            counts=st.lists(st.integers(-(2**31), 2**31 - 1), max_size=5),
            doc=st.none()
            | st.dictionaries(
                TEXT, st.none() | TEXT | st.integers(-(2**63), 2**63 - 1), max_size=3
            ),
            share=st.floats(allow_nan=False, allow_infinity=False),
            at=st.datetimes(timezones=st.just(UTC)),
            flag=st.booleans(),
        )
        def round_trip(label, labels, counts, doc, share, at, flag):
            written = {
                "label": label,
                "labels": labels,
                "counts": counts,
                "doc": doc,
                "share": share,
                "at": at,
                "flag": flag,
            }
            read = conn.execute(
                f"SELECT label, labels, counts, doc, share, at, flag"
                f" FROM {rows_of_json('json_rows_probe')}",
                (orjson.dumps([written]).decode(),),
            ).fetchall()
            assert read == [tuple(written.values())]

        round_trip()
