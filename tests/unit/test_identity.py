"""Contact identifiers and missed-question groups: normalisation and deterministic ids."""

from __future__ import annotations

from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.identity import (
    IdentifierKind,
    contact_identifiers,
    missed_question_group_id,
    normalise_email,
    normalise_phone,
    normalise_question,
    normalised_question_group_id,
)
from domain.rules import MissedQuestionNormalisation


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("+44 20 7946 0000", None, "+442079460000"),
        ("+44 (0)20 7946-0000", None, "+442079460000"),
        ("0044 20 7946 0000", None, "+442079460000"),
        ("(202) 555-0101", "1", "+12025550101"),
        ("202.555.0101 ext. 12", "+1", "+12025550101"),
        ("030 1234567", "49", "+49301234567"),
        ("030 1234567", None, None),  # national, and no country to put it in
        ("+1 800 FLOWERS", None, None),  # letters: vanity numbers are not supported
        ("+0 123 456 789", None, None),  # no country code starts with 0
        ("+1 234", None, None),  # too short for E.164
        ("+1 2345 6789 0123 4567", None, None),  # too long for E.164
        ("", None, None),
    ],
)
def test_phone_numbers_become_e164(raw, country, expected):
    assert normalise_phone(raw, country) == expected


def test_emails_are_case_folded_and_checked():
    assert normalise_email("  Ada@Example.COM ") == "ada@example.com"
    assert normalise_email("not an email") is None
    assert normalise_email("@example.com") is None


def test_only_usable_identifiers_are_returned():
    found = contact_identifiers(email="A@b.c", phone="12345", external_id="  crm-1 ")
    assert found == [(IdentifierKind.email, "a@b.c"), (IdentifierKind.external_id, "crm-1")]


@given(st.text(max_size=60))
def test_question_normalisation_is_idempotent_and_keeps_case(text):
    once = normalise_question(text)
    assert normalise_question(once) == once
    assert once == once.strip() and "  " not in once
    assert once.replace(" ", "") == "".join(text.split())


def test_group_ids_depend_on_workspace_agent_and_normalised_wording():
    group = missed_question_group_id("w1", "a1", "Open on  Sunday?\n")
    assert group == missed_question_group_id("w1", "a1", "Open on Sunday?")
    assert group != missed_question_group_id("w1", "a1", "open on Sunday?")
    assert group != missed_question_group_id("w1", "a2", "Open on Sunday?")
    assert group != missed_question_group_id("w2", "a1", "Open on Sunday?")


def test_group_ids_are_the_ids_reviewers_recorded_statuses_under():
    # Pinned: a status stream's id must not change with the code that derives it.
    pinned = UUID("0dc9e82f-308e-581e-afd1-ceb469321dc8")
    assert missed_question_group_id("w1", "a1", "Open on  Sunday?\n") == pinned
    assert normalised_question_group_id("w1", "a1", "Open on Sunday?") == pinned
    # The wording is taken as given: rules that keep whitespace keep it in the id.
    assert normalised_question_group_id("w1", "a1", "Open on  Sunday?") != pinned


@given(st.text(max_size=60))
def test_the_built_in_normalisation_is_the_default_rules(text):
    assert normalise_question(text) == MissedQuestionNormalisation().normalise(text)
