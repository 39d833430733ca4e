"""The read side of an SCU association shared by several tasks.

Several tasks may wait on one association at once (pipelined C-STOREs,
PS3.7 D.3.3.3; a query's consumer beside a store).  Whichever of them needs
an event reads it, under a read lock, and files it: a response goes to the
queue of the request it answers, matched by Message ID Being Responded To
(the core's :class:`dicomul.ResponseCollector` puts it together), and a
request of the peer's (a C-GET's C-STORE sub-operation) to the
association's service callback.  No task reads for ever on behalf of
another that has gone, and a reader cancelled mid-read loses nothing (the
stream gives bytes only when the receive completes).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Awaitable, Callable

import anyio

from dicomul import (
    Aborted,
    AbortReason,
    AbortSource,
    ConnectionClosed,
    RemoteProtocolError,
    Response,
    ResponseCollector,
)

from ._driver import GONE, Driver

__all__ = ["AssociationAbortedError", "Dispatcher"]


class AssociationAbortedError(Exception):
    """The association was aborted (by the peer, a timeout, a protocol error,
    or a lost connection) while a request waited; ``event`` says how."""

    def __init__(self, event: Aborted | ConnectionClosed, *, reason: str | None = None) -> None:
        what = event.message if isinstance(event, Aborted) else "the connection closed"
        super().__init__(f"association aborted: {reason or what}")
        self.event = event


class Dispatcher:
    """Reads ``driver``'s events for every task waiting on the association;
    ``serve`` takes each event that is no response (the peer's requests)."""

    def __init__(self, driver: Driver, serve: Callable[[object], Awaitable[None]]) -> None:
        self.driver = driver
        self._serve = serve
        self._collector = ResponseCollector()
        self._queues: dict[int, deque[Response]] = {}
        self._read_lock = anyio.Lock(fast_acquire=True)  # no loop trip when free
        #: How the association ended (None while it stands).
        self.ended: Aborted | ConnectionClosed | None = None

    def end(self, event: Aborted | ConnectionClosed) -> None:
        """Record that the association ended (the first reason is kept)."""
        if self.ended is None:
            self.ended = event

    async def wait_for(self, ready: Callable[[], bool]) -> None:
        """Read and file events until ``ready()``; AssociationAbortedError if
        the association ends first."""
        while not ready():
            if self.ended is not None:
                raise AssociationAbortedError(self.ended)
            async with self._read_lock:
                if ready() or self.ended is not None:
                    continue  # another reader got there meanwhile
                await self._read_one()

    async def response(self, message_id: int) -> Response:
        """The next response to request ``message_id``, in order."""
        queue = self._queues.setdefault(message_id, deque())
        await self.wait_for(lambda: bool(queue))
        response = queue.popleft()
        if response.is_final and not queue:
            self._queues.pop(message_id, None)
        return response

    def queued(self, message_id: int) -> bool:
        """True if responses to ``message_id`` wait to be taken."""
        return bool(self._queues.get(message_id))

    async def _read_one(self) -> None:
        try:
            event: object = await self.driver.next_event()
        except GONE:  # writing the core's answer failed: the peer is gone
            event = ConnectionClosed()
        if isinstance(event, Aborted | ConnectionClosed):
            self.end(event)
            with anyio.CancelScope(shield=True):
                await self.driver.close()
            return
        try:
            taken = self._collector.take(event)
        except RemoteProtocolError as exc:  # a response too large to keep
            self.end(
                Aborted(
                    source=AbortSource.SERVICE_USER,
                    reason=AbortReason.NOT_SPECIFIED,
                    by_peer=False,
                    message=str(exc),
                )
            )
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await self.driver.abort()
            return
        if not taken:
            await self._serve(event)
            return
        while (response := self._collector.next_response()) is not None:
            self._queues.setdefault(response.message_id, deque()).append(response)
