"""Requests the peer sends on an SCU's association: a C-GET's C-STORE
sub-operations (PS3.4 C.4.3.3: the SCU plays the storage SCP role on the
same association), answered as a storage SCP would.

The data set goes to ``store_directory`` through the adapter-neutral
:class:`dicomul_common.store_sink.CheckedStore`, as on every storage SCP
here (blocking file work in anyio's worker threads; the data set checked
whole and naming the instance asked, Success only once the file is durably
in place, the PS3.4 status otherwise, nothing partial kept), or, whole
and decoded, to an ``on_c_store`` coroutine whose answer (None, a status,
a Dataset with ``Status``) becomes the response's status.  An
N-EVENT-REPORT (PS3.7 10.1.1: the SCP of a SOP class such as Storage
Commitment reports an event to its SCU, on the SCU's association) goes to
an ``on_n_event_report`` handler, as on the server: it gets the
:class:`~dicomul_common.requests.ServiceRequest` and answers a status or
(status, event reply data set).  Any other request (or one with no
handler) is answered "not implemented"; the statuses are the core's
(:func:`dicomul.outcome_status`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
from dicomul_common.handling import (
    CollectedDataSet,
    DataSetTooLargeError,
    answer_of,
    logged_failure_status,
)
from dicomul_common.requests import ServiceRequest, serving

from dicomul import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    Command,
    CommandField,
    CommandReceived,
    DataSetFragment,
    HandlerOutcome,
    Negotiated,
    answer_status,
    outcome_status,
    response_for,
    service_name,
)

from ._services import call

if TYPE_CHECKING:
    from dicomul_common.store_sink import CheckedStore
    from pydicom.dataset import Dataset

__all__ = ["OnCStore", "OnRequest", "StoreTarget", "SubOperationServer"]

LOGGER = logging.getLogger("dicomul.anyio.client")

#: An async C-STORE handler: the received data set in, an answer out.
OnCStore = Callable[["Dataset"], Awaitable[Any]]
#: A handler of a request the peer makes (N-EVENT-REPORT): the request in,
#: a status or (status, data set) out; a coroutine function or a plain one.
OnRequest = Callable[[ServiceRequest], Any]
#: What the response carries: its status and data set's bytes (or None).
_Answer = tuple[int, bytes | None]


@dataclass(slots=True)
class StoreTarget:
    """Where a C-GET's instances go: a directory, or a handler."""

    on_c_store: OnCStore | None = None
    store_directory: str | os.PathLike[str] | None = None


@dataclass(slots=True)
class _Incoming:
    context_id: int
    command: Command
    transfer_syntax: str
    store: CheckedStore | None = None
    parts: list[bytes] | None = None
    #: An N-EVENT-REPORT's Event Information, bounded (MAX_REQUEST_DATA_SET).
    collected: CollectedDataSet | None = None
    failed: HandlerOutcome | None = None
    written: list[int] = field(default_factory=list)


class SubOperationServer:
    """Serves the peer's requests on one SCU association; ``respond`` sends
    a response command (on the association's message lock)."""

    def __init__(
        self,
        negotiated: Negotiated,
        respond: Callable[[int, Command, bytes | None], Awaitable[None]],
        *,
        on_n_event_report: OnRequest | None = None,
        implementation: tuple[str, str | None] = (
            IMPLEMENTATION_CLASS_UID,
            IMPLEMENTATION_VERSION_NAME,
        ),
    ) -> None:
        self._negotiated = negotiated
        #: This side's implementation class UID and version name (PS3.7
        #: D.3.3.2), written into the file meta of the data sets received.
        self.implementation = implementation
        self._respond = respond
        self._incoming: _Incoming | None = None
        #: Where C-STORE sub-operations go (set for the time of a C-GET).
        self.target: StoreTarget | None = None
        #: Serves the peer's N-EVENT-REPORTs (None: "not implemented").
        self.on_n_event_report = on_n_event_report

    async def serve(self, event: object) -> None:
        """Take one event that is not a response (others are ignored)."""
        if isinstance(event, CommandReceived):
            await self._begin(event)
        elif isinstance(event, DataSetFragment) and self._incoming is not None:
            await self._fragment(event)

    async def _begin(self, event: CommandReceived) -> None:
        command = event.command
        if command.command_field == CommandField.C_CANCEL_RQ or command.is_response:
            return
        incoming = _Incoming(
            event.context_id,
            command,
            self._negotiated.contexts[event.context_id].transfer_syntax,
        )
        target = self.target
        field_ = command.command_field
        if field_ == CommandField.N_EVENT_REPORT_RQ and self.on_n_event_report is not None:
            incoming.collected = CollectedDataSet()
        elif field_ != CommandField.C_STORE_RQ or target is None:
            incoming.failed = HandlerOutcome.NOT_IMPLEMENTED
        elif target.store_directory is not None:
            incoming.store = await anyio.to_thread.run_sync(
                _checked_store, incoming, target.store_directory
            )
        else:
            incoming.parts = []
        if command.has_data_set:
            self._incoming = incoming
        else:
            await self._answer(incoming)

    async def _fragment(self, event: DataSetFragment) -> None:
        incoming = self._incoming
        assert incoming is not None
        data = bytes(event.data)
        if incoming.store is not None:
            await anyio.to_thread.run_sync(incoming.store.write, data)
        elif incoming.parts is not None:
            incoming.parts.append(data)
        elif incoming.collected is not None:
            try:
                incoming.collected.write(data)
            except DataSetTooLargeError as exc:  # a peer sending more than any report needs
                LOGGER.error(
                    "refusing the %s: %s", service_name(incoming.command.command_field), exc
                )
                incoming.collected = None
                incoming.failed = HandlerOutcome.OUT_OF_RESOURCES
        if event.is_last:
            self._incoming = None
            await self._answer(incoming)

    async def _answer(self, incoming: _Incoming) -> None:
        field_ = incoming.command.command_field
        body: bytes | None = None
        try:
            try:
                status, body = await self._outcome(incoming)
            except OSError:
                status = outcome_status(field_, HandlerOutcome.OUT_OF_RESOURCES)
            except Exception as exc:  # the handler failed: the service's failure status
                status = logged_failure_status(field_, exc, LOGGER)
        finally:
            await _discard(incoming)  # not committed: nothing partial stays
        response = response_for(incoming.command, status, with_data_set=body is not None)
        await self._respond(incoming.context_id, response, body)

    async def close(self) -> None:
        """The association ended: drop a data set left half received."""
        incoming, self._incoming = self._incoming, None
        if incoming is not None:
            await _discard(incoming)

    async def _outcome(self, incoming: _Incoming) -> _Answer:
        if incoming.failed is not None:
            return outcome_status(incoming.command.command_field, incoming.failed), None
        if incoming.store is not None:  # Success only once durable; the reason logged
            status: int = await anyio.to_thread.run_sync(incoming.store.finish)
            return status, None
        if incoming.command.command_field == CommandField.N_EVENT_REPORT_RQ:
            return await self._event_report(incoming)
        target = self.target
        assert incoming.parts is not None
        assert target is not None
        assert target.on_c_store is not None
        dataset = _decoded(incoming, self.implementation)
        request = ServiceRequest(
            incoming.command, incoming.context_id, incoming.transfer_syntax, self._negotiated
        )
        with serving(request):  # current_request() inside the handler, as on the server
            return answer_status(await target.on_c_store(dataset)), None

    async def _event_report(self, incoming: _Incoming) -> _Answer:
        """The ``on_n_event_report`` handler's answer: its status, and its
        Event Reply data set encoded in the context's transfer syntax."""
        from dicomul import decode_dataset, encode_dataset  # noqa: PLC0415 - pydicom on use

        assert self.on_n_event_report is not None
        assert incoming.collected is not None
        command, syntax = incoming.command, incoming.transfer_syntax
        dataset = None
        if command.has_data_set:
            dataset = decode_dataset(incoming.collected.data(), syntax)
        request = ServiceRequest(command, incoming.context_id, syntax, self._negotiated, dataset)
        with serving(request):
            status, reply = answer_of(await call(self.on_n_event_report, request))
        return status, None if reply is None else encode_dataset(reply, syntax)


def _checked_store(incoming: _Incoming, directory: str | os.PathLike[str]) -> CheckedStore:
    from dicomul_common.store_sink import CheckedStore  # noqa: PLC0415 - pydicom on use

    return CheckedStore(incoming.command, incoming.transfer_syntax, directory)


async def _discard(incoming: _Incoming) -> None:
    """Drop what was not stored (nothing once committed: discard is idempotent)."""
    store, incoming.store = incoming.store, None
    if store is not None:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(store.discard)


def _decoded(incoming: _Incoming, implementation: tuple[str, str | None]) -> Dataset:
    """The received data set, with its File Meta Information (PS3.10 7.1:
    the C-STORE's SOP class and instance, the transfer syntax it came in,
    this side's implementation), so that ``save_as(path,
    enforce_file_format=True)`` writes it as a Part 10 file."""
    from dicomul_common.storage import file_meta_for  # noqa: PLC0415 - pydicom on use

    from dicomul import decode_dataset  # noqa: PLC0415

    assert incoming.parts is not None
    dataset = decode_dataset(b"".join(incoming.parts), incoming.transfer_syntax)
    dataset.file_meta = file_meta_for(
        incoming.command.affected_sop_class_uid or "",
        incoming.command.affected_sop_instance_uid or "",
        incoming.transfer_syntax,
        implementation_class_uid=implementation[0],
        implementation_version_name=implementation[1],
    )
    return dataset
