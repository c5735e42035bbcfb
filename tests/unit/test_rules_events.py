"""Rules as events: stream ids, version stamping and the field-by-field diff."""

from __future__ import annotations

from datetime import time

from domain.rules import AgentRules, LeadIdentifier, RuleSet, TimeRange
from domain.rules_events import (
    FieldChange,
    RulesPublished,
    diff_rules,
    next_rules,
    ruleset_stream_id,
)


def test_each_workspace_has_one_deterministic_ruleset_stream():
    assert ruleset_stream_id("acme") == ruleset_stream_id("acme")
    assert ruleset_stream_id("acme") != ruleset_stream_id("other")


def test_a_publication_is_stamped_with_the_streams_next_version():
    payload = RulesPublished(rules=RuleSet(version=0), reason="first")
    assert next_rules([], payload).rules.version == 1


def test_the_diff_names_each_changed_leaf_and_ignores_the_version():
    before = RuleSet(version=1)
    after = RuleSet(
        version=2,
        defaults=AgentRules(
            conversion_ratio=0.9,
            working_hours={"monday": [TimeRange(start=time(10), end=time(17))]},
        ),
        agents={"concierge": {"time_zone": "Europe/Berlin"}},
        lead_merge_identifiers=frozenset({LeadIdentifier.email}),
    )
    changes = {change.field: change for change in diff_rules(before, after)}
    assert changes["defaults.conversion_ratio"] == FieldChange(
        "defaults.conversion_ratio", 1.0, 0.9
    )
    assert changes["defaults.working_hours.tuesday"].after is None  # closed now
    assert changes["agents.concierge.time_zone"].after == "Europe/Berlin"
    assert changes["lead_merge_identifiers"].after == ["email"]
    assert "version" not in changes
    assert diff_rules(after, after) == []
