"""The worker's pipeline: batches apply in order, one at a time, and each event is released
to faust (its offset made committable) only after its batch was applied."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from consumers.worker import Projector


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
    await asyncio.wait_for(projector.in_flight, timeout=5)


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


def test_one_batch_at_a_time_in_order(executor):
    async def scenario():
        stream, apply = FakeStream(), Recorder()
        projector = Projector(stream, executor, apply)
        await projector.submit(batch("a"))
        second = asyncio.ensure_future(projector.submit(batch("b")))
        await asyncio.sleep(0.05)
        assert not second.done()  # waits for the first batch to be applied
        apply.release.release()
        await asyncio.wait_for(second, timeout=5)
        apply.release.release()
        await settle(projector)
        assert apply.applied == [[b"a"], [b"b"]]
        assert stream.acked == [b"a", b"b"]

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
