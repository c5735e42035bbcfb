"""A PostgreSQL LISTEN connection whose notifications a cache can drain before each use.

A cache that must not outlive a change (a revoked API key) calls ``drain()`` before it trusts
an entry: under a lock, it handles every notification that has reached this process, so a
change whose notification arrived before the request is never missed, and it says whether
the listener is connected at all (when it is not, changes may go unseen: don't trust the
cache). A background thread drains too, so notifications don't pile up between requests, and
reconnects after a failure; on every (re)connect ``on_notify("")`` tells the cache to forget
everything, since changes made while no one listened were not announced to it.
"""

from __future__ import annotations

import contextlib
import select
import threading
from collections.abc import Callable

import psycopg
from psycopg import sql

from infra.logging import get_logger

log = get_logger("infra.notifications")
WAKE_SECONDS = 1.0  # how soon the background thread notices close() or a dead connection
RETRY_SECONDS = 1.0


class Listener:
    def __init__(self, url: str, channel: str, on_notify: Callable[[str], None]) -> None:
        self.url = url
        self.channel = channel
        self.on_notify = on_notify
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"listen-{channel}", daemon=True)

    def start(self) -> Listener:
        self._connect()
        self._thread.start()
        return self

    def drain(self) -> bool:
        """Handle every notification received so far; False when not listening."""
        with self._lock:
            if self._conn is None:
                return False
            try:
                if _readable(self._conn.fileno(), 0):
                    self._conn.pgconn.consume_input()
                    while (notify := self._conn.pgconn.notifies()) is not None:
                        self.on_notify(notify.extra.decode())
            except (psycopg.Error, OSError) as error:
                log.warning("listener connection lost", channel=self.channel, error=str(error))
                self._disconnect()
                return False
            return True

    def close(self) -> None:
        self._stopped.set()
        self._thread.join(WAKE_SECONDS * 2)
        with self._lock:
            self._disconnect()

    def _run(self) -> None:
        while not self._stopped.is_set():
            with self._lock:
                conn = self._conn
            if conn is None:
                if not self._connect():
                    self._stopped.wait(RETRY_SECONDS)
                continue
            with contextlib.suppress(psycopg.Error, OSError):  # closed under us: drain() tells
                _readable(conn.fileno(), WAKE_SECONDS)
            self.drain()

    def _connect(self) -> bool:
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        except psycopg.Error as error:
            log.warning("cannot listen", channel=self.channel, error=str(error))
            return False
        with self._lock:
            self._conn = conn
            self.on_notify("")
        return True

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _readable(fd: int, timeout: float) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(timeout * 1000))


__all__ = ["Listener"]
