"""Publishing rules with an explicit version: a wrong one is refused in the body's terms."""

from __future__ import annotations

import pytest

from api.commands import Caller, StreamCommands
from api.rules import NoGenerationForRules, WorkspaceRulesBook, _generation_under
from domain.envelope import SYSTEM_ACTOR
from domain.errors import VersionConflict
from domain.rules import RuleSet

CALLER = Caller(workspace_id="w1", actor=SYSTEM_ACTOR)


def test_a_version_that_is_not_the_next_names_rules_version_and_the_next_one(store):
    book = WorkspaceRulesBook(store, StreamCommands(store))
    with pytest.raises(VersionConflict) as refused:
        book.publish(RuleSet(version=5), "skipping ahead", CALLER)
    assert refused.value.field == "rules.version"
    assert refused.value.message == "the next rules version is 1, not 5"
    assert book.publish(RuleSet(version=1), "first", CALLER).version == 1


def test_the_hint_for_a_missing_generation_names_the_workspace():
    with pytest.raises(NoGenerationForRules, match="--rules 3 --workspace w1 --no-switch"):
        _generation_under([], "w1", 3)
