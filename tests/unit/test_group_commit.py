"""The group committer's bookkeeping of callers, with a stand-in for the database write."""

from __future__ import annotations

import threading

from infra.group_commit import GroupCommitter


class Conflict(Exception):
    pass


class HeldWrites:
    """Writes rows as positions; the first write waits until released, so that requests
    queue up behind it."""

    def __init__(self) -> None:
        self.written: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, rows) -> list[int]:
        if not self.written:
            self.entered.set()
            self.release.wait(10)
        self.written.append(list(rows))
        start = sum(map(len, self.written[:-1]))
        return list(range(start + 1, start + 1 + len(rows)))


def test_requests_queued_behind_a_commit_share_the_next_one():
    writes = HeldWrites()
    committer = GroupCommitter(writes, conflicts=(Conflict,))
    first = committer.submit(["a"])
    assert writes.entered.wait(10)
    second, third = committer.submit(["b", "c"]), committer.submit(["d"])
    writes.release.set()
    assert (first.result(10), second.result(10), third.result(10)) == ([1], [2, 3], [4])
    assert writes.written == [["a"], ["b", "c", "d"]]
    committer.close()


def test_a_request_cancelled_before_its_commit_is_not_written_and_the_others_are():
    writes = HeldWrites()
    committer = GroupCommitter(writes, conflicts=(Conflict,))
    first = committer.submit(["a"])
    assert writes.entered.wait(10)
    cancelled, kept = committer.submit(["gone"]), committer.submit(["b"])
    assert cancelled.cancel()
    writes.release.set()
    assert kept.result(10) == [2]
    assert first.result(10) == [1]
    assert writes.written == [["a"], ["b"]]
    assert committer.submit(["c"]).result(10) == [3]  # the committer lives on
    committer.close()


def test_a_request_being_committed_can_no_longer_be_cancelled():
    writes = HeldWrites()
    committer = GroupCommitter(writes, conflicts=(Conflict,))
    running = committer.submit(["a"])
    assert writes.entered.wait(10)
    assert not running.cancel()
    writes.release.set()
    assert running.result(10) == [1]
    committer.close()
