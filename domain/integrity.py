"""Tamper evidence, pure: check stored event documents against their hash chains.

Three layers, each catching what the one before cannot:
- per stream, every event's ``hash`` covers its canonical bytes and ``prev_hash`` links it to
  the previous event: an edited event breaks its own hash or the next link;
- the stream's recorded head (version and hash, written with each append) catches a deleted
  newest event, which leaves no broken link behind;
- a chain over the global order, checkpointed, catches deletions and rewrites of whole runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from domain.envelope import GENESIS_HASH, compute_hash

GLOBAL_GENESIS = GENESIS_HASH


@dataclass(frozen=True)
class Breach:
    """The first place a stream (or the global chain) stops being what was written."""

    stream_id: str | None
    version: int | None
    reason: str
    workspace_id: str | None = None


def next_global_hash(previous: str, position: int, event_hash: str) -> str:
    return hashlib.sha256(f"{previous}|{position}|{event_hash}".encode()).hexdigest()


@dataclass(frozen=True)
class StreamCheck:
    """A stream's verdict, and its workspace as its first intact event attests it (None when
    no event checked out: a tampered event's workspace is the tamperer's word)."""

    breach: Breach | None
    workspace_id: str | None


def verify_stream(
    stream_id: str,
    documents: Iterable[tuple[int, dict[str, Any]]],
    head: tuple[int, str] | None,
) -> StreamCheck:
    """Check (version, stored document) pairs of one stream, in version order, and its head."""
    expected_version, previous_hash, workspace = 1, GENESIS_HASH, None
    for version, document in documents:
        breach = _check_event(stream_id, expected_version, previous_hash, version, document)
        if breach:
            return StreamCheck(replace(breach, workspace_id=workspace), workspace)
        workspace = workspace or document.get("workspace_id")
        expected_version, previous_hash = version + 1, document["hash"]
    breach = _check_head(stream_id, expected_version - 1, previous_hash, head)
    return StreamCheck(replace(breach, workspace_id=workspace) if breach else None, workspace)


def _check_event(
    stream_id: str, expected: int, previous_hash: str, version: int, document: dict[str, Any]
) -> Breach | None:
    if version != expected:
        return Breach(stream_id, expected, f"version {expected} is missing (next is {version})")
    if document.get("version") != version or document.get("stream_id") != stream_id:
        return Breach(stream_id, version, "the event's stream id or version was altered")
    if compute_hash(document) != document.get("hash"):
        return Breach(stream_id, version, "the event's content does not match its hash")
    if document.get("prev_hash") != previous_hash:
        return Breach(stream_id, version, "the chain to the previous event is broken")
    return None


def _check_head(
    stream_id: str, last_version: int, last_hash: str, head: tuple[int, str] | None
) -> Breach | None:
    if head is None:
        return Breach(stream_id, None, "the stream has no recorded head") if last_version else None
    head_version, head_hash = head
    if head_version > last_version:
        return Breach(
            stream_id,
            last_version + 1,
            f"events {last_version + 1}..{head_version} were recorded but are gone",
        )
    if head_version < last_version:
        return Breach(stream_id, head_version + 1, "events beyond the recorded head appeared")
    if head_hash != last_hash:
        return Breach(stream_id, last_version, "the newest event differs from the recorded head")
    return None
