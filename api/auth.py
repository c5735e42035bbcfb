"""API keys: issued per workspace with one role, stored hashed, checked on every request.

A key reads ``ledger_<id>_<secret>``. The id is public (it names the key in listings and is
the actor id on every event the key records); the secret is 32 random bytes. Because the
secret is high-entropy, one SHA-256 of it is enough (a slow password hash buys nothing
against brute force that is already impossible), compared in constant time.

Roles. ``viewer`` < ``reviewer`` < ``admin`` is a hierarchy; ``ingest`` is its own branch:
an agent runtime's key writes conversations but cannot read them back, so a leaked runtime
key does not expose the workspace's transcripts. ``admin`` includes ``ingest`` too: the
workspace's owner may do anything in it (and the demo key must run the README end to end).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from psycopg_pool import ConnectionPool

from api.commands import Caller
from domain.envelope import Actor, ActorKind
from domain.errors import DomainError
from domain.events import CommentAdded, EventPayload, Override, catalog
from domain.session import HANDOVER_PERMISSION
from infra.notifications import Listener

KEY_PREFIX = "ledger_"
KEY_ID_BYTES = 8
KEY_SECRET_BYTES = 32
# infra/sql/auth.sql's trigger notifies this channel of every change to a key (its id).
KEYS_CHANNEL = "ledger_api_keys"
# A cached key is checked again after this long even if no change was announced: the bound
# on a revocation's delay should the listener's connection die without the process noticing.
KEY_CACHE_SECONDS = 30.0
REVOCATION_GRACE_SECONDS = 0.25
# Recording reviewers' judgements (assessments, flags, tags, comments) on a session.
REVIEW_PERMISSION = "review"


class Role(StrEnum):
    ingest = "ingest"
    viewer = "viewer"
    reviewer = "reviewer"
    admin = "admin"


ROLE_INCLUDES: dict[Role, frozenset[Role]] = {
    Role.ingest: frozenset({Role.ingest}),
    Role.viewer: frozenset({Role.viewer}),
    Role.reviewer: frozenset({Role.reviewer, Role.viewer}),
    Role.admin: frozenset(Role),
}
# The agent runtime hands a conversation over when the customer asks for a human, so ingest
# keys carry the handover permission as reviewers do; only reviewers record judgements.
ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.ingest: frozenset({HANDOVER_PERMISSION}),
    Role.viewer: frozenset(),
    Role.reviewer: frozenset({HANDOVER_PERMISSION, REVIEW_PERMISSION}),
    Role.admin: frozenset({HANDOVER_PERMISSION, REVIEW_PERMISSION}),
}


class Unauthenticated(DomainError):
    code = "unauthenticated"
    http_status = 401
    headers = {"WWW-Authenticate": 'Bearer realm="ledger"'}


class RoleNotGranted(DomainError):
    code = "forbidden"
    http_status = 403


# Reviewers' judgements on a session: the overrides, and comments. Everything else an agent
# runtime or a channel may report through the ingest route: the conversation, its signals
# (reactions, deliveries, sentiment, analysis) and its handover, assignment, resolution, close.
REVIEWER_JUDGEMENTS: frozenset[type[EventPayload]] = frozenset(
    {payload for payload in catalog().values() if issubclass(payload, Override)} | {CommentAdded}
)


def check_may_record(caller: Caller, payloads: Sequence[EventPayload]) -> None:
    """Refuse (403) a reviewer's judgement from a caller without the review permission."""
    if REVIEW_PERMISSION in caller.permissions:
        return
    for index, payload in enumerate(payloads):
        if type(payload) in REVIEWER_JUDGEMENTS:
            raise RoleNotGranted(
                f"{payload.event_type} is a reviewer's judgement: it needs a reviewer key",
                field=f"events.{index}.type",
            )


class UnknownKey(DomainError):
    code = "not_found"
    http_status = 404


@dataclass(frozen=True)
class ApiKey:
    id: str
    workspace_id: str
    role: Role
    name: str
    created_at: datetime
    revoked_at: datetime | None

    def grants(self, role: Role) -> bool:
        return role in ROLE_INCLUDES[self.role]

    def caller(self) -> Caller:
        """Who this key acts as: events it records name the key, never a body's claim."""
        return _caller(self)


@functools.lru_cache(maxsize=1024)
def _caller(key: ApiKey) -> Caller:
    # Built once per key rather than per request: both are frozen, so requests can share it.
    return Caller(
        workspace_id=key.workspace_id,
        actor=Actor(kind=ActorKind.api_key, id=key.id, name=key.name),
        permissions=ROLE_PERMISSIONS[key.role],
    )


@dataclass(frozen=True)
class StoredKey:
    """An active key as stored: the key and the hash its secret must match."""

    key: ApiKey
    secret_hash: bytes

    def accepts(self, secret: str) -> bool:
        return hmac.compare_digest(self.secret_hash, _hash(secret))


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str  # the whole key string; shown once, never stored


KEY_COLUMNS = "id, workspace_id, role, name, created_at, revoked_at"


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _split(presented: str) -> tuple[str, str] | None:
    if not presented.startswith(KEY_PREFIX):
        return None
    key_id, _, secret = presented.removeprefix(KEY_PREFIX).partition("_")
    return (key_id, secret) if key_id and secret else None


class ApiKeys:
    """The api_keys table (infra/sql/auth.sql)."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def create(self, workspace_id: str, role: Role, name: str) -> IssuedKey:
        key_id = secrets.token_hex(KEY_ID_BYTES)
        secret = secrets.token_urlsafe(KEY_SECRET_BYTES)
        row = self._fetch(
            "INSERT INTO api_keys (id, workspace_id, role, name, secret_hash)"
            f" VALUES (%s, %s, %s, %s, %s) RETURNING {KEY_COLUMNS}",
            (key_id, workspace_id, Role(role).value, name, _hash(secret)),
        )
        return IssuedKey(row[0], f"{KEY_PREFIX}{key_id}_{secret}")

    def issued(self, workspace_id: str | None = None) -> list[ApiKey]:
        """Every key (revoked ones too), of one workspace or of all."""
        return self._fetch(
            f"SELECT {KEY_COLUMNS} FROM api_keys"
            " WHERE %(ws)s::text IS NULL OR workspace_id = %(ws)s"
            " ORDER BY workspace_id, created_at",
            {"ws": workspace_id},
        )

    def revoke(self, key_id: str) -> ApiKey:
        rows = self._fetch(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s"
            f" RETURNING {KEY_COLUMNS}",
            (key_id,),
        )
        if not rows:
            raise UnknownKey(f"no API key {key_id!r}", field="id")
        # The commit notified every API process (KEYS_CHANNEL); PostgreSQL delivers it to them
        # just after, typically within a millisecond. Returning only after a grace period
        # makes "revoked" mean refused by the next request anyone sends.
        time.sleep(REVOCATION_GRACE_SECONDS)
        return rows[0]

    def any_issued(self, workspace_id: str) -> bool:
        """Whether the workspace ever had a key (revoked ones count: revoking every key must
        not make ``ledger up`` hand out a fresh admin key)."""
        with self.pool.connection() as conn:
            found = conn.execute(
                "SELECT 1 FROM api_keys WHERE workspace_id = %s LIMIT 1", (workspace_id,)
            ).fetchone()
        return found is not None

    def authenticate(self, presented: str) -> ApiKey | None:
        """The active key ``presented`` is, or None (unknown, malformed, wrong, revoked)."""
        return _authenticate(presented, self.active)

    def active(self, key_id: str) -> StoredKey | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {KEY_COLUMNS}, secret_hash FROM api_keys"
                " WHERE id = %s AND revoked_at IS NULL",
                (key_id,),
            ).fetchone()
        return None if row is None else StoredKey(_api_key(*row[:-1]), bytes(row[-1]))

    def _fetch(self, query: str, params: tuple | dict) -> list[ApiKey]:
        with self.pool.connection() as conn:
            return [_api_key(*row) for row in conn.execute(query, params).fetchall()]


class CachedKeys:
    """``ApiKeys.authenticate`` without a database round trip for a recently verified key.

    Revoking a key takes effect on the next request: the revoking transaction notifies
    ``KEYS_CHANNEL`` as it commits, and before each lookup the listener drains whatever
    notifications reached this process. While the listener is not connected the cache is
    not used at all. Only active keys are cached; an unknown or wrong key always asks the
    database, exactly as without the cache.
    """

    def __init__(self, keys: ApiKeys, database_url: str, *, ttl: float = KEY_CACHE_SECONDS):
        self.keys = keys
        self.ttl = ttl
        self._entries: dict[str, tuple[StoredKey, float]] = {}
        # Bumped by every announced change: a key read before a change must not be cached.
        self._generation = 0
        self._lock = threading.Lock()
        self.listener = Listener(database_url, KEYS_CHANNEL, self._changed).start()

    def authenticate(self, presented: str) -> ApiKey | None:
        return _authenticate(presented, self.active)

    def cached(self, presented: str) -> ApiKey | None:
        """The key if it is cached and ``presented`` matches it, with no I/O (an async
        caller can use it on the event loop); None: ask ``authenticate``."""
        return _authenticate(presented, self._cached)

    def active(self, key_id: str) -> StoredKey | None:
        with self._lock:
            generation = self._generation
        found = self._cached(key_id)
        if found is None:
            found = self.keys.active(key_id)
            if found is not None:
                self._keep(found, generation)
        return found

    def _cached(self, key_id: str) -> StoredKey | None:
        if not self.listener.drain():
            return None  # not listening: a revocation could go unseen
        with self._lock:
            entry = self._entries.get(key_id)
        return entry[0] if entry is not None and entry[1] > time.monotonic() else None

    def close(self) -> None:
        self.listener.close()

    def _keep(self, stored: StoredKey, generation: int) -> None:
        with self._lock:
            if generation == self._generation:
                self._entries[stored.key.id] = (stored, time.monotonic() + self.ttl)

    def _changed(self, key_id: str) -> None:
        """A key changed (revoked, deleted); an empty id: any key may have changed."""
        with self._lock:
            self._generation += 1
            if key_id:
                self._entries.pop(key_id, None)
            else:
                self._entries.clear()


def _authenticate(presented: str, active: Callable[[str], StoredKey | None]) -> ApiKey | None:
    parts = _split(presented)
    if parts is None:
        return None
    key_id, secret = parts
    stored = active(key_id)
    return stored.key if stored is not None and stored.accepts(secret) else None


def _api_key(key_id, workspace_id, role, name, created_at, revoked_at) -> ApiKey:
    return ApiKey(key_id, workspace_id, Role(role), name, created_at, revoked_at)
