"""Run an import: read the STAR file, map each dialogue, append it through ``SessionCommands``.

One append per dialogue (all its events in one transaction). A few threads append at once:
the aggregate's work and the database round trips of one dialogue overlap with the next's.
The last session is appended only after all others succeeded, so its presence says that an
import ran to the end (``api.importers.demo`` relies on that to resume an interrupted one).
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson

from api.commands import AppendResult, NewEvent, SessionCommands
from api.importers.progress import Progress
from api.importers.star import importer_caller, is_imported, map_dialogue, session_id

DEFAULT_WORKERS = 4
IN_FLIGHT_PER_WORKER = 4  # mapped dialogues waiting for a thread: bounds memory, keeps it busy


@dataclass
class ImportReport:
    dialogues: int = 0  # read from the file
    skipped: int = 0  # mapped to nothing (no message at all)
    sessions_added: int = 0
    sessions_present: int = 0  # already imported: their events were not stored again
    events_added: int = 0
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def events_per_second(self) -> float:
        return self.events_added / self.seconds if self.seconds else 0.0

    def count(self, result: AppendResult) -> None:
        if result.duplicate:
            self.sessions_present += 1
        else:
            self.sessions_added += 1
            self.events_added += len(result.events)

    def describe(self) -> str:
        text = (
            f"{self.dialogues:,} dialogues: {self.sessions_added:,} sessions added "
            f"({self.events_added:,} events), {self.sessions_present:,} already present, "
            f"{self.skipped:,} skipped (no message); {self.seconds:.1f} s, "
            f"{self.events_per_second:,.0f} events/s"
        )
        return text + (" — interrupted" if self.interrupted else "")


def read_dialogues(path: Path, limit: int | None = None) -> Iterator[dict[str, Any]]:
    with gzip.open(path, "rb") as lines:
        for number, line in enumerate(lines):
            if limit is not None and number >= limit:
                return
            yield orjson.loads(line)


def count_dialogues(path: Path, limit: int | None = None) -> int:
    with gzip.open(path, "rb") as lines:
        total = sum(1 for _ in lines)
    return total if limit is None else min(total, limit)


def first_session_id(path: Path, limit: int | None = None) -> UUID | None:
    """The session an import of this file appends first, or None if it imports nothing."""
    return next(
        (session_id(d["DialogueID"]) for d in read_dialogues(path, limit) if is_imported(d)), None
    )


def final_session_id(path: Path, limit: int | None = None) -> UUID | None:
    """The session an import of this file appends last, or None if it imports nothing."""
    last = None
    for dialogue in read_dialogues(path, limit):
        last = dialogue["DialogueID"] if is_imported(dialogue) else last
    return session_id(last) if last is not None else None


def import_star(
    commands: SessionCommands,
    path: Path,
    *,
    workspace: str,
    limit: int | None = None,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> ImportReport:
    caller = importer_caller(workspace)
    report = ImportReport()
    started = time.monotonic()
    progress = progress or Progress(count_dialogues(path, limit))
    held_back: tuple[UUID, list[NewEvent]] | None = None
    with ThreadPoolExecutor(workers, thread_name_prefix="star-import") as pool:
        in_flight: set[Future[AppendResult]] = set()
        for dialogue in read_dialogues(path, limit):
            if stop is not None and stop.is_set():
                report.interrupted = True
                break
            report.dialogues += 1
            events = map_dialogue(dialogue)
            if not events:
                report.skipped += 1
                progress.advance(0)
                continue
            if held_back is not None:
                in_flight.add(pool.submit(commands.append, *held_back, caller))
            held_back = (session_id(dialogue["DialogueID"]), events)
            if len(in_flight) >= workers * IN_FLIGHT_PER_WORKER:
                in_flight = _collect(wait(in_flight, return_when=FIRST_COMPLETED), report, progress)
        _collect(wait(in_flight), report, progress)
    if held_back is not None and not report.interrupted:
        _record(commands.append(*held_back, caller), report, progress)
    progress.finish()
    report.seconds = time.monotonic() - started
    return report


def _collect(waited, report: ImportReport, progress: Progress) -> set[Future[AppendResult]]:
    """Count the finished appends (re-raising the first failure); return those still running."""
    done, pending = waited
    for future in done:
        _record(future.result(), report, progress)
    return pending


def _record(result: AppendResult, report: ImportReport, progress: Progress) -> None:
    report.count(result)
    progress.advance(0 if result.duplicate else len(result.events))
