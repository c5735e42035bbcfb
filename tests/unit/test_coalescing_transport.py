"""The API's transport wrapper: what one turn of the event loop writes leaves as one write,
and nothing written is lost, reordered or sent after the stream ended."""

from __future__ import annotations

import asyncio

from api.http_protocol import CoalescingTransport


class Recording(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, bytes | None]] = []
        self.closing = False

    def write(self, data) -> None:
        self.calls.append(("write", bytes(data)))

    def write_eof(self) -> None:
        self.calls.append(("write_eof", None))

    def close(self) -> None:
        self.closing = True
        self.calls.append(("close", None))

    def abort(self) -> None:
        self.closing = True
        self.calls.append(("abort", None))

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name, default=None):
        return ("127.0.0.1", 1234) if name == "peername" else default


def run(scenario) -> list:
    async def main():
        raw = Recording()
        await scenario(CoalescingTransport(raw, asyncio.get_running_loop()))
        await asyncio.sleep(0)  # one more turn: anything still pending is flushed by now
        return raw.calls

    return asyncio.run(main())


def test_the_writes_of_one_turn_leave_as_one():
    async def answer(transport):
        transport.write(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n")
        transport.write(b"{}")

    assert run(answer) == [("write", b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}")]


def test_a_streamed_answer_leaves_turn_by_turn():
    async def stream(transport):
        transport.write(b"head")
        await asyncio.sleep(0)
        transport.write(b"chunk 1")
        await asyncio.sleep(0)
        transport.write(b"chunk 2")

    assert run(stream) == [("write", b"head"), ("write", b"chunk 1"), ("write", b"chunk 2")]


def test_close_and_eof_send_what_is_pending_first():
    async def closing(transport):
        transport.write(b"last answer")
        transport.close()

    async def ending(transport):
        transport.write(b"last answer")
        transport.write_eof()

    assert run(closing) == [("write", b"last answer"), ("close", None)]
    assert run(ending) == [("write", b"last answer"), ("write_eof", None)]


def test_abort_drops_what_is_pending_as_the_transport_drops_its_buffer():
    async def aborting(transport):
        transport.write(b"never sent")
        transport.abort()

    assert run(aborting) == [("abort", None)]


def test_nothing_is_written_to_a_transport_closed_meanwhile():
    async def peer_gone(transport):
        transport.write(b"too late")
        transport._transport.closing = True

    assert run(peer_gone) == []


def test_everything_else_is_the_transports_own():
    async def asking(transport):
        assert transport.get_extra_info("peername") == ("127.0.0.1", 1234)
        assert not transport.is_closing()

    assert run(asking) == []
