"""Load through the HTTP API, as agent runtimes send it: client threads that post the
workload's conversations (the start, then the events in requests), optionally paced to a
rate, keeping every acknowledgement. The benchmarks measure with it; the fault drills run it
as their steady ingest and check afterwards that every acknowledged event survived.

A request that fails for a reason that may pass (503, a dropped connection, a timeout) is
sent again, unchanged: every event carries its id, so a retry is stored once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bench.http_client import KeepAliveClient, TransportError
from bench.workload import Conversation, Workload, batches

RETRYABLE_STATUSES = frozenset({502, 503, 504})
RETRY_PAUSE = 0.2  # seconds; the API's Retry-After (2 s) is longer than a drill needs


@dataclass(frozen=True)
class Ack:
    """One acknowledged request: its events are durable from ``at`` on."""

    session_id: str
    event_ids: tuple[str, ...]
    version: int
    position: int
    at: float


@dataclass
class LoadStats:
    acks: list[Ack] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    transport_errors: int = 0
    gave_up: int = 0
    missing_retry_after: int = 0  # a 503 must say when to come back
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, ack: Ack) -> None:
        with self._lock:
            self.acks.append(ack)

    @property
    def events_acknowledged(self) -> int:
        return sum(len(a.event_ids) for a in self.acks)

    def acknowledged_ids(self) -> set[str]:
        return {event_id for ack in self.acks for event_id in ack.event_ids}


@dataclass
class Plan:
    """What the clients send: ``chunk`` events per request (None: one turn per request),
    ``rate`` events/s over all clients (None: as fast as they can)."""

    clients: int
    chunk: int | None = None
    rate: float | None = None
    retry_for: float = 0.0  # seconds to keep retrying a failing request (drills); 0: never


class Ingest:
    """Client threads posting conversations until stopped (or the workload runs out)."""

    def __init__(
        self,
        api_url: str,
        key: str,
        conversations: Iterator[Conversation],
        plan: Plan,
        *,
        on_ack: Callable[[Ack], None] | None = None,
    ) -> None:
        self.api_url = api_url
        self.headers = {"Authorization": f"Bearer {key}"}
        self.conversations = conversations
        self.plan = plan
        self.on_ack = on_ack
        self.stats = LoadStats()
        self.stop_event = threading.Event()
        self._source_lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._client, name=f"ingest-{n}", daemon=True)
            for n in range(plan.clients)
        ]

    def start(self) -> Ingest:
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 60.0) -> LoadStats:
        self.stop_event.set()
        for thread in self._threads:
            thread.join(timeout)
        return self.stats

    def run_for(self, seconds: float) -> tuple[LoadStats, float]:
        """Start, run ``seconds``, stop; returns the stats and the measured seconds."""
        self.start()
        self.stop_event.wait(seconds)
        elapsed = time.monotonic() - self.started
        return self.stop(), elapsed

    # --- one client -----------------------------------------------------------------------

    def _next(self) -> Conversation | None:
        with self._source_lock:
            return next(self.conversations, None)

    def _client(self) -> None:
        # Each client paces itself to its share of the rate, from when it started.
        share = self.plan.rate / self.plan.clients if self.plan.rate else None
        due = time.monotonic()
        with KeepAliveClient(self.api_url, self.headers, timeout=30) as http:
            while not self.stop_event.is_set():
                conversation = self._next()
                if conversation is None:
                    return
                for path, body, count in self._requests(conversation):
                    if self.stop_event.is_set() or not self._send(http, path, body):
                        break  # a refused request ends this conversation
                    if share:
                        due += count / share
                        self.stop_event.wait(max(0.0, due - time.monotonic()))

    def _requests(self, conversation: Conversation) -> Iterator[tuple[str, dict, int]]:
        yield "/v1/sessions", conversation.start, 1
        path = f"/v1/sessions/{conversation.session_id}/events"
        chunks = (
            batches(conversation.events, self.plan.chunk)
            if self.plan.chunk
            else iter(conversation.turns)
        )
        for chunk in chunks:
            yield path, {"events": chunk}, len(chunk)

    def _send(self, http: KeepAliveClient, path: str, body: dict[str, Any]) -> bool:
        deadline = time.monotonic() + self.plan.retry_for
        while True:
            try:
                response = http.post(path, body)
            except TransportError:
                self.stats.transport_errors += 1
                if time.monotonic() > deadline:
                    self.stats.gave_up += 1
                    return False
                time.sleep(RETRY_PAUSE)
                continue
            self.stats.statuses[response.status_code] += 1
            if response.status_code == 503 and "retry-after" not in response.headers:
                self.stats.missing_retry_after += 1
            if response.status_code in (200, 201):
                self._acknowledged(response.json())
                return True
            if response.status_code not in RETRYABLE_STATUSES or time.monotonic() > deadline:
                self.stats.gave_up += response.status_code in RETRYABLE_STATUSES
                return False
            time.sleep(RETRY_PAUSE)

    def _acknowledged(self, answer: dict[str, Any]) -> None:
        ack = Ack(
            session_id=answer["session_id"],
            event_ids=tuple(e["event_id"] for e in answer["events"]),
            version=answer["version"],
            position=answer["position"],
            at=time.monotonic(),
        )
        self.stats.record(ack)
        if self.on_ack:
            self.on_ack(ack)


def endless(seed: int, **options: Any) -> Iterator[Conversation]:
    return Workload(seed, **options).stream()
