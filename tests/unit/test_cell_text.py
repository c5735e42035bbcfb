"""Export cells: a CSV cell whose text a spreadsheet would run as a formula is prefixed with
``'`` (numbers that merely look signed are not); an xlsx string cell, which a spreadsheet
never runs, keeps its text exactly."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from api.exports import cell_text

UTC = ZoneInfo("UTC")


@pytest.mark.parametrize(
    "text",
    ['=HYPERLINK("http://x.example","click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1"],
)
def test_a_formula_is_prefixed_in_csv_and_kept_in_xlsx(text):
    assert cell_text(text, UTC) == "'" + text
    assert cell_text(text, UTC, formula_safe=False) == text
    assert cell_text([text, "ok"], UTC, formula_safe=False) == f"{text}; ok"


@pytest.mark.parametrize("text", ["+49 30 1234", "-1", "-2.5", "plain", ""])
def test_numbers_and_plain_text_are_written_as_they_are(text):
    assert cell_text(text, UTC) == text
