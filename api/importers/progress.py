"""Import progress for the operator: a carriage-return bar on a terminal, log lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from infra.logging import get_logger

log = get_logger("api.importers")
BAR_WIDTH = 30
REDRAW_EVERY = 0.2  # seconds; a terminal cannot show faster changes anyway
LOG_EVERY = 5.0  # seconds between log lines when nobody watches a terminal


class Progress:
    """Dialogues done of ``total``, events per second and the time left."""

    def __init__(self, total: int, *, what: str = "dialogues", stream: TextIO | None = None):
        self.total = max(total, 1)
        self.what = what
        self.stream = stream or sys.stderr
        self.on_terminal = self.stream.isatty()
        self.started = time.monotonic()
        self.shown_at = self.started
        self.done = 0
        self.events = 0

    def advance(self, events: int) -> None:
        self.done += 1
        self.events += events
        now = time.monotonic()
        if now - self.shown_at >= (REDRAW_EVERY if self.on_terminal else LOG_EVERY):
            self.shown_at = now
            self.show()

    def finish(self) -> None:
        self.show()
        if self.on_terminal:
            self.stream.write("\n")
            self.stream.flush()

    def show(self) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.events / elapsed
        left = (self.total - self.done) * elapsed / self.done if self.done else 0.0
        if not self.on_terminal:
            log.info(
                "importing",
                done=self.done,
                total=self.total,
                events_per_s=round(rate),
                eta_s=round(left),
            )
            return
        self.stream.write(
            f"\r{bar(self.done, self.total)} {self.done:,}/{self.total:,} {self.what}"
            f"  {rate:,.0f} events/s  "
            f"ETA {clock(left)} "
        )
        self.stream.flush()


def bar(done: int, total: int) -> str:
    """``[#####.....]``: ``done`` of ``total``, ``BAR_WIDTH`` characters wide."""
    filled = BAR_WIDTH * min(done, total) // max(total, 1)
    return "[" + "#" * filled + "." * (BAR_WIDTH - filled) + "]"


def clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}"
