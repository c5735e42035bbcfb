"""The worker's pipeline: batches apply in order, at most two in flight, each event is
released to faust (its offset made committable) only after its batch was applied, and no
batch is applied after one failed."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from consumers.worker import Projector, StopAfterFailure


@dataclass
class FakeMessage:
    headers: dict = field(default_factory=dict)
    refcount: int = 1  # held by the stream until take_events acknowledges it

    def incref(self) -> None:
        self.refcount += 1


@dataclass
class FakeEvent:
    value: bytes
    message: FakeMessage = field(default_factory=FakeMessage)


class FakeStream:
    def __init__(self) -> None:
        self.acked: list[bytes] = []

    async def ack(self, event: FakeEvent) -> None:
        event.message.refcount -= 1
        self.acked.append(event.value)


def batch(*values: str) -> list[FakeEvent]:
    return [FakeEvent(v.encode()) for v in values]


class Recorder:
    """An apply function that waits for the test's go-ahead, per batch."""

    def __init__(self, fail_on: bytes | None = None) -> None:
        self.applied: list[list[bytes]] = []
        self.release = threading.Semaphore(0)
        self.fail_on = fail_on

    def __call__(self, messages) -> int:
        self.release.acquire()
        values = [value for value, _headers in messages]
        if self.fail_on in values:
            raise RuntimeError("database said no")
        self.applied.append(values)
        return len(values)


class StoppableProjector(Projector):
    stopped = False

    def stop_process(self) -> None:
        self.stopped = True


async def settle(projector: Projector) -> None:
    """Every batch submitted so far applied (or the worker stopped)."""
    while projector.in_flight:
        await asyncio.wait_for(projector.in_flight.popleft(), timeout=5)


@pytest.fixture
def executor():
    with ThreadPoolExecutor(1) as pool:
        yield pool


def test_events_are_held_until_their_batch_is_applied(executor):
    async def scenario():
        stream, apply = FakeStream(), Recorder()
        projector = Projector(stream, executor, apply)
        first = batch("a", "b")
        await projector.submit(first)
        for event in first:  # take_events acknowledging them now must not release them
            event.message.refcount -= 1
        assert [e.message.refcount for e in first] == [1, 1]
        assert stream.acked == []
        apply.release.release()
        await settle(projector)
        assert apply.applied == [[b"a", b"b"]]
        assert stream.acked == [b"a", b"b"]
        assert [e.message.refcount for e in first] == [0, 0]

    asyncio.run(scenario())


def test_two_batches_in_flight_at_most_applied_in_order(executor):
    async def scenario():
        stream, apply = FakeStream(), Recorder()
        projector = Projector(stream, executor, apply)
        await projector.submit(batch("a"))
        await asyncio.wait_for(projector.submit(batch("b")), timeout=5)  # queued behind "a"
        third = asyncio.ensure_future(projector.submit(batch("c")))
        await asyncio.sleep(0.05)
        assert not third.done()  # waits for the first batch to be applied
        apply.release.release()
        await asyncio.wait_for(third, timeout=5)
        assert stream.acked == [b"a"]
        apply.release.release()
        apply.release.release()
        await settle(projector)
        assert apply.applied == [[b"a"], [b"b"], [b"c"]]
        assert stream.acked == [b"a", b"b", b"c"]

    asyncio.run(scenario())


def test_a_failed_batch_stops_the_worker_and_releases_nothing(executor):
    async def scenario():
        stream, apply = FakeStream(), Recorder(fail_on=b"poison")
        projector = StoppableProjector(stream, executor, apply)
        await projector.submit(batch("ok", "poison"))
        apply.release.release()
        await settle(projector)
        assert projector.stopped
        assert stream.acked == []

    asyncio.run(scenario())


def test_the_batch_queued_behind_a_failed_one_is_not_applied(executor):
    async def scenario():
        stream, apply = FakeStream(), Recorder(fail_on=b"poison")
        projector = StoppableProjector(stream, executor, StopAfterFailure(apply))
        await projector.submit(batch("poison"))
        await projector.submit(batch("later"))
        apply.release.release()
        await settle(projector)
        assert projector.stopped
        assert apply.applied == []
        assert stream.acked == []

    asyncio.run(scenario())


def test_stop_after_failure_passes_results_through_until_a_failure():
    calls = []

    def apply(messages):
        calls.append(messages)
        if messages == ["bad"]:
            raise ValueError("no")
        return len(messages)

    guarded = StopAfterFailure(apply)
    assert guarded(["a", "b"]) == 2
    with pytest.raises(ValueError):
        guarded(["bad"])
    with pytest.raises(RuntimeError, match="earlier batch failed"):
        guarded(["c"])
    assert calls == [["a", "b"], ["bad"]]
