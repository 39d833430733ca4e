"""The SCP side of every DIMSE service, for one association, on anyio.

The rules are the core's: :class:`dicomul.FindOperation` and
:class:`dicomul.RetrieveOperation` say what to answer to each match, to a
C-CANCEL and to a failing handler; :func:`dicomul.outcome_status` (through
:mod:`dicomul_common.handling`) what a handler's raise becomes;
:class:`dicomul.InstanceCreation` the N-CREATE instance UID;
:class:`dicomul.StoreCheck` whether a received data set is the instance
asked for, whole.  Here are the awaits: calling the handlers, moving the
data sets, blocking file work in worker threads (``anyio.to_thread``).

One task serves an association: it reads the peer's events through the
:class:`~._driver.Driver` and answers each request in turn; while it
performs a C-FIND, C-GET or C-MOVE it looks at what the peer has sent
meanwhile (read ahead by :class:`~._pump.PumpedStream`) for a C-CANCEL,
keeping any other event for later.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
from dicomul_common.handling import (
    MAX_REQUEST_DATA_SET,
    CollectedDataSet,
    HeldEvents,
    answer_of,
    decode_data_set,
    handler_failure_status,
    is_peer_data_error,
    logged_failure_status,
    storage_failure_status,
)
from dicomul_common.outgoing import CannotSendError, Outgoing, store_request
from dicomul_common.requests import ServiceRequest, serving

from dicomul import (
    NEED_DATA,
    Aborted,
    Command,
    CommandField,
    CommandReceived,
    ConnectionClosed,
    DataSetFragment,
    FindOperation,
    HandlerOutcome,
    InstanceCreation,
    Reply,
    RetrieveOperation,
    StoreCheck,
    answer_status,
    handler_refusal,
    is_cancel_request,
    outcome_status,
    response_for,
    service_name,
    unhandled_status,
)

from ._driver import GONE
from ._push import GRACE, Body, push_data_set

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from ._driver import Driver
    from ._handlers import AsyncStoreSink, Handlers
    from ._pump import PumpedStream

__all__ = ["AsyncServices"]

LOGGER = logging.getLogger("dicomul.anyio.services")

#: Opens the association a C-MOVE's sub-operations go over: (destination
#: AE title, (host, port), the instances to send, the move originator's AE
#: title and message ID) -> an async context manager giving a callable that
#: C-STOREs one instance (its status).
MoveRelay = Callable[[str, tuple[str, int], list[Outgoing], tuple[str, int]], Any]


async def call(handler: Callable[..., Any], *args: object) -> Any:
    """Call ``handler``; await what it returns if it is awaitable."""
    result = handler(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


async def _each(handler: Callable[..., Any], *args: object) -> AsyncIterator[object]:
    """The items ``handler(*args)`` gives: an async iterable, an iterable,
    or an awaitable giving either.  The handler is called on the first
    item asked, so that whatever it raises, even at once, comes from there."""
    result = handler(*args)
    if inspect.isawaitable(result):
        result = await result
    if hasattr(result, "__aiter__"):
        try:
            async for item in result:
                yield item
        finally:
            aclose = getattr(result, "aclose", None)
            if aclose is not None:
                await aclose()
    else:
        for item in result:
            yield item


class AsyncServices:
    """Serve the requests arriving on one association through ``handlers``."""

    def __init__(
        self,
        handlers: Handlers,
        driver: Driver,
        pumped: PumpedStream,
        *,
        move_relay: MoveRelay | None = None,
    ) -> None:
        self.handlers = handlers
        self.driver = driver
        self.conn = driver.conn
        self.pumped = pumped
        self.move_relay = move_relay
        #: Events taken from the connection early (while looking for a
        #: C-CANCEL, or waiting for a response), for the association's loop
        #: to handle next, in order; bounded (:meth:`_hold`).
        self.held = HeldEvents()
        # A request whose data set is arriving, and where it goes.
        self._incoming: tuple[ServiceRequest, _Incoming] | None = None
        # Requests refused for their context (Negotiated.refusal_for), by message ID.
        self._refused: dict[int, int] = {}

    # ------------------------------------------------------------ events in

    async def handle(self, event: object) -> bool:
        """Take ``event`` if it belongs to a request; False leaves it to the caller."""
        if isinstance(event, CommandReceived) and not event.command.is_response:
            command = event.command
            LOGGER.info(
                "Received %s Request (MsgID %s)",
                service_name(command.command_field),
                command.message_id or command.message_id_being_responded_to,
            )
            if is_cancel_request(event):  # the connection notes it: conn.cancel_requested
                return True
            request = self._request(event.context_id, command)
            if request is None:
                return True
            refusal = request.negotiated.refusal_for(
                request.context_id, command, sender_is_requestor=not self.conn.is_requestor
            )
            if refusal is not None:
                LOGGER.warning("Refusing it on context %s: 0x%04X", request.context_id, refusal)
                self._refused[command.message_id or 0] = refusal
            if command.has_data_set:
                with serving(request):
                    incoming = _Incoming(request.command.command_field)
                    if refusal is None:
                        await incoming.open(self._sink_for(request))
                    else:
                        await incoming.open(_collected)
                self._incoming = (request, incoming)
            else:
                await self._serve(request, None)
            return True
        if isinstance(event, DataSetFragment) and self._incoming is not None:
            request, incoming = self._incoming
            if request.command.message_id not in self._refused:
                with serving(request):
                    await incoming.write(event.data)
            if event.is_last:
                self._incoming = None
                await self._serve(request, incoming)
            return True
        return False

    async def close(self) -> None:
        """The association is over (or cancelled): keep nothing partial (PS3.4 B.2.3)."""
        if self._incoming is not None:
            request, incoming = self._incoming
            self._incoming = None
            with anyio.CancelScope(shield=True), serving(request):
                await incoming.discard()

    def _request(self, context_id: int, command: Command) -> ServiceRequest | None:
        negotiated = self.conn.negotiated
        if negotiated is None or context_id not in negotiated.contexts:
            return None  # the engine refuses such PDVs; nothing to answer
        transfer_syntax = negotiated.contexts[context_id].transfer_syntax
        return ServiceRequest(command, context_id, transfer_syntax, negotiated)

    def _sink_for(self, request: ServiceRequest) -> Callable[[], Awaitable[object]]:
        """The factory of the sink for ``request``'s data set."""
        field = CommandField(request.command.command_field)
        if field != CommandField.C_STORE_RQ:
            return _collected
        handlers = self.handlers
        check = StoreCheck(request.command, request.transfer_syntax)
        stream = handlers.on_c_store_stream
        if stream is not None:
            return lambda: _checked(call(stream, request), check)
        directory = handlers.store_directory
        if directory is not None:
            # the check is CheckedStore's own, with the file work
            return lambda: _DirectorySink.open(directory, request, handlers)
        if handlers.on_c_store is not None:
            on_c_store = handlers.on_c_store
            return lambda: _checked(_dataset_sink(on_c_store, request), check)
        return _not_implemented

    # ------------------------------------------------------------- serving

    async def _serve(self, request: ServiceRequest, incoming: _Incoming | None) -> None:
        with serving(request):
            await self._serve_current(request, incoming)

    async def _serve_current(self, request: ServiceRequest, incoming: _Incoming | None) -> None:
        refusal = self._refused.pop(request.command.message_id or 0, None)
        if refusal is not None:
            if incoming is not None:
                await incoming.discard()
            await self._respond(request, refusal)
            return
        field = CommandField(request.command.command_field)
        if field == CommandField.C_STORE_RQ:
            assert incoming is not None
            await self._respond(request, await incoming.finish())
            return
        if incoming is not None:
            data = incoming.collected()
            if data is None:  # the failure logged, and no other
                await self._respond(request, incoming.failure or _failure(field))
                return
            try:
                dataset = decode_data_set(
                    data, request.transfer_syntax, max_inflated_size=MAX_REQUEST_DATA_SET
                )
            except Exception:
                LOGGER.exception("cannot decode the data set of a %s", field.name)
                await self._respond(request, _failure(field))
                return
            request = dataclasses.replace(request, dataset=dataset)
        with serving(request):  # now with its data set decoded
            await _SERVERS[field](self, request)

    async def _respond(
        self, request: ServiceRequest, status: int, data_set: bytes | None = None, **fields: object
    ) -> None:
        if not self.conn.can_send_messages:
            return
        response = response_for(
            request.command, int(status), with_data_set=data_set is not None, **fields
        )
        await self.driver.send_message(request.context_id, response, data_set)

    async def _reply(self, request: ServiceRequest, reply: Reply) -> None:
        """Send one of the core operation's replies to ``request``."""
        await self._respond(request, reply.status, reply.data_set, **reply.counts)

    async def _echo(self, request: ServiceRequest) -> None:
        handler = self.handlers.on_c_echo
        if handler is None:  # answering is the whole service (dicomul.unhandled_status)
            status = unhandled_status(request.command.command_field)
        else:
            status = (await _answer(handler, (), request.command.command_field))[0]
        await self._respond(request, status)

    async def _find(self, request: ServiceRequest) -> None:
        """C-FIND (PS3.4 C.4.1.2): the core's :class:`dicomul.FindOperation`
        answers each match, the peer's C-CANCEL (looked for before each
        match is sent) and a handler that fails; the server goes on."""
        handler = self.handlers.on_c_find
        if handler is None:
            await self._respond(request, _not_served(request))
            return
        query = FindOperation(request.transfer_syntax)
        items = _each(handler, _identifier(request))
        try:
            while not query.done and self.conn.can_send_messages:
                try:
                    item = await items.__anext__()
                    reply = query.match(item, cancelled=self._cancel_requested(request))
                except StopAsyncIteration:
                    reply = query.exhausted()
                except Exception:
                    reply = query.failed()
                    LOGGER.exception("on_c_find failed; answering 0x%04X", reply.status)
                await self._reply(request, reply)
        finally:
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await items.aclose()  # type: ignore[attr-defined]

    async def _get(self, request: ServiceRequest) -> None:
        """C-GET (PS3.4 C.4.3.3): each match goes back over this association
        as a C-STORE sub-operation, a pending response after each."""
        handler = self.handlers.on_c_get
        if handler is None:
            await self._respond(request, _not_served(request))
            return
        items = await self._matches(request, lambda: handler(_identifier(request)))
        if items is not None:
            await self._suboperations(request, _retrieve(request, items), items, self._store_here)

    async def _move(self, request: ServiceRequest) -> None:
        """C-MOVE (PS3.4 C.4.2.3): each match goes to the move destination
        over an association this server requests, a pending response after each."""
        destination, address = RetrieveOperation.destination_address(
            request.command, self.handlers.move_destinations
        )
        handler = self.handlers.on_c_move
        if handler is None:
            await self._respond(request, _not_served(request))
            return
        if address is None:
            LOGGER.error("Move destination %r is unknown", destination)
            await self._reply(request, RetrieveOperation.destination_unknown())
            return
        items = await self._matches(request, lambda: handler(_identifier(request), destination))
        if items is None:
            return
        retrieve = _retrieve(request, items)
        if not retrieve.has_suboperations or self.move_relay is None:
            # Nothing to send: no association to open (or none can be).
            await self._suboperations(request, retrieve, items, _cannot_send)
            return
        # The sub-operations name this C-MOVE as their originator (PS3.7
        # 9.3.1.1, Table 9.3-1: Move Originator AE Title and Message ID).
        originator = (request.calling_ae_title, request.command.message_id or 0)
        async with self.move_relay(destination, address, items, originator) as send:
            await self._suboperations(request, retrieve, items, send)

    async def _matches(
        self, request: ServiceRequest, handler: Callable[[], Any]
    ) -> list[Outgoing] | None:
        """The handler's matches, described; None if it refused the request
        (:func:`dicomul.handler_refusal`) or failed (its reply sent)."""
        try:
            items = [item async for item in _each(handler)]
            refusal = handler_refusal(items)
            if refusal is None:
                return await anyio.to_thread.run_sync(_describe, items)  # reads file metas
        except Exception:
            reply = RetrieveOperation.failed(request.command.command_field)
            LOGGER.exception("retrieve handler failed; answering 0x%04X", reply.status)
            await self._reply(request, reply)
            return None
        await self._reply(request, RetrieveOperation.refused(refusal))
        return None

    async def _suboperations(
        self,
        request: ServiceRequest,
        retrieve: RetrieveOperation,
        items: list[Outgoing],
        send: Callable[[Outgoing], Awaitable[int | None]],
    ) -> None:
        """One C-STORE sub-operation per item, as the core's ``retrieve``
        says: a C-CANCEL looked for before each, a pending response after
        each but the last, then the final response (PS3.4 C.4.2.2, C.4.3.2)."""
        for item in items:
            stop = self._cancel_requested(request) or not self.conn.can_send_messages
            if not retrieve.proceed(cancelled=stop):
                break
            try:
                status = await send(item)
            except Exception:  # a file that cannot be read, a data set that cannot be encoded
                LOGGER.exception("sub-operation for %s failed", item.sop_instance_uid)
                status = None
            pending = retrieve.performed(status)
            if pending is not None:
                await self._reply(request, pending)
        await self._reply(request, retrieve.final())

    async def _store_here(self, item: Outgoing) -> int | None:
        """A C-GET sub-operation: C-STORE ``item`` to the peer on this
        association; its response status, or None if it could not be sent."""
        negotiated = self.conn.negotiated
        assert negotiated is not None
        message_id = self.conn.new_message_id()
        try:
            context_id, command, body = await anyio.to_thread.run_sync(
                functools.partial(
                    store_request, negotiated, item, message_id, requestor_as_scp=True
                )
            )
        except CannotSendError as exc:
            LOGGER.error("C-GET sub-operation for %s: %s", item.sop_instance_uid, exc)
            return None
        await self._push(context_id, command, body)
        response = await self._await_response(message_id)
        return None if response is None else response.status

    async def _push(self, context_id: int, command: Command, body: Body) -> None:
        """Send one message, its data set pushed into the core as it is read
        (a file's chunks in worker threads: never whole in memory).  A send
        given up midway (the peer gone, the server cancelled) is abandoned:
        the core aborts the association, so the peer never takes a torn
        message for a whole one (PS3.8 9.3.5)."""
        message = self.driver.start_message(context_id, command)
        try:
            await push_data_set(self.driver, message, body)
        except BaseException:
            with anyio.CancelScope(shield=True):
                message.abandon(now=anyio.current_time())  # an A-ABORT if any went out
                with anyio.move_on_after(GRACE), contextlib.suppress(*GONE):
                    await self.driver.flush()
            raise

    async def _await_response(self, message_id: int) -> Command | None:
        """Read until the response to ``message_id`` (None if the association
        ends first); C-CANCELs are noted, other events held for later
        (within the bound: past it, the association is aborted)."""
        while True:
            event = await self.driver.next_event()
            if isinstance(event, Aborted | ConnectionClosed):
                self._hold(event, "a response was awaited")
                return None
            if (
                isinstance(event, CommandReceived)
                and event.command.is_response
                and event.command.message_id_being_responded_to == message_id
            ):
                return event.command
            if not is_cancel_request(event):
                self._hold(event, "a response was awaited")

    async def _normalized(self, request: ServiceRequest) -> None:
        """The DIMSE-N services (PS3.7 10): the handler returns a status, or
        (status, data set); the data set goes back with the response.  An
        N-CREATE's instance UID is the core's :class:`dicomul.InstanceCreation`."""
        field = CommandField(request.command.command_field)
        creation = None
        if field == CommandField.N_CREATE_RQ:
            from pydicom.uid import generate_uid  # noqa: PLC0415 - pydicom only when needed

            creation = InstanceCreation.of(request.command, new_uid=generate_uid)
            request = dataclasses.replace(request, command=creation.request)
        handler = getattr(self.handlers, _N_HANDLERS[field])
        if handler is None:
            status, reply = _not_served(request), None
        else:
            with serving(request):
                status, reply = await _answer(handler, (request,), field)
        body = None
        if reply is not None:
            from dicomul import encode_dataset  # noqa: PLC0415

            body = encode_dataset(reply, request.transfer_syntax)
        if creation is None:
            await self._respond(request, status, body)
        else:
            uid = creation.response_uid(status)
            await self._respond(request, status, body, affected_sop_instance_uid=uid)

    # -------------------------------------------------------------- cancel

    def cancel_requested(self, request: ServiceRequest) -> bool:
        """Whether the peer cancelled ``request`` (for ``event.is_cancelled``)."""
        return self._cancel_requested(request)

    def _cancel_requested(self, request: ServiceRequest) -> bool:
        """Look at what the peer has sent, without waiting: True if it
        cancelled ``request`` (PS3.7 9.3.2.3, 9.3.3.3, 9.3.4.3); every other
        event is held for the association's loop (past the bound, the
        association is aborted: the caller sees it can send no more)."""
        data = self.pumped.receive_nowait()
        if data:
            self.conn.receive_data(data, now=anyio.current_time())
        during = HeldEvents.performing(request.command.command_field)
        while (event := self.conn.next_event()) is not NEED_DATA:
            if not is_cancel_request(event):
                self._hold(event, during)
        return self.conn.cancel_requested(request.command.message_id or 0)

    def _hold(self, event: object, during: str) -> None:
        """Keep ``event`` for the association's loop; past the bound on what
        is held, the association is aborted (:meth:`HeldEvents.keep`)."""
        self.held.keep(event, self.conn, during=during, now=anyio.current_time())


_SERVERS: dict[CommandField, Callable[[AsyncServices, ServiceRequest], Awaitable[None]]] = {
    CommandField.C_ECHO_RQ: AsyncServices._echo,
    CommandField.C_FIND_RQ: AsyncServices._find,
    CommandField.C_GET_RQ: AsyncServices._get,
    CommandField.C_MOVE_RQ: AsyncServices._move,
    CommandField.N_EVENT_REPORT_RQ: AsyncServices._normalized,
    CommandField.N_GET_RQ: AsyncServices._normalized,
    CommandField.N_SET_RQ: AsyncServices._normalized,
    CommandField.N_ACTION_RQ: AsyncServices._normalized,
    CommandField.N_CREATE_RQ: AsyncServices._normalized,
    CommandField.N_DELETE_RQ: AsyncServices._normalized,
}

#: The handler for each DIMSE-N request.
_N_HANDLERS = {
    CommandField.N_EVENT_REPORT_RQ: "on_n_event_report",
    CommandField.N_GET_RQ: "on_n_get",
    CommandField.N_SET_RQ: "on_n_set",
    CommandField.N_ACTION_RQ: "on_n_action",
    CommandField.N_CREATE_RQ: "on_n_create",
    CommandField.N_DELETE_RQ: "on_n_delete",
}


async def _answer(
    handler: Callable[..., Any], args: tuple[object, ...], command_field: int
) -> tuple[int, Dataset | None]:
    """Await a handler: the status and data set it answers, or the status
    for what it raised (:mod:`dicomul_common.handling`), logged."""
    try:
        return answer_of(await call(handler, *args))
    except Exception as exc:
        return logged_failure_status(command_field, exc, LOGGER), None


def _failure(command_field: int) -> int:
    """The service's status for a handler, or a data set, that failed."""
    return outcome_status(command_field, HandlerOutcome.FAILED)


def _not_served(request: ServiceRequest) -> int:
    """The status of a request no handler serves ("unrecognized operation")."""
    LOGGER.warning("no handler for %s", service_name(request.command.command_field))
    return unhandled_status(request.command.command_field)


def _retrieve(request: ServiceRequest, items: list[Outgoing]) -> RetrieveOperation:
    uids = [item.sop_instance_uid for item in items]
    return RetrieveOperation(request.command.command_field, request.transfer_syntax, uids)


def _identifier(request: ServiceRequest) -> Dataset:
    assert request.dataset is not None  # C-FIND/GET/MOVE always carry one (PS3.7 9.3)
    return request.dataset


def _describe(items: list[Any]) -> list[Outgoing]:
    """Describe a retrieve handler's matches (file work: in a worker thread)."""
    return [Outgoing.of(item) for item in items]


async def _cannot_send(item: Outgoing) -> int | None:
    return None


# ---------------------------------------------------------------- the sinks


async def _collected() -> CollectedDataSet:
    return CollectedDataSet()


async def _not_implemented() -> object:
    raise NotImplementedError("no C-STORE handler (on_c_store, store_directory...) is set")


async def _checked(sink: Awaitable[Any], check: StoreCheck) -> _Checked:
    return _Checked(await sink, check)


class _Checked:
    """A C-STORE's sink behind the core's :class:`dicomul.StoreCheck`: a data
    set that is not whole, or not the instance the request names, is
    refused (its status answered) and discarded: Success only for the
    instance asked for, whole."""

    def __init__(self, sink: AsyncStoreSink, check: StoreCheck) -> None:
        self.sink = sink
        self.check = check


class _Incoming:
    """A request's data set arriving into a sink: whatever the sink raises
    becomes the service's failure status (:mod:`dicomul_common.handling`);
    :attr:`failure` is the status logged, and the one to answer."""

    def __init__(self, command_field: int) -> None:
        self.command_field = command_field
        self.sink: Any = None
        self.check: StoreCheck | None = None
        self.failure: int | None = None

    async def open(self, factory: Callable[[], Awaitable[object]]) -> None:
        try:
            sink = await factory()
        except Exception as exc:
            if isinstance(exc, NotImplementedError):
                self.failure = handler_failure_status(self.command_field, exc)
                LOGGER.warning("no handler: answering 0x%04X (%s)", self.failure, exc)
                return
            await self._fail(exc, "cannot receive the data set")
            return
        if isinstance(sink, _Checked):
            self.sink, self.check = sink.sink, sink.check
        else:
            self.sink = sink

    async def _fail(self, exc: Exception, what: str) -> None:
        self.failure = storage_failure_status(self.command_field, exc)
        if is_peer_data_error(exc):  # the peer's data: one line, no traceback
            LOGGER.error("%s: %s; answering 0x%04X", what, exc, self.failure)
        else:
            LOGGER.error("%s; answering 0x%04X", what, self.failure, exc_info=exc)
        await self.discard()

    async def _refuse(self, status: int, reason: str) -> None:
        if self.failure is None:
            self.failure = status
            LOGGER.error("refusing the data set: %s; answering 0x%04X", reason, status)
        await self.discard()

    async def write(self, data: bytes | memoryview) -> None:
        if self.sink is None:
            return
        if self.check is not None and (refusal := self.check.feed(data)) is not None:
            await self._refuse(int(refusal.status), refusal.reason)
            return
        try:
            if isinstance(self.sink, CollectedDataSet):
                self.sink.write(data)
            else:
                await self.sink.write(bytes(data))
        except Exception as exc:
            await self._fail(exc, "writing the data set failed")

    async def finish(self) -> int:
        """The status to answer: Success only for data the sink took safely."""
        if self.sink is not None and self.check is not None:
            refusal = self.check.finish()
            if refusal is not None:
                await self._refuse(int(refusal.status), refusal.reason)
        if self.sink is None:
            return self.failure if self.failure is not None else _failure(self.command_field)
        sink, self.sink = self.sink, None
        try:
            return answer_status(await sink.commit())
        except Exception as exc:
            self.sink = sink
            await self._fail(exc, "storing the data set failed")
            assert self.failure is not None
            return self.failure

    def collected(self) -> bytes | None:
        """The bytes a collected data set holds (None after a failure)."""
        return self.sink.data() if isinstance(self.sink, CollectedDataSet) else None

    async def discard(self) -> None:
        sink, self.sink = self.sink, None
        if sink is None:
            return
        try:
            if isinstance(sink, CollectedDataSet):
                sink.discard()
            else:
                with anyio.CancelScope(shield=True):
                    await sink.discard()
        except Exception:
            LOGGER.exception("discarding a partial data set failed")


async def _dataset_sink(on_c_store: Callable[..., Any], request: ServiceRequest) -> _DatasetSink:
    return _DatasetSink(on_c_store, request)


class _DatasetSink:
    """Collect the data set, decode it, and hand it to ``on_c_store``."""

    def __init__(self, on_c_store: Callable[..., Any], request: ServiceRequest) -> None:
        self.on_c_store = on_c_store
        self.request = request
        self.parts: list[bytes] = []

    async def write(self, data: bytes) -> None:
        self.parts.append(data)

    async def commit(self) -> int | None:
        from dicomul_common.storage import file_meta_for  # noqa: PLC0415 - pydicom now loaded

        from dicomul import MAX_INFLATED_SIZE  # noqa: PLC0415

        request = self.request
        data, self.parts = b"".join(self.parts), []
        dataset = decode_data_set(
            data, request.transfer_syntax, max_inflated_size=MAX_INFLATED_SIZE
        )
        # PS3.10 7.1, so that save_as(enforce_file_format=True) writes a Part 10
        # file; the implementation writing it is this server (the acceptor).
        uid, version = request.negotiated.acceptor_implementation
        dataset.file_meta = file_meta_for(
            request.sop_class_uid,
            request.sop_instance_uid or "",
            request.transfer_syntax,
            implementation_class_uid=uid,
            implementation_version_name=version,
        )
        return answer_status(await call(self.on_c_store, dataset))

    async def discard(self) -> None:
        self.parts = []


class _DirectorySink:
    """Store the data set durably under ``store_directory`` as a Part 10 file:
    :class:`dicomul_common.store_sink.CheckedStore` (the data set checked
    whole and naming the instance asked; Success only once it is fsynced
    under its final name), its work in worker threads."""

    def __init__(self, store: Any, handlers: Handlers) -> None:
        self.store = store
        self.handlers = handlers

    @classmethod
    async def open(
        cls, directory: str | os.PathLike[str], request: ServiceRequest, handlers: Handlers
    ) -> _DirectorySink:
        from dicomul_common.store_sink import CheckedStore  # noqa: PLC0415 - pydicom only when storing

        store = await anyio.to_thread.run_sync(
            CheckedStore, request.command, request.transfer_syntax, directory
        )
        return cls(store, handlers)

    async def write(self, data: bytes) -> None:
        await anyio.to_thread.run_sync(self.store.write, data)

    async def commit(self) -> int | None:
        status: int = await anyio.to_thread.run_sync(self.store.finish)  # logs a failure
        if self.store.path is None:
            return status
        on_c_stored = self.handlers.on_c_stored
        if on_c_stored is not None:
            try:  # the data is safe whatever it does
                await call(on_c_stored, self.store.path)
            except Exception:
                LOGGER.exception("on_c_stored failed")
        return status

    async def discard(self) -> None:
        await anyio.to_thread.run_sync(self.store.discard)
