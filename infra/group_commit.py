"""Group commit: concurrent appends share one transaction instead of each paying a commit.

There is no waiting window: a single writer thread takes whatever has queued up while the
previous transaction was committing, so a lone caller pays no extra latency and many
concurrent callers share commits (and the append lock) automatically. Each caller
still gets its own positions or its own error: when a shared transaction fails on one
request's conflict, the requests are retried one by one to tell whose it was.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

MAX_GROUP_EVENTS = 2000


@dataclass
class _Request:
    rows: Sequence[Any]
    future: Future = field(default_factory=Future)


class GroupCommitter:
    def __init__(
        self,
        write: Callable[[Sequence[Any]], list[int]],
        *,
        conflicts: tuple[type[Exception], ...],
        max_events: int = MAX_GROUP_EVENTS,
    ) -> None:
        self._write = write
        self._conflicts = conflicts
        self._max_events = max_events
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def append(self, rows: Sequence[Any]) -> list[int]:
        """Blocks until the rows are committed; returns their positions, or raises."""
        return self.submit(rows).result()

    def submit(self, rows: Sequence[Any]) -> Future:
        """Queues the rows and returns at once: the future of their positions (or error), for
        a caller that must not block its thread while the commit runs (an event loop)."""
        request = _Request(rows)
        self._ensure_running()
        self._queue.put(request)
        return request.future

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def _ensure_running(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group, stop = self._gather(first)
            # As an executor does: a request whose caller cancelled it (an awaiting request
            # handler cancelled) is not written; the rest can no longer be cancelled, so
            # setting their outcome never fails and strands the others of the group.
            group = [r for r in group if r.future.set_running_or_notify_cancel()]
            if group:
                self._commit(group)
            if stop:
                return

    def _gather(self, first: _Request) -> tuple[list[_Request], bool]:
        group, size = [first], len(first.rows)
        while size < self._max_events:
            try:
                request = self._queue.get_nowait()
            except queue.Empty:
                break
            if request is None:
                return group, True
            group.append(request)
            size += len(request.rows)
        return group, False

    def _commit(self, group: list[_Request]) -> None:
        try:
            positions = self._write([row for request in group for row in request.rows])
        except self._conflicts as error:
            if len(group) == 1:
                group[0].future.set_exception(error)
            else:
                for request in group:
                    self._commit([request])
            return
        except BaseException as error:  # the database is down: every caller hears of it
            for request in group:
                request.future.set_exception(error)
            return
        offset = 0
        for request in group:
            request.future.set_result(positions[offset : offset + len(request.rows)])
            offset += len(request.rows)
