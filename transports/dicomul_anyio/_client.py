"""The SCU side on anyio: ``async with connect(...) as assoc``.

One task drives one association through a :class:`~._driver.Driver`,
which moves bytes and keeps the core's timers on the event loop's clock.
Responses are put together by the core's :class:`dicomul.ResponseCollector`,
requests built by its builders (:func:`dicomul.c_echo_rq`...): nothing here is a DICOM rule.

Leaving the ``async with`` block releases the association; an exception
(cancellation included) inside it aborts it.
"""

from __future__ import annotations

import contextlib
import os
import ssl
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from dicomul import (
    DEFAULT_MAX_PDU_LENGTH,
    VERIFICATION_SOP_CLASS,
    Aborted,
    AssociationAccepted,
    AssociationRejected,
    AssociationRequest,
    Command,
    Connection,
    ConnectionClosed,
    Negotiated,
    RemoteProtocolError,
    RequestAssociation,
    RequestRelease,
    Response,
    ResponseCollector,
    Role,
    Status,
    c_echo_rq,
    c_find_rq,
    c_store_rq,
    propose_contexts,
)

from ._driver import Driver

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = [
    "AssociationAbortedError",
    "AssociationRejectedError",
    "AsyncAssociation",
    "NoAcceptedContextError",
    "connect",
]

#: The transfer syntaxes proposed for every SOP class unless told:
#: Explicit VR Little Endian, Implicit VR Little Endian.
DEFAULT_TRANSFER_SYNTAXES = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2")


class AssociationRejectedError(Exception):
    """The peer rejected the association; ``event`` says how (PS3.8 Table 9-21)."""

    def __init__(self, event: AssociationRejected) -> None:
        super().__init__(f"association rejected: {event.reason_text}")
        self.event = event


class AssociationAbortedError(Exception):
    """The association was aborted (by the peer, a timeout, a protocol error,
    or a lost connection) while a request waited; ``event`` says how."""

    def __init__(self, event: Aborted | ConnectionClosed) -> None:
        what = event.message if isinstance(event, Aborted) else "the connection closed"
        super().__init__(f"association aborted: {what}")
        self.event = event


class NoAcceptedContextError(Exception):
    """No accepted presentation context carries the request."""


class AsyncAssociation:
    """An established association, driven by the task that awaits on it."""

    def __init__(self, driver: Driver) -> None:
        self._driver = driver
        self._conn = driver.conn
        self._collector = ResponseCollector()

    @property
    def negotiated(self) -> Negotiated:
        """What the association agreed (contexts, maximum PDU lengths...)."""
        assert self._conn.negotiated is not None
        return self._conn.negotiated

    @property
    def is_established(self) -> bool:
        return self._conn.can_send_messages and not self._driver.closed

    # ----------------------------------------------------------- services

    async def c_echo(self) -> Status:
        """C-ECHO (PS3.7 9.1.5): the response's status."""
        context_id = self._context(VERIFICATION_SOP_CLASS)
        request = c_echo_rq(self._conn.new_message_id())
        await self._send(context_id, request)
        return Status((await self._final(request)).command.status or 0)

    async def c_store(self, dataset: Dataset | str | os.PathLike[str]) -> Status:
        """C-STORE (PS3.7 9.1.1) of a pydicom Dataset or a Part 10 file (read
        in a worker thread), encoded in the accepted transfer syntax: the
        response's status.  The data set is held whole in memory for now;
        streaming a file undecoded from an async source is still to come."""
        from dicomul import encode_dataset  # noqa: PLC0415 - pydicom only when storing

        if isinstance(dataset, str | os.PathLike):
            from pydicom import dcmread  # noqa: PLC0415

            dataset = await anyio.to_thread.run_sync(dcmread, os.fspath(dataset))
        sop_class, sop_instance = str(dataset.SOPClassUID), str(dataset.SOPInstanceUID)
        context = self.negotiated.context_for(sop_class)
        if context is None:
            raise NoAcceptedContextError(f"no accepted presentation context for {sop_class}")
        body = encode_dataset(dataset, context.transfer_syntax)
        request = c_store_rq(self._conn.new_message_id(), sop_class, sop_instance)
        await self._send(context.context_id, request, body)
        return Status((await self._final(request)).command.status or 0)

    async def c_find(
        self, identifier: Dataset, sop_class: str = "1.2.840.10008.5.1.4.1.2.1.1"
    ) -> AsyncIterator[tuple[Status, Dataset | None]]:
        """C-FIND (PS3.7 9.1.2) against the information model ``sop_class``
        (Patient Root unless told): yields (status, identifier) for each
        Pending match, then the final status with None."""
        from dicomul import decode_dataset, encode_dataset  # noqa: PLC0415

        context = self.negotiated.context_for(sop_class)
        if context is None:
            raise NoAcceptedContextError(f"no accepted presentation context for {sop_class}")
        request = c_find_rq(self._conn.new_message_id(), sop_class)
        await self._send(
            context.context_id, request, encode_dataset(identifier, context.transfer_syntax)
        )
        while True:
            response = await self._response(request)
            found = (
                None
                if response.data_set is None
                else decode_dataset(response.data_set, context.transfer_syntax)
            )
            yield Status(response.command.status or 0), found
            if response.is_final:
                return

    # ------------------------------------------------------------ ending

    async def release(self) -> None:
        """Release the association (A-RELEASE) and close the connection."""
        if self.is_established:
            await self._driver.send(RequestRelease())
            with contextlib.suppress(AssociationAbortedError):
                while not self._conn.association_over:
                    await self._driver.next_event()
        await self._driver.close()

    async def abort(self) -> None:
        """Abort the association (A-ABORT) and close the connection."""
        await self._driver.abort()

    # --------------------------------------------------------- the engine

    def _context(self, sop_class: str) -> int:
        context = self.negotiated.context_for(sop_class)
        if context is None:
            raise NoAcceptedContextError(f"no accepted presentation context for {sop_class}")
        return context.context_id

    async def _send(self, context_id: int, request: Command, data: bytes | None = None) -> None:
        await self._driver.send_message(context_id, request, data)

    async def _final(self, request: Command) -> Response:
        while True:
            response = await self._response(request)
            if response.is_final:
                return response

    async def _response(self, request: Command) -> Response:
        """The next response to ``request``."""
        while True:
            response = self._collector.next_response()
            if response is not None and response.message_id == request.message_id:
                return response
            event = await self._driver.next_event()
            try:
                taken = self._collector.take(event)
            except RemoteProtocolError:
                await self.abort()
                raise
            if not taken and isinstance(event, Aborted | ConnectionClosed):
                raise AssociationAbortedError(event)


@contextlib.asynccontextmanager
async def connect(
    host: str,
    port: int,
    *,
    ae_title: str = "DICOMUL",
    called_ae_title: str = "ANY-SCP",
    sop_classes: Sequence[str] | None = None,
    transfer_syntaxes: Iterable[str] = DEFAULT_TRANSFER_SYNTAXES,
    max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH,
    acse_timeout: float | None = 30.0,
    dimse_timeout: float | None = None,
    network_timeout: float | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[AsyncAssociation]:
    """Associate with the peer at ``host``:``port``; the block runs with the
    association established, which is released on leaving it and aborted on
    an exception.

    ``sop_classes`` are proposed as SCU, each with ``transfer_syntaxes``;
    without them, Verification and the storage SOP classes (as the blocking
    ``AE`` proposes ``StorageSOPClassList``), up to the 128 contexts an
    association carries.  Raises :class:`AssociationRejectedError` or
    :class:`AssociationAbortedError` if it is not established, TimeoutError
    if the peer does not answer within ``acse_timeout``.
    """
    if sop_classes is None:
        from dicomul_common.sop_classes import StorageSOPClassList  # noqa: PLC0415

        sop_classes = [VERIFICATION_SOP_CLASS, *StorageSOPClassList][:127]
    request = AssociationRequest(
        calling_ae_title=ae_title,
        called_ae_title=called_ae_title,
        contexts=propose_contexts(list(sop_classes), list(transfer_syntaxes)),
        max_pdu_length=max_pdu_length,
    )
    stream: anyio.abc.ByteStream
    with anyio.fail_after(acse_timeout):
        if ssl_context is None:
            stream = await anyio.connect_tcp(host, port)
        else:
            stream = await anyio.connect_tcp(
                host, port, ssl_context=ssl_context, tls_standard_compatible=False
            )
    conn = Connection(
        Role.REQUESTOR,
        acse_timeout=acse_timeout,
        dimse_timeout=dimse_timeout,
        network_timeout=network_timeout,
    )
    driver = Driver(stream, conn)
    try:
        await driver.send(RequestAssociation(request=request))
        await driver.write(conn.transport_connected(now=anyio.current_time()))
        answer = await driver.next_event()
    except BaseException:
        await driver.close()
        raise
    if isinstance(answer, AssociationRejected):
        await driver.close()
        raise AssociationRejectedError(answer)
    if not isinstance(answer, AssociationAccepted):
        await driver.close()
        assert isinstance(answer, Aborted | ConnectionClosed), answer
        raise AssociationAbortedError(answer)
    assoc = AsyncAssociation(driver)
    try:
        yield assoc
    except BaseException:
        with anyio.CancelScope(shield=True):
            await assoc.abort()
        raise
    with anyio.CancelScope(shield=True):
        await assoc.release()
