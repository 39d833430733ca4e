"""A DIMSE message sent through the core's push API, its data set read as it goes.

Both async roles send data sets this way (the SCU's C-STORE, the SCP's
C-GET sub-operations): :meth:`dicomul.Connection.start_message`, then
each piece :meth:`~dicomul.OutgoingMessage.push`\\ ed as it is read, then
:meth:`~dicomul.OutgoingMessage.finish`.  A file's chunks are read in
anyio's worker threads, so the event loop never reads a disk and no data
set sits whole in memory; an async iterable is awaited between pushes.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from dicomul import BytesLike

if TYPE_CHECKING:
    from dicomul import OutgoingMessage

    from ._driver import Driver

__all__ = [
    "GRACE",
    "PREFETCH",
    "PUSH_SIZE",
    "Body",
    "Prefetched",
    "pieces",
    "prefetch",
    "push_data_set",
    "write_whole",
]

#: Data-set bytes handed to the core per push: each push's PDUs are written
#: whole even if the task is cancelled meanwhile (so that an A-ABORT, not a
#: torn PDU, follows), so a push is kept small; but each costs a write and a
#: trip through the event loop, so not too small: a 512 KiB file is two.
PUSH_SIZE = 256 * 1024
#: Longest wait to finish writing one push's PDUs once cancelled, and for a
#: cancelled query's final response when no DIMSE timeout is set.
GRACE = 10.0

#: Chunks of a blocking source read ahead in the worker thread that
#: prepares a message (see :func:`prefetch`).
PREFETCH = 2


@dataclass(slots=True)
class Prefetched:
    """A blocking source's first chunks, read in the thread that prepared its
    message, and the rest of it (None if those were all: it is closed)."""

    chunks: list[BytesLike]
    rest: Iterator[BytesLike] | None


#: A data set to send: bytes, chunks read in worker threads, or an async source.
Body = BytesLike | Iterable[BytesLike] | AsyncIterable[BytesLike] | Prefetched | None


def prefetch(body: Body) -> Body:
    """``body``, with a blocking iterable's first :data:`PREFETCH` chunks read
    now (call it in the worker thread that prepares the message).

    A file's chunks are read in worker threads, and each trip to one and back
    costs more than reading a chunk of a megabyte: a file no larger than
    that leaves with a single trip for everything (its UIDs, its check, its
    bytes, and learning that it ended), not four."""
    if body is None or isinstance(body, bytes | bytearray | memoryview | AsyncIterable):
        return body
    if isinstance(body, Prefetched):
        return body
    chunks = iter(body)
    read: list[BytesLike] = []
    try:
        while len(read) < PREFETCH:
            chunk = next(chunks, None)
            if chunk is None:
                _close(chunks)
                return Prefetched(read, None)
            read.append(chunk)
    except BaseException:
        _close(chunks)
        raise
    return Prefetched(read, chunks)


def _close(chunks: Iterator[BytesLike]) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:  # the file is closed now, not when collected
        close()


async def push_data_set(driver: Driver, message: OutgoingMessage, body: Body) -> None:
    """Push ``body`` into ``message`` piece by piece, writing each push's
    PDUs, then finish it.  Stops early if the association ends under it
    (the message is then no longer open).

    Nothing is written after the first push: the core keeps a push's last
    fragment until it knows whether more follows (the last one carries the
    last-fragment bit, PS3.8 E.2), so after one push only the command may be
    queued.  A small data set's command and data then leave in one write at
    the finish, never as two small writes (which Nagle's algorithm and a
    delayed ACK would hold up); a large one is written from the second push
    on, so at most two pushes are held."""
    if message.command.has_data_set:
        first = True
        async for piece in pieces(body if body is not None else b""):
            message.push(piece, now=anyio.current_time())
            if not first:
                await write_whole(driver)
            first = False
            if not message.open:  # the association ended under it
                break
    message.finish(now=anyio.current_time())
    await write_whole(driver)


async def write_whole(driver: Driver) -> None:
    """Write what the core queued (one push's PDUs) whole even if cancelled
    meanwhile (within :data:`GRACE`), so that the peer never sees a torn PDU.

    A direct socket finishes every write it begins by itself
    (:meth:`~._direct.DirectSocketStream.send_buffers`): no shield then."""
    if driver.direct is not None:
        await driver.flush()
        return
    with anyio.CancelScope(shield=True) as scope:
        scope.deadline = anyio.current_time() + GRACE
        await driver.flush()
    if scope.cancelled_caught:
        raise TimeoutError("the peer did not take the data in time")


async def pieces(body: Body) -> AsyncIterator[BytesLike]:
    """``body`` as pieces of at most :data:`PUSH_SIZE` bytes; a blocking
    iterable (a file read from disk) is advanced in a worker thread."""
    if body is None:
        return
    if isinstance(body, bytes | bytearray | memoryview):
        for piece in _slices(body):
            yield piece
    elif isinstance(body, Prefetched):
        try:
            for read_ahead in body.chunks:
                for piece in _slices(read_ahead):
                    yield piece
        except BaseException:
            if body.rest is not None:
                _close(body.rest)  # a file's close: no wait worth a thread
            raise
        if body.rest is not None:
            async for later in pieces(body.rest):
                yield later
    elif isinstance(body, AsyncIterable):
        try:
            async for part in body:
                for piece in _slices(part):
                    yield piece
        finally:
            close = getattr(body, "aclose", None)
            if close is not None:  # an async generator: let it clean up now
                with anyio.CancelScope(shield=True):
                    await close()
    else:
        chunks = iter(body)

        def read() -> BytesLike | None:
            return next(chunks, None)

        try:
            while True:
                chunk: BytesLike | None = await anyio.to_thread.run_sync(read)
                if chunk is None:
                    break
                for piece in _slices(chunk):
                    yield piece
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:  # the file is closed now, not when collected
                await anyio.to_thread.run_sync(close)


def _slices(chunk: BytesLike) -> Iterable[memoryview]:
    view = memoryview(chunk).cast("B")
    return (view[at : at + PUSH_SIZE] for at in range(0, len(view), PUSH_SIZE))
