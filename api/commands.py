"""The command side's service: load a session, let the aggregate decide, append what it decided.

The HTTP API, the CLI and the importers all record events through ``SessionCommands``, so
every path obeys the same rules, idempotency and concurrency control.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID, uuid4, uuid5

from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from domain.envelope import GENESIS_HASH, Actor, Envelope
from domain.errors import (
    DomainError,
    EventIdReused,
    PreviousValueMismatch,
    StreamNotFound,
    VersionConflict,
    WrongStream,
    as_json,
)
from domain.events import (
    EventPayload,
    MissedQuestionStatusChanged,
    SessionStarted,
    decode_payload,
)
from domain.session import STREAM_TYPE as SESSION_STREAM
from domain.session import EventContext, Session, seal_next
from domain.values import utc
from infra.event_store import EventIdTaken, EventStore, StreamVersionTaken


class Caller(BaseModel):
    """Who is asking, established by the front door (never taken from a request body)."""

    model_config = ConfigDict(frozen=True)

    workspace_id: str
    actor: Actor
    permissions: frozenset[str] = frozenset()
    correlation_id: UUID | None = None
    causation_id: UUID | None = None


@dataclass(frozen=True)
class NewEvent:
    payload: EventPayload
    event_id: UUID | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class AppendRequest:
    """One ``SessionCommands.append`` call, as each of its tries needs it."""

    session_id: UUID
    items: Sequence[NewEvent]
    caller: Caller
    expected_version: int | None = None


@dataclass(frozen=True)
class _Decision:
    """What the aggregate decided on an optimistic append, before its commit."""

    request: AppendRequest
    session: Session
    pending: list[Envelope]


@dataclass(frozen=True)
class AppendResult:
    stream_id: UUID
    events: list[Envelope]
    duplicate: bool = False
    version: int = field(init=False)
    position: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "version", max(e.version for e in self.events))
        object.__setattr__(self, "position", max(e.position or 0 for e in self.events))


class AppendContention(DomainError):
    """Other writers kept winning the race for the stream's next version."""

    code = "append_contention"
    http_status = 503


class DuplicateEventIdInRequest(DomainError):
    code = "duplicate_event_id"
    http_status = 422

    def __init__(self, message: str) -> None:
        super().__init__(message, field="events")


def utcnow() -> datetime:
    return datetime.now(UTC)


class AggregateCache:
    """Recently used sessions, kept in memory so an append need not re-fold the history.

    A cached session is what this process last committed, so it may lag what other processes
    stored since: an append decides on it as it is and lets the commit tell (the next
    version is taken), then catches up and decides again (``SessionCommands``). Any failure
    evicts it, so a half-applied aggregate is never reused. Striped locks serialise the
    appends to one session within this process, so a cached object is never used by two at
    once.

    Bounded twice, least recently used first out: by sessions, and by the events folded into
    them, because a session's state grows with its transcript (~1.3 KB an event measured):
    512 long sessions of the batched benchmark held ~150,000 events and took the API from 80
    to 273 MB, where ``max_events`` keeps it near 65 MB above its start.
    """

    def __init__(
        self, capacity: int = 512, *, max_events: int = 50_000, stripes: int = 256
    ) -> None:
        self.capacity = capacity
        self.max_events = max_events
        self.events = 0  # folded into the sessions held
        self._sessions: OrderedDict[UUID, tuple[Session, int]] = OrderedDict()
        self._guard = threading.Lock()
        self._stripes = [threading.Lock() for _ in range(stripes)]

    def lock(self, session_id: UUID) -> threading.Lock:
        return self._stripes[hash(session_id) % len(self._stripes)]

    def take(self, session_id: UUID) -> Session | None:
        with self._guard:
            entry = self._sessions.pop(session_id, None)
            if entry is None:
                return None
            self.events -= entry[1]
            return entry[0]

    def keep(self, session: Session) -> None:
        with self._guard:
            previous = self._sessions.pop(session.id, None)
            if previous is not None:
                self.events -= previous[1]
            self._sessions[session.id] = (session, session.version)
            self.events += session.version
            while len(self._sessions) > self.capacity or (
                self.events > self.max_events and len(self._sessions) > 1
            ):
                self.events -= self._sessions.popitem(last=False)[1][1]

    def __len__(self) -> int:
        return len(self._sessions)


# Requests up to this many events are decided on the API's event loop. Larger ones go to the
# thread pool, where the hand-over is small beside their deciding (~50 µs an event) and where
# several are decided side by side and meet in one group commit: deciding 50-event requests
# in the loop, one after another, took the batched benchmark from ~8,350 to ~7,400 events/s.
IN_LOOP_MAX_EVENTS = 8


class SessionCommands:
    def __init__(
        self,
        store: EventStore,
        *,
        clock: Callable[[], datetime] = utcnow,
        max_retries: int = 5,
        cache: AggregateCache | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.max_retries = max_retries
        self.cache = cache if cache is not None else AggregateCache()

    def start(self, session_id: UUID, item: NewEvent, caller: Caller) -> AppendResult:
        return self.append(session_id, [_starting(item)], caller)

    async def start_in_loop(self, session_id: UUID, item: NewEvent, caller: Caller) -> AppendResult:
        return await self.append_in_loop(session_id, [_starting(item)], caller)

    def append(
        self,
        session_id: UUID,
        items: Sequence[NewEvent],
        caller: Caller,
        *,
        expected_version: int | None = None,
    ) -> AppendResult:
        """Record events on one session, all or none.

        Events whose id is already stored are not stored again (a retry); without an
        ``expected_version`` a lost race is retried against the new state, with one it is
        a ``VersionConflict``.
        """
        _check_unique_ids(items)
        return self._locked_append(AppendRequest(session_id, items, caller, expected_version))

    async def append_in_loop(
        self,
        session_id: UUID,
        items: Sequence[NewEvent],
        caller: Caller,
        *,
        expected_version: int | None = None,
    ) -> AppendResult:
        """``append`` for a caller on an event loop (the API), holding no thread while it can.

        The common case (the session cached or just starting, no other append to it under
        way here) is decided in the loop and its commit awaited: a request on a thread of the
        pool paid a hand-over there and back for what is ~0.1 ms of deciding. Whatever needs
        a read, or waits for another append to the same session, runs ``append`` in the
        thread pool, the same code with the same outcome; so do requests of many events,
        whose deciding would hold up the loop (see ``IN_LOOP_MAX_EVENTS``).
        """
        _check_unique_ids(items)
        request = AppendRequest(session_id, items, caller, expected_version)
        lock = self.cache.lock(session_id)
        in_loop = len(items) <= IN_LOOP_MAX_EVENTS and self.store.commits_in_groups
        if not (in_loop and lock.acquire(blocking=False)):
            return await run_in_threadpool(self._locked_append, request)
        try:
            decision = self._decide_optimistically(request)
            result = None if decision is None else await self._commit_in_loop(decision)
        finally:
            lock.release()
        if result is not None:
            return result
        return await run_in_threadpool(self._locked_append, request, optimistic=False)

    def _locked_append(self, request: AppendRequest, *, optimistic: bool = True) -> AppendResult:
        with self.cache.lock(request.session_id):
            result = self._optimistic(request) if optimistic else None
            if result is not None:
                return result
            for _attempt in range(self.max_retries):
                result = self._attempt(request)
                if result is not None:
                    return result
        raise AppendContention(f"session {request.session_id}: too many concurrent writers, retry")

    def _optimistic(self, request: AppendRequest) -> AppendResult | None:
        """Decide on the cached aggregate (or, for a start, on an empty one) and commit, with
        no read first: the commit is the only round trip.

        The commit's constraints stand in for the reads ``_attempt`` makes: the next version
        is taken when another process appended since (the cache was stale, or the session
        exists), an event id is taken when the request is a retry. On either, or on a refusal
        (it may come from a stale state), this returns None and ``_attempt`` decides again on
        what is stored, so neither a stale aggregate nor a retry ever reaches the ledger or the
        caller.
        """
        decision = self._decide_optimistically(request)
        if decision is None:
            return None
        try:
            positions = self.store.append(decision.pending)
        except (StreamVersionTaken, EventIdTaken):
            return None  # the half-applied aggregate is dropped: _attempt replays the stream
        return self._kept(decision, positions)

    async def _commit_in_loop(self, decision: _Decision) -> AppendResult | None:
        """``_optimistic``'s commit, awaited."""
        try:
            positions = await asyncio.wrap_future(self.store.append_later(decision.pending))
        except (StreamVersionTaken, EventIdTaken):
            return None
        return self._kept(decision, positions)

    def _decide_optimistically(self, request: AppendRequest) -> _Decision | None:
        session = self._cached_or_new(request)
        if session is None:
            return None
        try:
            return _Decision(request, session, self._record(session, request.items, request.caller))
        except DomainError:
            return None  # perhaps decided on a stale state: _attempt decides on the stored one

    def _kept(self, decision: _Decision, positions: list[int]) -> AppendResult:
        self.cache.keep(decision.session)
        request = decision.request
        return _recorded(request.session_id, request.items, {}, decision.pending, positions)

    def _cached_or_new(self, request: AppendRequest) -> Session | None:
        """The aggregate to decide on without reading, or None when only a read can tell:
        nothing cached and no start, or a cache behind the version the caller expects (a
        conflict must not be reported from a stale cache)."""
        expected = request.expected_version
        cached = self.cache.take(request.session_id)
        if cached is None:
            start = isinstance(request.items[0].payload, SessionStarted)
            new = start and expected in (None, 0)
            return Session(request.session_id) if new else None  # new: the commit says if not
        if cached.state.workspace_id == request.caller.workspace_id and expected in (
            None,
            cached.version,
        ):
            return cached
        self.cache.keep(cached)  # still a good start for _attempt's catch-up
        return None

    def _attempt(self, request: AppendRequest) -> AppendResult | None:
        """One try: the result, or None when another writer won the race (try again)."""
        session_id, items, expected = request.session_id, request.items, request.expected_version
        stored = self._already_stored(session_id, items, request.caller)
        fresh = [item for item in items if item.event_id not in stored]
        if not fresh:
            return AppendResult(session_id, [stored[i.event_id] for i in items], True)
        session = self._current(session_id, first=fresh[0], caller=request.caller)
        try:
            _check_expected(session, expected)
            pending = self._record(session, fresh, request.caller)
            positions = self.store.append(pending)
        except StreamVersionTaken:
            if expected is not None:
                raise VersionConflict(
                    f"session {session_id} changed while appending (expected version {expected})",
                    expected=expected,
                    actual=-1,
                ) from None
            return None
        except EventIdTaken:
            return None
        except DomainError:
            if _stored_any(self.store, fresh):
                return None  # the next try answers it as the duplicate it is
            raise
        self.cache.keep(session)
        return _recorded(session_id, items, stored, pending, positions)

    def _record(
        self, session: Session, items: Sequence[NewEvent], caller: Caller
    ) -> list[Envelope]:
        """Let the aggregate decide on each item; the sealed envelopes to store."""
        context = EventContext(**caller.model_dump(), recorded_at=self.clock())
        for item in items:
            session.record(
                item.payload, context, event_id=item.event_id, occurred_at=item.occurred_at
            )
        return session.collect_events()

    def load(self, session_id: UUID, *, to_version: int | None = None) -> Session:
        return Session.replay(session_id, session_history(self.store, session_id, to_version))

    def _current(self, session_id: UUID, *, first: NewEvent, caller: Caller) -> Session:
        """The session as stored now: the cached aggregate caught up, or a full replay.

        It is taken out of the cache; only a successful append puts it back, so whatever
        fails on the way leaves no half-applied aggregate behind.
        """
        session = self.cache.take(session_id) or Session(session_id)
        events = self.store.read_stream(session_id, after_version=session.version)
        if session.version == 0 and events and not _is_session(events[0]):
            # Only a replay from the start can meet another kind of stream: a cached
            # aggregate was folded from a session's events.
            raise StreamNotFound(f"session {session_id} not found")
        for event in events:
            session.apply(event)
        if session.version == 0 and not isinstance(first.payload, SessionStarted):
            raise StreamNotFound(f"session {session_id} not found")
        if session.version and session.state.workspace_id != caller.workspace_id:
            # Another workspace's session is indistinguishable from a missing one.
            raise StreamNotFound(f"session {session_id} not found")
        return session

    def _already_stored(
        self, session_id: UUID, items: Sequence[NewEvent], caller: Caller
    ) -> dict[UUID, Envelope]:
        supplied = [item for item in items if item.event_id is not None]
        if not supplied:
            return {}
        stored = self.store.find_events([item.event_id for item in supplied])
        for item in supplied:
            if item.event_id in stored:
                _check_same_event(session_id, item, stored[item.event_id], caller)
        return stored


def session_history(
    store: EventStore, session_id: UUID, to_version: int | None = None
) -> list[Envelope]:
    """The session's stored events (up to ``to_version``). StreamNotFound when there are
    none, or when they are another kind of stream's (a missed-question group's, a
    workspace's rules), whose events the session aggregate cannot fold."""
    history = store.read_stream(session_id, to_version=to_version)
    if not history or not _is_session(history[0]):
        raise StreamNotFound(f"session {session_id} not found")
    return history


def _is_session(first: Envelope) -> bool:
    """Whether the stream whose first event this is is a session (every event of a stream
    carries its type)."""
    return first.stream_type == SESSION_STREAM


def _starting(item: NewEvent) -> NewEvent:
    if not isinstance(item.payload, SessionStarted):
        raise TypeError("a session starts with a SessionStarted payload")
    return item


def _recorded(
    session_id: UUID,
    items: Sequence[NewEvent],
    stored: dict[UUID, Envelope],
    pending: list[Envelope],
    positions: list[int],
) -> AppendResult:
    """The result in the request's order: stored events as they were, new ones positioned."""
    recorded = iter(e.placed_at(p) for e, p in zip(pending, positions, strict=True))
    return AppendResult(
        session_id, [stored[i.event_id] if i.event_id in stored else next(recorded) for i in items]
    )


def _check_workspace(stream_id: UUID, events: Iterable[Envelope], caller: Caller) -> None:
    if any(e.workspace_id != caller.workspace_id for e in events):
        raise StreamNotFound(f"stream {stream_id} not found")


Decide = Callable[[list[Envelope], EventPayload], EventPayload]


class StreamCommands:
    """Appends to streams that have no aggregate of their own (the ``missed_question`` stream):
    one event at a time, after ``decide`` saw the stream's history and returned the payload as
    it is to be recorded. A stream belongs to the workspace of its first event.
    """

    def __init__(
        self, store: EventStore, *, clock: Callable[[], datetime] = utcnow, max_retries: int = 5
    ) -> None:
        self.store = store
        self.clock = clock
        self.max_retries = max_retries

    def append(
        self,
        stream_id: UUID,
        item: NewEvent,
        caller: Caller,
        decide: Decide,
        *,
        expected_version: int | None = None,
    ) -> AppendResult:
        for _attempt in range(self.max_retries):
            if item.event_id is not None and (stored := self.store.find_events([item.event_id])):
                _check_same_event(stream_id, item, stored[item.event_id], caller)
                return AppendResult(stream_id, [stored[item.event_id]], True)
            history = self.store.read_stream(stream_id)
            _check_workspace(stream_id, history[:1], caller)
            try:
                _check_stream_version(stream_id, len(history), expected_version)
                decided = decide(history, item.payload)
            except DomainError:
                if _stored_any(self.store, [item]):
                    continue  # stored since it was looked up: see SessionCommands._stored_since
                raise
            envelope = self._seal(stream_id, history, decided, item, caller)
            try:
                (position,) = self.store.append([envelope])
            except StreamVersionTaken:
                # Lost a race: a conflict when the caller pinned the version, else try again.
                _check_stream_version(stream_id, -1, expected_version)
                continue
            except EventIdTaken:
                continue
            return AppendResult(stream_id, [envelope.placed_at(position)])
        raise AppendContention(f"stream {stream_id}: too many concurrent writers, retry")

    def _seal(
        self,
        stream_id: UUID,
        history: list[Envelope],
        payload: EventPayload,
        item: NewEvent,
        caller: Caller,
    ) -> Envelope:
        version, prev_hash = (
            (history[-1].version, history[-1].hash) if history else (0, GENESIS_HASH)
        )
        context = EventContext(**caller.model_dump(), recorded_at=self.clock())
        return seal_next(
            stream_id,
            version,
            prev_hash,
            payload,
            context,
            event_id=item.event_id or uuid4(),
            occurred_at=item.occurred_at,
        )


def decide_missed_question_status(
    history: list[Envelope], payload: EventPayload
) -> MissedQuestionStatusChanged:
    """Fill in or check ``previous`` as the session's overrides do: two reviewers changing
    the same group's status cannot silently overwrite each other."""
    if not isinstance(payload, MissedQuestionStatusChanged):
        raise WrongStream(f"{payload.event_type} is not an event of a missed_question stream")
    last = history[-1] if history else None
    current = decode_payload(last.type, last.schema_version, last.payload).status if last else None
    if "previous" not in payload.model_fields_set:
        return payload.model_copy(update={"previous": current})
    if payload.previous != current:
        raise PreviousValueMismatch(
            f"the group's status is {as_json(current)}, not {as_json(payload.previous)}",
            expected=payload.previous,
            actual=current,
        )
    return payload


def _check_stream_version(stream_id: UUID, actual: int, expected: int | None) -> None:
    if expected is not None and actual != expected:
        raise VersionConflict(
            f"stream {stream_id} is not at the expected version {expected}",
            expected=expected,
            actual=actual,
        )


def _check_unique_ids(items: Sequence[NewEvent]) -> None:
    supplied = [item.event_id for item in items if item.event_id is not None]
    if len(supplied) != len(set(supplied)):
        raise DuplicateEventIdInRequest("the same event id appears twice in one request")


def _check_expected(session: Session, expected_version: int | None) -> None:
    if expected_version is not None and session.version != expected_version:
        raise VersionConflict(
            f"session {session.id} is at version {session.version}, "
            f"not the expected {expected_version}",
            expected=expected_version,
            actual=session.version,
        )


# Payload fields the deciding fills in when the caller leaves them out: an override's (or a
# group status's) ``previous`` is then the value it replaced, read from the state
# (``domain.session.decide``, ``decide_missed_question_status``). A retry that omits it
# again resends the same event, whatever was filled in the first time.
COMPLETED_WHEN_OMITTED = frozenset({"previous"})


def _check_same_event(stream_id: UUID, item: NewEvent, stored: Envelope, caller: Caller) -> None:
    """A retry must resend the same event, to a stream of the caller's and of its kind.

    Every payload field is compared, sent or left to its default (a retry without the
    original's ``author`` is another message), except those the deciding completed; so is
    ``occurred_at`` when the retry gives one (without, the server stamped the original)."""
    if stored.stream_id == stream_id and (
        stored.workspace_id != caller.workspace_id or stored.stream_type != item.payload.stream_type
    ):
        # Another workspace's stream is indistinguishable from a missing one.
        raise StreamNotFound(f"{item.payload.stream_type} {stream_id} not found")
    completed = COMPLETED_WHEN_OMITTED - item.payload.model_fields_set
    same = (
        stored.stream_id == stream_id
        and stored.type == item.payload.event_type
        and (item.occurred_at is None or utc(item.occurred_at) == stored.occurred_at)
        and decode_payload(stored.type, stored.schema_version, stored.payload).model_dump(
            exclude=completed
        )
        == item.payload.model_dump(exclude=completed)
    )
    if not same:
        raise EventIdReused(
            f"event id {item.event_id} is already stored for a different event", field="event_id"
        )


# Session ids of starts that name their event but not their session (see ``new_session_id``).
STARTED_BY_EVENT_NAMESPACE = UUID("9a3f4c2e-5b7d-4e1a-8c6f-0d2b7e9a1c54")


def _stored_any(store: EventStore, items: Sequence[NewEvent]) -> bool:
    """Whether an event id of ``items`` is stored now, though it was not when the request
    was first looked up: a copy of the request (a retry sent to another API process)
    committed in between, and the stream, read after it, refuses the copy's events as
    already there (a message id already recorded) or at another version. That refusal is
    not the answer: trying again finds the events stored and answers with them."""
    supplied = [item.event_id for item in items if item.event_id is not None]
    return bool(supplied) and bool(store.find_events(supplied))


def new_session_id(workspace_id: str, event_id: UUID | None = None) -> UUID:
    """The id of a session started without one: random, unless the start names its event.
    Then it is derived from the workspace and the event id, so that a retry of the start
    (whose first answer was lost) reaches the same session and is answered as a duplicate,
    with the session's id, instead of starting a second session that the event id refuses."""
    if event_id is None:
        return uuid4()
    return uuid5(STARTED_BY_EVENT_NAMESPACE, f"{workspace_id}\x1f{event_id}")
