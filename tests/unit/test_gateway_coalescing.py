"""The gateway's writes in one batch of events: the first leaves at once, the others
together at the batch's end, each transport's in order, none to a transport closed since."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from shipyard.gateway.coalescing import WriteCoalescer


class Transport:
    def __init__(self, name: str, sent: list[tuple[str, bytes]]) -> None:
        self.name = name
        self.sent = sent
        self.closing = False

    def write(self, data: bytes) -> None:
        assert not self.closing, f"{self.name} written after it closed"
        self.sent.append((self.name, data))

    def is_closing(self) -> bool:
        return self.closing


def test_the_first_write_leaves_at_once_and_the_others_at_the_batchs_end() -> None:
    scheduled: list[Callable[[], None]] = []
    writes = WriteCoalescer(scheduled.append)
    sent: list[tuple[str, bytes]] = []
    a, b = Transport("a", sent), Transport("b", sent)
    writes.write(a, b"1")  # type: ignore[arg-type]
    assert sent == [("a", b"1")] and scheduled == [writes.flush]
    writes.write(b, b"2")  # type: ignore[arg-type]
    writes.write(a, b"3")  # type: ignore[arg-type]
    writes.write(b, b"4")  # type: ignore[arg-type]
    assert sent == [("a", b"1")] and len(scheduled) == 1
    scheduled.pop()()
    assert sent == [("a", b"1"), ("b", b"2"), ("a", b"3"), ("b", b"4")]
    # The next batch starts with a write that leaves at once again.
    writes.write(b, b"5")  # type: ignore[arg-type]
    assert sent[-1] == ("b", b"5") and scheduled == [writes.flush]


def test_a_transport_closed_before_the_batchs_end_gets_nothing_more() -> None:
    scheduled: list[Callable[[], None]] = []
    writes = WriteCoalescer(scheduled.append)
    sent: list[tuple[str, bytes]] = []
    a, b = Transport("a", sent), Transport("b", sent)
    writes.write(a, b"1")  # type: ignore[arg-type]
    writes.write(b, b"2")  # type: ignore[arg-type]
    writes.write(a, b"3")  # type: ignore[arg-type]
    b.closing = True
    writes.flush()
    assert sent == [("a", b"1"), ("a", b"3")]
    scheduled.pop()()  # the loop's own call at the batch's end finds nothing left
    assert sent == [("a", b"1"), ("a", b"3")]


def test_on_a_loop_the_batch_ends_once_the_ready_callbacks_run() -> None:
    async def main() -> list[tuple[str, bytes]]:
        loop = asyncio.get_running_loop()
        writes = WriteCoalescer(loop.call_soon)
        sent: list[tuple[str, bytes]] = []
        transports = [Transport(str(number), sent) for number in range(3)]
        for number, transport in enumerate(transports):
            writes.write(transport, b"%d" % number)  # type: ignore[arg-type]
        assert sent == [("0", b"0")]
        await asyncio.sleep(0)
        return sent

    assert asyncio.run(main()) == [("0", b"0"), ("1", b"1"), ("2", b"2")]
