"""The SCU side on anyio: ``async with connect(...) as assoc``.

An association is driven by a :class:`~._driver.Driver`, which moves bytes
and keeps the core's timers on the event loop's clock.  Several tasks may
use one association at once: with an asynchronous operations window above
1 (PS3.7 D.3.3.3) their requests are outstanding together.  Three things
keep them apart:

* the window, which the core counts (:attr:`dicomul.Connection.may_invoke`):
  a request waits for a free slot;
* a message lock: one DIMSE message at a time goes out whole, its data set
  streamed through the core's push API (:meth:`dicomul.Connection.start_message`),
  so that a 2 GiB file never sits in memory (PS3.8 9.3.5: messages are not
  interleaved);
* the :class:`~._dispatch.Dispatcher`, which files each response under the
  Message ID it answers, whichever task read it.

A task cancelled while its message is half sent cannot leave the peer a
partial message: the core says the association must be aborted
(:meth:`dicomul.OutgoingMessage.abandon`), and it is (A-ABORT, connection
closed).  Requests are built by the core's builders, responses put
together by its :class:`~dicomul.ResponseCollector`: nothing here is a
DICOM rule.

Leaving the ``async with`` block releases the association; an exception
(cancellation included) inside it aborts it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import anyio
import anyio.abc
from dicomul_common.events import (
    Connecting,
    Event,
    EventBinding,
    Handler,
    HandlerRegistry,
    ServiceUser,
    WireEvents,
    notify,
)
from dicomul_common.outgoing import Outgoing, store_request
from dicomul_common.requests import current_request
from dicomul_common.responses import command_dataset

from dicomul import (
    DEFAULT_MAX_PDU_LENGTH,
    EVT_ABORTED,
    EVT_ACCEPTED,
    EVT_C_STORE,
    EVT_CONN_CLOSE,
    EVT_CONN_OPEN,
    EVT_REJECTED,
    EVT_RELEASED,
    EVT_REQUESTED,
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    VERIFICATION_SOP_CLASS,
    Aborted,
    AbortReason,
    AbortSource,
    AcceptedContext,
    AssociationAccepted,
    AssociationRejected,
    AssociationRequest,
    BytesLike,
    Command,
    CommandField,
    Connection,
    ConnectionClosed,
    ContextSetting,
    EventType,
    GeneralStatus,
    Negotiated,
    OutgoingMessage,
    Priority,
    ProposedContext,
    RejectedContext,
    Released,
    ReleaseRequested,
    RequestAssociation,
    RequestRelease,
    Response,
    Role,
    Status,
    UserIdentity,
    c_echo_rq,
    c_find_rq,
    c_get_rq,
    c_move_rq,
    c_store_rq,
    check_ae_title,
    check_implementation_class_uid,
    check_implementation_version_name,
    check_priority,
    missing_context_reason,
    model_sop_class,
    n_action_rq,
    n_create_rq,
    n_delete_rq,
    n_event_report_rq,
    n_get_rq,
    n_set_rq,
    rejected_contexts,
    requestor_proposal,
)

from ._direct import DirectSocketStream, open_direct
from ._dispatch import AssociationAbortedError, Dispatcher
from ._driver import GONE, Driver
from ._events import check_notification_handler
from ._push import GRACE, Body, prefetch, push_data_set
from ._scu_services import OnCStore, OnRequest, StoreTarget, SubOperationServer
from ._services import call

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


class NoAcceptedContextError(Exception):
    """No accepted presentation context carries the request."""


#: An outgoing data set: whole, or chunks read as they are sent.
_Body = Body


class AsyncAssociation:
    """An established association; any number of tasks may use it at once."""

    def __init__(
        self,
        driver: Driver,
        request: AssociationRequest,
        *,
        drain_timeout: float,
        on_n_event_report: OnRequest | None = None,
        registry: HandlerRegistry | None = None,
        address: tuple[str, int] = ("", 0),
    ) -> None:
        #: This association's event handlers (``evt_handlers``, :meth:`bind`).
        self.registry = registry if registry is not None else HandlerRegistry()
        #: The peer's (host, port), as connected to.
        self.address = address
        self._driver = driver
        self._request = request
        self._conn = driver.conn
        self._message_lock = anyio.Lock(fast_acquire=True)  # no loop trip when free
        self._services = SubOperationServer(
            self.negotiated,
            self._respond,
            on_n_event_report=on_n_event_report,
            implementation=(request.implementation_class_uid, request.implementation_version_name),
        )
        self._dispatcher = Dispatcher(driver, self._services.serve)
        self._drain_timeout = drain_timeout
        # Outstanding C-FIND/C-GET/C-MOVE requests (cancelled at release).
        self._queries: set[int] = set()
        #: The command set of the last C-FIND/C-GET/C-MOVE response, as a
        #: Dataset (sub-operation counts, error comment).
        self.last_response: Dataset | None = None
        # Whether the end (EVT_RELEASED or EVT_ABORTED) and the close
        # (EVT_CONN_CLOSE) were notified: each once.
        self._end_told = False
        self._close_told = False
        if driver.wire is not None:
            driver.wire.assoc = self  # the wire's events name the association now
        driver.observe = self._observe

    @property
    def negotiated(self) -> Negotiated:
        """What the association agreed (contexts, maximum PDU lengths, window...)."""
        assert self._conn.negotiated is not None
        return self._conn.negotiated

    @property
    def is_established(self) -> bool:
        return self._conn.can_send_messages and not self._driver.closed

    @property
    def accepted_contexts(self) -> list[AcceptedContext]:
        """The presentation contexts the peer accepted (``context_id``,
        ``abstract_syntax``, the ``transfer_syntax`` it chose, this side's
        roles ``requestor_is_scu``/``requestor_is_scp``), as the blocking
        Association's."""
        return list(self.negotiated.contexts.values())

    @property
    def rejected_contexts(self) -> list[RejectedContext]:
        """The proposed contexts the peer rejected, each with its ``result``
        (PS3.8 Table 9-18) and what was proposed."""
        return list(rejected_contexts(self._request.contexts, self.negotiated))

    @property
    def user_identity_response(self) -> bytes | None:
        """The peer's server response to the user identity asserted
        (PS3.7 D.3.3.7.2), if it sent one: empty for the username types, a
        Kerberos ticket or a SAML/JWT response otherwise."""
        return self.negotiated.user_identity_response

    @property
    def acceptor(self) -> ServiceUser:
        """The peer: the AE title called and its (host, port) (pynetdicom's
        ``assoc.acceptor``)."""
        return ServiceUser(self._request.called_ae_title, *self.address)

    @property
    def requestor(self) -> ServiceUser:
        """This side: its AE title (pynetdicom's ``assoc.requestor``)."""
        return ServiceUser(self._request.calling_ae_title, "", 0)

    # ------------------------------------------------------ event handlers

    def bind(
        self, event: EventType, handler: Handler, args: Sequence[object] | None = None
    ) -> None:
        """Call ``handler(event, *args)`` when ``event`` (``EVT_...``, the
        notification events) happens on this association from now on.
        EVT_PDU_SENT/RECV are framed only if a PDU handler was bound at
        :func:`connect` (a stream is framed from its start).  A notification
        handler is a plain function (TypeError for an ``async def``)."""
        if isinstance(event, EventType):
            check_notification_handler(event, handler)
        self.registry.bind(event, handler, args)

    def unbind(self, event: EventType, handler: Handler) -> None:
        """Stop calling ``handler`` for ``event`` on this association."""
        self.registry.unbind(event, handler)

    def get_handlers(self, event: EventType) -> object:
        """What is bound to ``event``: (handler, args) or None for an
        intervention event, a list of (handler, args) for a notification."""
        return self.registry.get_handlers(event)

    async def _event_store(self, dataset: Dataset) -> object:
        """A C-GET's C-STORE sub-operation, for the EVT_C_STORE handler bound."""
        handlers = self.registry.handlers(EVT_C_STORE)
        if not handlers:
            raise RuntimeError("the EVT_C_STORE handler was unbound during the C-GET")
        handler, args = handlers[0]
        event = Event(self, EVT_C_STORE, {"dataset": dataset}, service=current_request())
        return await call(handler, event, *args)

    def _observe(self, event: object) -> None:
        """The association's end, as the core reports it (PS3.8 7.2, 7.3)."""
        if isinstance(event, Released | ReleaseRequested):
            self._end(EVT_RELEASED)
        elif isinstance(event, Aborted):
            self._end(EVT_ABORTED)

    def _end(self, event: EventType) -> None:
        if not self._end_told:
            self._end_told = True
            notify(self.registry, self, event)

    @property
    def outstanding_requests(self) -> frozenset[int]:
        """Message IDs of this side's requests awaiting their final response."""
        return self._conn.outstanding_requests

    # ----------------------------------------------------- DIMSE-C services

    async def c_echo(self) -> Dataset:
        """C-ECHO (PS3.7 9.1.5): the response's command set (``Status``...)."""
        context = self._context(VERIFICATION_SOP_CLASS)
        return await self._request_response(context.context_id, c_echo_rq, None)

    async def c_store(
        self,
        dataset: Dataset | str | os.PathLike[str] | AsyncIterable[BytesLike],
        *,
        sop_class_uid: str | None = None,
        sop_instance_uid: str | None = None,
        transfer_syntax: str | None = None,
        move_originator_ae_title: str | None = None,
        move_originator_message_id: int | None = None,
        priority: int | str = Priority.MEDIUM,
    ) -> Dataset:
        """C-STORE (PS3.7 9.1.1): the response's command set (``Status``...).

        ``dataset`` is a pydicom Dataset (encoded in the accepted transfer
        syntax), the path of a Part 10 file (its data set streamed from disk
        through worker threads as it is, never held whole, when its transfer
        syntax was accepted, otherwise re-encoded), or an async iterable of
        bytes: the data set already encoded in ``transfer_syntax``, which a
        context must have accepted for ``sop_class_uid`` (both required
        then, with ``sop_instance_uid``).

        ``move_originator_ae_title`` and ``move_originator_message_id``, given
        together, say that this C-STORE is a sub-operation of the C-MOVE
        that AE requested with that message ID (PS3.7 9.3.1.1, Table 9.3-1,
        (0000,1030) and (0000,1031)); a C-MOVE SCP relaying its matches sets
        them.  One without the other raises TypeError, a bad AE title or a
        message ID that is not 0 to 65535 ValueError.

        ``priority`` is the request's Priority (0000,0700): ``Priority.LOW``
        (2), ``MEDIUM`` (0, the default) or ``HIGH`` (1), or its name; anything
        else raises ValueError before anything is sent (PS3.7 9.1,
        :func:`dicomul.check_priority`).  So for :meth:`c_find`,
        :meth:`c_get` and :meth:`c_move`.
        """
        originator = _move_originator(move_originator_ae_title, move_originator_message_id)
        priority = check_priority(priority)
        if isinstance(dataset, AsyncIterable):
            if sop_class_uid is None or sop_instance_uid is None or transfer_syntax is None:
                raise TypeError(
                    "a streamed data set needs sop_class_uid, sop_instance_uid and transfer_syntax"
                )
            context = self.negotiated.context_to_send(sop_class_uid, transfer_syntax)
            if context is None or context.transfer_syntax != transfer_syntax:
                raise NoAcceptedContextError(
                    f"no accepted presentation context for {sop_class_uid} in {transfer_syntax}"
                )
            stream = dataset
            return await self._request_response(
                context.context_id,
                lambda mid: c_store_rq(
                    mid,
                    sop_class_uid,
                    sop_instance_uid,
                    move_originator=originator,
                    priority=priority,
                ),
                stream,
            )
        negotiated = self.negotiated

        def prepare() -> tuple[int, Command, _Body]:
            from dicomul_common.outgoing import CannotSendError  # noqa: PLC0415

            item = Outgoing.of(dataset)
            try:
                context_id, command, body = store_request(
                    negotiated, item, 0, originator=originator, priority=priority
                )
                return context_id, command, prefetch(body)
            except CannotSendError as exc:
                if negotiated.context_for(item.sop_class_uid) is None:
                    raise self._no_context(item.sop_class_uid) from exc
                raise NoAcceptedContextError(str(exc)) from exc

        context_id, command, body = await anyio.to_thread.run_sync(prepare)
        return await self._request_response(
            context_id, lambda mid: dataclasses.replace(command, message_id=mid), body
        )

    def c_find(
        self, query: Dataset, model: str = "P", *, priority: int | str = Priority.MEDIUM
    ) -> AsyncIterator[tuple[Status, Dataset | None]]:
        """C-FIND (PS3.4 C.4.1) against query/retrieve ``model``: 'P' (Patient
        Root), 'S' (Study Root), 'O', 'W' (Modality Worklist), or a SOP class
        UID.  Yields (status, identifier) per Pending match, then the final
        status with None.

        Leaving the loop early (closing the iterator: ``break`` lets the
        event loop close it; ``contextlib.aclosing`` does so at once) sends a
        C-CANCEL and reads up to the final response, within the DIMSE timeout
        (or :data:`GRACE`), so that the association stays usable; past it,
        the association is aborted.  So do :meth:`c_get` and :meth:`c_move`.
        """
        return self._query(CommandField.C_FIND_RQ, query, model, priority=priority)

    def c_get(
        self,
        query: Dataset,
        model: str = "P",
        *,
        on_c_store: OnCStore | None = None,
        store_directory: str | os.PathLike[str] | None = None,
        priority: int | str = Priority.MEDIUM,
    ) -> AsyncIterator[tuple[Status, Dataset | None]]:
        """C-GET (PS3.4 C.4.3): the peer sends the matches on this association
        as C-STORE sub-operations, which this side stores as their SCP: in
        ``store_directory`` (durably, as Part 10 files) or through the
        ``on_c_store`` coroutine (given each Dataset; its answer, None or a
        status, is the sub-operation's status).  The storage classes must
        have been proposed with the SCP role (``connect(scp_sop_classes=...)``).
        Yields (status, identifier) per C-GET response; :attr:`last_response`
        holds the sub-operation counts.  One C-GET at a time.  Without either,
        an EVT_C_STORE handler bound on the association (``evt_handlers``,
        :meth:`bind`, as pynetdicom's) is called with an
        :class:`~dicomul_common.events.Event` (``event.dataset`` with its
        ``file_meta``, ``event.context``, ``event.request``); it may be an
        ``async def``, and returns the status."""
        if on_c_store is None and store_directory is None and self.registry.has(EVT_C_STORE):
            on_c_store = self._event_store
        if (on_c_store is None) == (store_directory is None):
            raise TypeError("give exactly one of on_c_store and store_directory")
        target = StoreTarget(on_c_store=on_c_store, store_directory=store_directory)
        return self._query(CommandField.C_GET_RQ, query, model, target=target, priority=priority)

    def c_move(
        self,
        query: Dataset,
        destination: str,
        model: str = "P",
        *,
        priority: int | str = Priority.MEDIUM,
    ) -> AsyncIterator[tuple[Status, Dataset | None]]:
        """C-MOVE (PS3.4 C.4.2): the peer stores the matches on the AE titled
        ``destination``.  Yields (status, identifier) per response;
        :attr:`last_response` holds the sub-operation counts."""
        return self._query(
            CommandField.C_MOVE_RQ, query, model, destination=destination, priority=priority
        )

    def _query(
        self,
        field: CommandField,
        query: Dataset,
        model: str,
        *,
        priority: int | str,
        destination: str | None = None,
        target: StoreTarget | None = None,
    ) -> AsyncIterator[tuple[Status, Dataset | None]]:
        """The responses to a query; the model and priority are checked now
        (ValueError), before anything is sent."""
        sop_class = model_sop_class(field, model)
        checked = check_priority(priority)

        def build(message_id: int) -> Command:
            if field == CommandField.C_MOVE_RQ:
                assert destination is not None
                return c_move_rq(message_id, sop_class, destination, priority=checked)
            return (c_get_rq if field == CommandField.C_GET_RQ else c_find_rq)(
                message_id, sop_class, priority=checked
            )

        return self._query_responses(sop_class, build, query, target)

    async def _query_responses(
        self,
        sop_class: str,
        build: Callable[[int], Command],
        query: Dataset,
        target: StoreTarget | None,
    ) -> AsyncIterator[tuple[Status, Dataset | None]]:
        from dicomul import decode_dataset, encode_dataset  # noqa: PLC0415

        context = self._context(sop_class)
        syntax = context.transfer_syntax

        if target is not None:
            if self._services.target is not None:
                raise RuntimeError("a C-GET is already in progress on this association")
            self._services.target = target
        finished = False
        message_id: int | None = None
        try:
            message_id = await self._send_request(
                context.context_id, build, encode_dataset(query, syntax)
            )
            self._queries.add(message_id)
            while not finished:
                response = await self._dispatcher.response(message_id)
                finished = response.is_final
                self.last_response = command_dataset(response.command)
                found = (
                    None
                    if response.data_set is None
                    else decode_dataset(response.data_set, syntax)
                )
                yield Status(response.command.status or GeneralStatus.SUCCESS), found
        finally:
            if message_id is not None:
                if not finished:
                    with anyio.CancelScope(shield=True):
                        await self._cancel_and_drain(message_id)
                self._queries.discard(message_id)
            if target is not None:
                self._services.target = None

    async def _cancel_and_drain(self, message_id: int) -> None:
        """C-CANCEL an abandoned query and read up to its final response
        (PS3.7 9.3.2.3), within the drain time; past it, abort."""
        with anyio.move_on_after(self._drain_timeout) as waiting:
            with contextlib.suppress(AssociationAbortedError):
                if message_id in self._conn.outstanding_requests and self.is_established:
                    async with self._message_lock:
                        if message_id in self._conn.outstanding_requests:
                            now = anyio.current_time()
                            self._conn.cancel_for(message_id, now=now)
                            await self._driver.flush()
                while message_id in self._conn.outstanding_requests or self._dispatcher.queued(
                    message_id
                ):
                    response = await self._dispatcher.response(message_id)
                    self.last_response = command_dataset(response.command)
                    if response.is_final:
                        break
        if waiting.cancelled_caught:
            await self.abort()

    # ----------------------------------------------------- DIMSE-N services

    async def n_event_report(
        self,
        dataset: Dataset | None,
        event_type: int,
        class_uid: str,
        instance_uid: str,
        *,
        meta_uid: str | None = None,
    ) -> tuple[Dataset, Dataset | None]:
        """Report an event on a SOP instance (N-EVENT-REPORT, PS3.7 10.1.1).

        Every DIMSE-N method returns (status, reply): the response's command
        set as a Dataset (``Status`` at least) and its data set, decoded, or
        None.  ``meta_uid`` names the presentation context's abstract syntax
        when it is a Meta SOP class rather than ``class_uid``.
        """
        return await self._normalized(
            meta_uid or class_uid,
            dataset,
            lambda mid, with_data: n_event_report_rq(
                mid, class_uid, instance_uid, event_type, with_data_set=with_data
            ),
        )

    async def n_get(
        self,
        identifier_list: Sequence[int],
        class_uid: str,
        instance_uid: str,
        *,
        meta_uid: str | None = None,
    ) -> tuple[Dataset, Dataset | None]:
        """Get attribute values of a SOP instance (N-GET, PS3.7 10.1.2); an
        empty ``identifier_list`` (of tags) asks for all of them."""
        return await self._normalized(
            meta_uid or class_uid,
            None,
            lambda mid, _: n_get_rq(
                mid, class_uid, instance_uid, attributes=[int(t) for t in identifier_list] or None
            ),
        )

    async def n_set(
        self,
        modification_list: Dataset,
        class_uid: str,
        instance_uid: str,
        *,
        meta_uid: str | None = None,
    ) -> tuple[Dataset, Dataset | None]:
        """Set attribute values of a SOP instance (N-SET, PS3.7 10.1.3)."""
        return await self._normalized(
            meta_uid or class_uid,
            modification_list,
            lambda mid, _: n_set_rq(mid, class_uid, instance_uid),
        )

    async def n_action(
        self,
        dataset: Dataset | None,
        action_type: int,
        class_uid: str,
        instance_uid: str,
        *,
        meta_uid: str | None = None,
    ) -> tuple[Dataset, Dataset | None]:
        """Ask for an action on a SOP instance (N-ACTION, PS3.7 10.1.4)."""
        return await self._normalized(
            meta_uid or class_uid,
            dataset,
            lambda mid, with_data: n_action_rq(
                mid, class_uid, instance_uid, action_type, with_data_set=with_data
            ),
        )

    async def n_create(
        self,
        dataset: Dataset | None,
        class_uid: str,
        instance_uid: str | None = None,
        *,
        meta_uid: str | None = None,
    ) -> tuple[Dataset, Dataset | None]:
        """Create a SOP instance (N-CREATE, PS3.7 10.1.5); without
        ``instance_uid`` the peer assigns one, returned in the status
        Dataset's AffectedSOPInstanceUID."""
        return await self._normalized(
            meta_uid or class_uid,
            dataset,
            lambda mid, with_data: n_create_rq(
                mid, class_uid, instance_uid, with_data_set=with_data
            ),
        )

    async def n_delete(
        self, class_uid: str, instance_uid: str, *, meta_uid: str | None = None
    ) -> tuple[Dataset, Dataset | None]:
        """Delete a SOP instance (N-DELETE, PS3.7 10.1.6)."""
        return await self._normalized(
            meta_uid or class_uid, None, lambda mid, _: n_delete_rq(mid, class_uid, instance_uid)
        )

    async def _normalized(
        self,
        abstract_syntax: str,
        dataset: Dataset | None,
        build: Callable[[int, bool], Command],
    ) -> tuple[Dataset, Dataset | None]:
        from dicomul import decode_dataset, encode_dataset  # noqa: PLC0415

        context = self._context(abstract_syntax)
        syntax = context.transfer_syntax
        body = None if dataset is None else encode_dataset(dataset, syntax)
        message_id = await self._send_request(
            context.context_id, lambda mid: build(mid, body is not None), body
        )
        response = await self._final(message_id)
        reply = None if response.data_set is None else decode_dataset(response.data_set, syntax)
        return command_dataset(response.command, comparable=True), reply

    # ------------------------------------------------------------ ending

    async def release(self) -> None:
        """Release the association (A-RELEASE) and close the connection.

        Queries left unfinished are cancelled first, and the requests still
        outstanding waited for (within the drain time); past it, abort."""
        if self.is_established:
            for message_id in list(self._queries):
                await self._cancel_and_drain(message_id)
            with anyio.move_on_after(self._drain_timeout) as waiting:
                with contextlib.suppress(AssociationAbortedError):
                    await self._dispatcher.wait_for(lambda: not self._conn.outstanding_requests)
            if waiting.cancelled_caught:
                await self.abort()
                return
        if self.is_established:
            async with self._message_lock:
                now = anyio.current_time()
                with contextlib.suppress(*GONE):
                    self._conn.send(RequestRelease(), now=now)
                    await self._driver.flush()
            with contextlib.suppress(AssociationAbortedError):
                await self._dispatcher.wait_for(lambda: self._conn.association_over)
        await self._closed()

    async def abort(self) -> None:
        """Abort the association (A-ABORT) and close the connection."""
        await self._driver.abort()
        self._dispatcher.end(ConnectionClosed())
        self._end(EVT_ABORTED)
        await self._closed()

    async def _closed(self) -> None:
        await self._driver.close()
        await self._services.close()
        if not self._end_told:  # ended without a release or abort seen: lost
            self._end(EVT_ABORTED)
        if not self._close_told:
            self._close_told = True
            notify(self.registry, self, EVT_CONN_CLOSE, address=self.address)

    # --------------------------------------------------------- the engine

    def _context(self, sop_class: str) -> AcceptedContext:
        self._check_standing()
        context = self.negotiated.context_for(sop_class)
        if context is None:
            raise self._no_context(sop_class)
        return context

    def _no_context(self, sop_class: str) -> NoAcceptedContextError:
        """The error for a request of ``sop_class``, which no accepted
        context carries, saying why (not proposed, rejected and how, or
        accepted without this side's role)."""
        reason = missing_context_reason(sop_class, self._request.contexts, self.negotiated)
        return NoAcceptedContextError(
            f"no accepted presentation context for {sop_class}: {reason}"
        )

    async def _request_response(
        self, context_id: int, build: Callable[[int], Command], body: _Body
    ) -> Dataset:
        message_id = await self._send_request(context_id, build, body)
        return command_dataset((await self._final(message_id)).command, comparable=True)

    async def _final(self, message_id: int) -> Response:
        while True:
            response = await self._dispatcher.response(message_id)
            if response.is_final:
                return response

    async def _send_request(
        self, context_id: int, build: Callable[[int], Command], body: _Body
    ) -> int:
        """Send a request once the window has room: its message ID."""
        while True:
            await self._dispatcher.wait_for(
                lambda: self._conn.may_invoke or not self._conn.can_send_messages
            )
            self._check_standing()
            async with self._message_lock:
                if not self._conn.may_invoke:
                    continue  # another task took the slot meanwhile
                command = build(self._conn.new_message_id())
                await self._send_locked(context_id, command, body)
            assert command.message_id is not None
            return command.message_id

    async def _respond(self, context_id: int, response: Command, body: bytes | None) -> None:
        """Answer a request of the peer's (a C-GET's C-STORE sub-operation,
        an N-EVENT-REPORT), with its data set if any."""
        if not self._conn.can_send_messages:
            return
        async with self._message_lock:
            if self._conn.can_send_messages:
                await self._send_locked(context_id, response, body)

    def _check_standing(self) -> None:
        if not self.is_established:
            raise AssociationAbortedError(self._dispatcher.ended or ConnectionClosed())

    async def _send_locked(self, context_id: int, command: Command, body: _Body) -> None:
        """Send one message under the message lock, its data set pushed as read."""
        message = self._driver.start_message(context_id, command)
        try:
            await push_data_set(self._driver, message, body)
            self._driver.deadline_changed()  # the wait for its response begins
        except GONE as exc:  # the peer went away mid-message
            self._dispatcher.end(ConnectionClosed())
            await self._abandon(message)
            raise AssociationAbortedError(self._dispatcher.ended or ConnectionClosed()) from exc
        except BaseException:
            await self._abandon(message)
            raise
        self._check_standing()

    async def _abandon(self, message: OutgoingMessage) -> None:
        """A message given up midway: the core aborts the association (or
        withdraws the message if none of it went out)."""
        with anyio.CancelScope(shield=True):
            standing = not self._conn.association_over
            message.abandon(now=anyio.current_time())
            if standing and self._conn.association_over:  # some of it went out: aborted
                with anyio.move_on_after(GRACE), contextlib.suppress(Exception):
                    await self._driver.flush()
                self._dispatcher.end(
                    Aborted(
                        source=AbortSource.SERVICE_USER,
                        reason=AbortReason.NOT_SPECIFIED,
                        by_peer=False,
                        message="a DIMSE message was abandoned midway",
                    )
                )
                await self._closed()


def _move_originator(ae_title: str | None, message_id: int | None) -> tuple[str, int] | None:
    """The Move Originator fields of a C-STORE-RQ (PS3.7 9.3.1.1), checked."""
    if ae_title is None and message_id is None:
        return None
    if ae_title is None or message_id is None:
        raise TypeError(
            "move_originator_ae_title and move_originator_message_id go together "
            "(PS3.7 9.3.1.1: both name the C-MOVE a sub-operation belongs to)"
        )
    if not isinstance(message_id, int) or isinstance(message_id, bool):
        raise TypeError(f"move_originator_message_id is an int, not {type(message_id).__name__}")
    if not 0 <= message_id <= 0xFFFF:
        raise ValueError(f"move_originator_message_id is 0 to 65535 (US), not {message_id}")
    return check_ae_title(ae_title), message_id


@contextlib.asynccontextmanager
async def connect(
    host: str,
    port: int,
    *,
    ae_title: str = "DICOMUL",
    called_ae_title: str = "ANY-SCP",
    sop_classes: Sequence[str] | None = None,
    scp_sop_classes: Sequence[str] | None = None,
    contexts: Sequence[ProposedContext] | None = None,
    requested_contexts: Sequence[ContextSetting] = (),
    transfer_syntaxes: Iterable[str] = DEFAULT_TRANSFER_SYNTAXES,
    max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH,
    max_operations: int = 1,
    user_identity: UserIdentity | None = None,
    implementation_class_uid: str = IMPLEMENTATION_CLASS_UID,
    implementation_version_name: str | None = IMPLEMENTATION_VERSION_NAME,
    acse_timeout: float | None = 30.0,
    dimse_timeout: float | None = None,
    network_timeout: float | None = None,
    ssl_context: ssl.SSLContext | None = None,
    on_n_event_report: OnRequest | None = None,
    ext_neg: Sequence[object] = (),
    evt_handlers: Iterable[EventBinding] = (),
) -> AsyncIterator[AsyncAssociation]:
    """Associate with the peer at ``host``:``port``; the block runs with the
    association established, which is released on leaving it and aborted on
    an exception.

    ``sop_classes`` are proposed as SCU, each with ``transfer_syntaxes``;
    without them, Verification and the storage SOP classes (as the blocking
    ``AE`` proposes ``StorageSOPClassList``), up to the 128 contexts an
    association carries.  When a C-GET model is among them, the storage
    classes ``scp_sop_classes`` (default: the storage SOP classes) are
    proposed too, with the SCP role (PS3.7 D.3.3.4), for the C-GET's
    C-STORE sub-operations.  ``requested_contexts``
    (:class:`dicomul.ContextSetting`, pynetdicom's ``add_requested_context``)
    are proposed first, each with its own transfer syntaxes (None:
    ``transfer_syntaxes``) and, if it sets a role, its SCP/SCU role
    selection (PS3.7 D.3.3.4; ``scp_role=True`` for the storage classes a
    C-GET brings back); then one context per SOP class they do not name.
    ``contexts`` replaces the proposed contexts
    outright.  ``max_operations`` above 1 proposes that many outstanding
    requests (the asynchronous operations window, PS3.7 D.3.3.3: invoked;
    one performed), so that tasks may pipeline requests; the window the
    peer accepts is respected.  ``user_identity`` (a
    :class:`dicomul.UserIdentity`: ``.username(name, passcode)``,
    ``.kerberos(ticket)``, ``.saml(assertion)``, ``.jwt(token)``) is asserted
    in the A-ASSOCIATE-RQ (PS3.7 D.3.3.7); the peer's server response is then
    :attr:`AsyncAssociation.user_identity_response`.
    ``implementation_class_uid`` and ``implementation_version_name`` (PS3.7
    D.3.3.2; dicomul's unless given, None for no version name) are checked
    (ValueError) and sent.  ``host`` may be an IPv6 address ('::1').
    ``acse_timeout`` bounds connecting
    and each association negotiation step, ``dimse_timeout`` each wait for
    a response (it starts once the request is written whole: a slow upload
    is not a late peer), ``network_timeout`` an association idle.
    ``on_n_event_report`` serves the N-EVENT-REPORTs the peer sends on the
    association (PS3.7 10.1.1; Storage Commitment's result, PS3.4 J.3.3):
    it gets the :class:`~dicomul_common.requests.ServiceRequest` (its
    ``dataset`` the Event Information) and returns a status, or (status,
    Event Reply data set); without it they are answered 0x0211.

    ``ext_neg`` lists extended negotiation items (PS3.7 D.3.3), as
    ``dicomul_sync``'s ``associate(ext_neg=...)`` and pynetdicom's do: the
    core's :class:`dicomul.AsynchronousOperationsWindowNegotiation` (over
    ``max_operations``), :class:`dicomul.RoleProposal`,
    :class:`dicomul.SOPClassExtendedNegotiation`,
    :class:`dicomul.SOPClassCommonExtendedNegotiation` and
    :class:`dicomul.UserIdentity` (one identity at most, with
    ``user_identity`` too: ValueError; another type: TypeError); what the
    peer answered is in :attr:`AsyncAssociation.negotiated`.

    ``evt_handlers`` binds handlers to the notification events of this
    association, as ``[(EVT_ACCEPTED, handler), (EVT_PDU_SENT, handler,
    [args])]`` (the event types are the core's, ``dicomul.EVT_...``):
    EVT_CONN_OPEN, EVT_REQUESTED, then EVT_ACCEPTED, EVT_REJECTED or
    EVT_ABORTED, later EVT_RELEASED or EVT_ABORTED, and EVT_CONN_CLOSE;
    EVT_DATA_SENT/RECV, EVT_PDU_SENT/RECV, EVT_DIMSE_SENT/RECV and
    EVT_FSM_TRANSITION as they happen.  Each is called ``handler(event,
    *args)`` with a :class:`dicomul_common.events.Event` (``assoc``,
    ``event``, ``timestamp`` and the event's own attributes) synchronously,
    in the task where the event happens: a plain function, which should
    be quick; what it returns is ignored and a raise is logged.  Before
    the association is accepted ``event.assoc`` is a
    :class:`dicomul_common.events.Connecting`, then the
    :class:`AsyncAssociation`.

    Raises :class:`AssociationRejectedError` or :class:`AssociationAbortedError`
    if it is not established (the latter also when the connection cannot be
    made, the TLS handshake fails or the peer resets it: the transport's
    error is its ``__cause__``), TimeoutError if the peer does not answer
    within ``acse_timeout``.
    """
    from dicomul_common.sop_classes import StorageSOPClassList  # noqa: PLC0415

    if sop_classes is None:
        sop_classes = [VERIFICATION_SOP_CLASS, *StorageSOPClassList]  # cut at MAX_CONTEXTS
    proposal = requestor_proposal(
        calling_ae_title=ae_title,
        called_ae_title=called_ae_title,
        scu_sop_classes=sop_classes,
        scp_sop_classes=StorageSOPClassList if scp_sop_classes is None else scp_sop_classes,
        transfer_syntaxes=list(transfer_syntaxes),
        max_pdu_length=max_pdu_length,
        contexts=contexts,
        requested_contexts=requested_contexts,
        user_identity=user_identity,
        implementation_class_uid=check_implementation_class_uid(implementation_class_uid),
        implementation_version_name=check_implementation_version_name(implementation_version_name),
    )
    request = dataclasses.replace(
        proposal.request,
        asynchronous_operations=None if max_operations == 1 else (max_operations, 1),
    ).with_negotiation(ext_neg)  # PS3.7 D.3.3: checked before connecting
    registry = HandlerRegistry(evt_handlers)
    for binding in registry.bindings():
        check_notification_handler(binding[0], binding[1])
        if binding[0].is_intervention and binding[0] is not EVT_C_STORE:
            raise ValueError(
                f"{binding[0]} is not an event of an association requested "
                "(EVT_C_STORE for a C-GET's sub-operations is): bind it on serve()"
            )
    stream: anyio.abc.ByteStream
    with anyio.fail_after(acse_timeout):
        try:
            if ssl_context is None:
                stream = await open_direct(host, port)
            else:
                stream = await anyio.connect_tcp(
                    host, port, ssl_context=ssl_context, tls_standard_compatible=False
                )
        except GONE as exc:  # refused, unreachable, or a TLS handshake that failed
            raise AssociationAbortedError(ConnectionClosed(), reason=f"{exc}") from exc
    conn = Connection(
        Role.REQUESTOR,
        acse_timeout=acse_timeout,
        dimse_timeout=dimse_timeout,
        network_timeout=network_timeout,
    )
    driver = Driver(stream, conn, stream if isinstance(stream, DirectSocketStream) else None)
    address = (host, port)
    peer = Connecting(address, request)
    # Always: handlers bound later (AsyncAssociation.bind) are told too.
    driver.wire = WireEvents(registry, peer, frame_pdus=WireEvents.wanted(registry))
    driver.wire.transitions(conn)  # recording from AE-1 on, if wanted
    notify(registry, peer, EVT_CONN_OPEN, address=address)

    async def fail(event: EventType) -> None:
        """Not established: ``event``, then the connection closed."""
        await driver.close()
        notify(registry, peer, event)
        notify(registry, peer, EVT_CONN_CLOSE, address=address)

    try:
        conn.send(RequestAssociation(request=request), now=anyio.current_time())  # AE-1
        conn.transport_connected(now=anyio.current_time())  # AE-2
        await driver.flush()
        notify(registry, peer, EVT_REQUESTED)
        answer = await driver.next_event()
    except GONE as exc:  # the peer reset before the A-ASSOCIATE-RQ was written
        await fail(EVT_ABORTED)
        raise AssociationAbortedError(ConnectionClosed(), reason=f"{exc!r}") from exc
    except BaseException:
        with anyio.CancelScope(shield=True):
            await fail(EVT_ABORTED)
        raise
    if isinstance(answer, AssociationRejected):
        await fail(EVT_REJECTED)
        raise AssociationRejectedError(answer)
    if not isinstance(answer, AssociationAccepted):
        await fail(EVT_ABORTED)
        assert isinstance(answer, Aborted | ConnectionClosed), answer
        raise AssociationAbortedError(answer)
    assoc = AsyncAssociation(
        driver,
        request,
        drain_timeout=dimse_timeout or GRACE,
        on_n_event_report=on_n_event_report,
        registry=registry,
        address=address,
    )
    notify(registry, assoc, EVT_ACCEPTED)
    try:
        yield assoc
    except BaseException:
        with anyio.CancelScope(shield=True):
            await assoc.abort()
        raise
    with anyio.CancelScope(shield=True):
        await assoc.release()
