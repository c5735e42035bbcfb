"""The API's aggregate cache stays within both of its bounds, least recently used out first."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from hypothesis import given
from hypothesis import strategies as st

from api.commands import AggregateCache, SessionCommands


@dataclass
class Folded:
    """What the cache reads of a session: its id and how many events it folded."""

    version: int
    id: uuid.UUID = field(default_factory=uuid.uuid4)


def test_a_session_taken_is_no_longer_held_nor_counted():
    cache = AggregateCache(capacity=4, max_events=100)
    session = Folded(30)
    cache.keep(session)
    assert cache.take(session.id) is session
    assert cache.take(session.id) is None
    assert (len(cache), cache.events) == (0, 0)


def test_long_sessions_are_evicted_by_their_events_least_recently_used_first():
    cache = AggregateCache(capacity=100, max_events=1000)
    old, recent = Folded(400), Folded(400)
    cache.keep(old)
    cache.keep(recent)
    cache.keep(Folded(300))
    assert cache.take(old.id) is None
    assert cache.take(recent.id) is recent


def test_keeping_a_session_again_counts_its_events_once():
    cache = AggregateCache(capacity=10, max_events=1000)
    session = Folded(10)
    cache.keep(session)
    session.version = 25
    cache.keep(session)
    assert (len(cache), cache.events) == (1, 25)


def test_one_session_larger_than_the_budget_is_still_kept():
    cache = AggregateCache(capacity=10, max_events=100)
    huge = Folded(5000)
    cache.keep(huge)
    assert cache.take(huge.id) is huge


@given(st.lists(st.tuples(st.integers(0, 9), st.integers(1, 300), st.booleans()), max_size=60))
def test_both_bounds_hold_after_any_sequence_of_keeps_and_takes(operations):
    cache = AggregateCache(capacity=5, max_events=600)
    sessions = [Folded(1) for _ in range(10)]
    for index, version, taking in operations:
        session = sessions[index]
        if taking:
            cache.take(session.id)
        else:
            session.version = version
            cache.keep(session)
        held = [s for s in sessions if s.id in cache._sessions]
        assert cache.events == sum(cache._sessions[s.id][1] for s in held)
        assert len(cache) <= 5
        assert cache.events <= 600 or len(cache) == 1


def test_commands_keep_the_cache_they_are_given_even_while_it_is_empty():
    cache = AggregateCache(capacity=3)
    assert len(cache) == 0
    assert SessionCommands(store=None, cache=cache).cache is cache
