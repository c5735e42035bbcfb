"""The API process's cache of verified keys against real PostgreSQL: hits need no query, a
revocation (or any change to a key) evicts at once, and without its listener it is not used."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from api.auth import ApiKeys, CachedKeys, Role, StoredKey
from api.cli.keys import api_keys, issue_key
from infra.database import create_pool


class CountingKeys(ApiKeys):
    """ApiKeys that counts its lookups, and can hold one back until told to go on."""

    def __init__(self, pool) -> None:
        super().__init__(pool)
        self.lookups = 0
        self.after_lookup: threading.Event | None = None
        self.looked_up = threading.Event()

    def active(self, key_id: str) -> StoredKey | None:
        self.lookups += 1
        found = super().active(key_id)
        self.looked_up.set()
        if self.after_lookup is not None:
            self.after_lookup.wait(5)
        return found


@pytest.fixture
def keys(database_url) -> Iterator[CountingKeys]:
    with api_keys(database_url):  # creates the table and its trigger
        pass
    pool = create_pool(database_url, size=2, name="test-keys")
    yield CountingKeys(pool)
    pool.close()


@pytest.fixture
def cache(keys, database_url) -> Iterator[CachedKeys]:
    cached = CachedKeys(keys, database_url)
    yield cached
    cached.close()


def revoke(database_url: str, key_id: str) -> None:
    with api_keys(database_url) as keys:
        keys.revoke(key_id)


def test_a_verified_key_is_served_from_the_cache(cache, keys, database_url):
    issued = issue_key(database_url, "w1", Role.viewer, "cached")
    assert [cache.authenticate(issued.secret).id for _ in range(5)] == [issued.key.id] * 5
    assert keys.lookups == 1


def test_a_wrong_secret_is_refused_even_for_a_cached_key(cache, database_url):
    issued = issue_key(database_url, "w1", Role.viewer, "cached")
    assert cache.authenticate(issued.secret) is not None
    assert cache.authenticate(issued.secret[:-2] + "xx") is None


def test_a_revoked_key_is_refused_on_the_very_next_lookup(cache, database_url):
    for _ in range(20):  # each round a race between the notification and the next lookup
        issued = issue_key(database_url, "w1", Role.viewer, "short-lived")
        assert cache.authenticate(issued.secret) is not None
        revoke(database_url, issued.key.id)
        assert cache.authenticate(issued.secret) is None


def test_a_key_deleted_or_truncated_away_is_refused(cache, database_url):
    first, second = (issue_key(database_url, "w1", Role.admin, n) for n in ("a", "b"))
    assert cache.authenticate(first.secret) and cache.authenticate(second.secret)
    # Straight SQL has no grace period (see ApiKeys.revoke): the eviction follows shortly.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM api_keys WHERE id = %s", (first.key.id,))
        _wait_for(lambda: cache.authenticate(first.secret) is None, timeout=2)
        assert cache.authenticate(second.secret) is not None
        conn.execute("TRUNCATE api_keys")
    _wait_for(lambda: cache.authenticate(second.secret) is None, timeout=2)


def test_a_revocation_during_a_lookup_is_not_cached_as_active(cache, keys, database_url):
    """The lookup read the key as active just before the revocation committed: what it read
    may be answered once, never kept."""
    issued = issue_key(database_url, "w1", Role.viewer, "raced")
    keys.after_lookup = threading.Event()
    first = threading.Thread(target=cache.authenticate, args=(issued.secret,))
    first.start()
    assert keys.looked_up.wait(5)
    before = cache._generation
    revoke(database_url, issued.key.id)
    _wait_for(lambda: cache.listener.drain() and cache._generation > before)
    keys.after_lookup.set()
    first.join(5)
    keys.after_lookup = None
    assert issued.key.id not in cache._entries
    assert cache.authenticate(issued.secret) is None


def test_without_its_listener_the_cache_is_not_used(cache, keys, database_url):
    issued = issue_key(database_url, "w1", Role.viewer, "unheard")
    assert cache.authenticate(issued.secret) is not None
    cache.listener.close()
    lookups = keys.lookups
    assert cache.authenticate(issued.secret) is not None
    assert keys.lookups == lookups + 1  # asked the database: the cache may have missed a change


def test_the_listener_reconnects_and_forgets_what_it_may_have_missed(cache, database_url):
    issued = issue_key(database_url, "w1", Role.viewer, "reconnected")
    assert cache.authenticate(issued.secret) is not None
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE query LIKE 'LISTEN%%' AND datname = current_database()"
        )
    _wait_for(lambda: not cache._entries)  # reconnected, and the cache was emptied
    revoke(database_url, issued.key.id)
    assert cache.authenticate(issued.secret) is None


def _wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
