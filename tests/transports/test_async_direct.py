"""The async adapters' direct socket (issue 16: speed of dicomul_anyio).

A plain TCP connection is read and written on its socket: the core's queued
buffers leave in gathered writes, unjoined; a large PDU is read into the
core's own buffer; a write begun is finished even if its task is cancelled
(the peer never sees a torn PDU); a task that never has to wait still lets
others run; and a file to send is read in one worker-thread trip when it
fits in its first chunk.
"""

from __future__ import annotations

import pathlib
import socket
from collections.abc import Iterator

import anyio
import pytest
from dicomul_anyio._direct import YIELD_EVERY, DirectSocketStream
from dicomul_anyio._driver import Driver
from dicomul_anyio._push import Prefetched, pieces, prefetch
from test_async_driver_writes import CT, associated

from dicomul import CommandReceived, DataSetFragment, c_store_rq

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sockets() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected pair of stream sockets: ours and the peer's."""
    ours, peer = socket.socketpair()
    try:
        yield ours, peer
    finally:
        ours.close()
        peer.close()


def read_all(sock: socket.socket, size: int) -> bytes:
    """What the peer's (blocking) socket receives, ``size`` bytes."""
    sock.settimeout(10)
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        assert chunk, "the connection closed early"
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


async def test_a_message_is_written_as_queued_and_read_back_whole(
    anyio_backend: str, sockets: tuple[socket.socket, socket.socket]
) -> None:
    ours, theirs = sockets
    pair = associated(max_pdu_length=16384)
    data_set = bytes(range(256)) * 4096  # 1 MiB: 64 PDUs
    reference = associated(max_pdu_length=16384).requestor
    reference.send_message(3, c_store_rq(1, CT, "1.2.3"), data_set, now=0.0)
    expected = reference.data_to_send()

    stream = DirectSocketStream(ours)
    driver = Driver(stream, pair.requestor, stream)
    async with anyio.create_task_group() as group:
        received: list[bytes] = []

        async def peer() -> None:
            received.append(await anyio.to_thread.run_sync(read_all, theirs, len(expected)))

        group.start_soon(peer)
        await driver.send_message(3, c_store_rq(1, CT, "1.2.3"), data_set)
    assert received == [expected]  # the same bytes, in order, whatever the writes


async def test_a_large_pdu_is_read_into_the_cores_buffer(
    anyio_backend: str, sockets: tuple[socket.socket, socket.socket]
) -> None:
    ours, theirs = sockets
    pair = associated(max_pdu_length=1 << 20)
    data_set = bytes(range(256)) * 2048  # 512 KiB: one PDU, larger than a read
    pair.requestor.send_message(3, c_store_rq(1, CT, "1.2.3"), data_set, now=0.0)
    wire = pair.requestor.data_to_send()
    stream = DirectSocketStream(ours)
    driver = Driver(stream, pair.acceptor, stream)
    async with anyio.create_task_group() as group:
        group.start_soon(anyio.to_thread.run_sync, theirs.sendall, wire)
        events: list[object] = []
        while not (events and isinstance(events[-1], DataSetFragment) and events[-1].is_last):
            with anyio.fail_after(10):
                events.append(await driver.next_event())
    assert isinstance(events[0], CommandReceived)
    fragments = [e for e in events if isinstance(e, DataSetFragment)]
    assert b"".join(bytes(f.data) for f in fragments) == data_set


async def test_a_write_begun_is_finished_even_if_cancelled(
    anyio_backend: str, sockets: tuple[socket.socket, socket.socket]
) -> None:
    ours, theirs = sockets
    stream = DirectSocketStream(ours)
    payload = bytes(range(256)) * (32 * 1024)  # 8 MiB: more than the kernel takes at once
    got: list[bytes] = []
    async with anyio.create_task_group() as group:
        with anyio.CancelScope() as scope:
            scope.deadline = anyio.current_time() + 0.05  # cancelled mid-write

            async def slow_reader() -> None:
                await anyio.sleep(0.3)  # only after the cancellation
                got.append(await anyio.to_thread.run_sync(read_all, theirs, len(payload)))

            group.start_soon(slow_reader)
            await stream.send_buffers([payload[:100], memoryview(payload)[100:]])
        assert not scope.cancelled_caught  # the write went on to its end
    assert got == [payload]


async def test_a_write_not_begun_is_dropped_when_cancelled(
    anyio_backend: str, sockets: tuple[socket.socket, socket.socket]
) -> None:
    ours, theirs = sockets
    stream = DirectSocketStream(ours)
    # Fill the kernel's buffers, so that the next write must wait from its start.
    filler = b"x" * 65536
    while True:
        try:
            ours.send(filler)
        except BlockingIOError:
            break
    with anyio.move_on_after(0.05) as scope:
        await stream.send_buffers([b"never sent"])
    assert scope.cancelled_caught
    theirs.setblocking(False)
    drained = b""
    while True:
        try:
            drained += theirs.recv(1 << 20)
        except BlockingIOError:
            break
    assert drained
    assert drained.strip(b"x") == b""  # none of it went out


async def test_a_task_that_never_waits_lets_others_run(
    anyio_backend: str, sockets: tuple[socket.socket, socket.socket]
) -> None:
    ours, theirs = sockets
    stream = DirectSocketStream(ours)
    theirs.sendall(b"y" * (YIELD_EVERY * 4))  # always something to read: no wait
    ticks = 0

    async def other() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.sleep(0)

    async with anyio.create_task_group() as group:
        group.start_soon(other)
        await anyio.sleep(0)
        before = ticks
        for _ in range(YIELD_EVERY * 4):
            assert await stream.receive(1) == b"y"
        assert ticks - before >= 3  # the loop ran every YIELD_EVERY reads
        group.cancel_scope.cancel()


async def test_the_peer_closing_ends_the_reads(
    anyio_backend: str, sockets: tuple[socket.socket, socket.socket]
) -> None:
    ours, theirs = sockets
    stream = DirectSocketStream(ours)
    theirs.close()
    with pytest.raises(anyio.EndOfStream):
        await stream.receive()
    await stream.aclose()
    with pytest.raises(anyio.ClosedResourceError):
        await stream.receive()


def chunks_of(path: pathlib.Path, size: int, opened: list[str]) -> Iterator[bytes]:
    """A file's chunks, as dicomul_common.outgoing reads it, noting its close."""
    with path.open("rb") as f:
        try:
            while chunk := f.read(size):
                yield chunk
        finally:
            opened.append("closed")


async def test_a_file_of_one_chunk_is_read_whole_and_closed_at_once(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "small"
    path.write_bytes(b"a" * 1000)
    events: list[str] = []
    body = prefetch(chunks_of(path, 4096, events))
    assert isinstance(body, Prefetched)
    assert body.rest is None  # it ended: nothing left for another trip
    assert events == ["closed"]
    assert b"".join([bytes(p) async for p in pieces(body)]) == b"a" * 1000


async def test_a_longer_file_goes_on_from_where_the_prefetch_stopped(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "large"
    content = bytes(range(256)) * 400  # 100 KiB in 4 KiB chunks
    path.write_bytes(content)
    events: list[str] = []
    body = prefetch(chunks_of(path, 4096, events))
    assert isinstance(body, Prefetched)
    assert body.rest is not None
    assert events == []
    assert b"".join([bytes(p) async for p in pieces(body)]) == content
    assert events == ["closed"]


async def test_a_data_set_left_midway_closes_its_file(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "large"
    path.write_bytes(b"b" * 100_000)
    events: list[str] = []
    body = prefetch(chunks_of(path, 4096, events))
    stream = pieces(body)
    await stream.__anext__()
    await stream.aclose()  # the message abandoned after its first piece
    assert events == ["closed"]
