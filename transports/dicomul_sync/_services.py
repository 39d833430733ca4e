"""The SCP side of every DIMSE service, for one association, on either side.

An SCP serves requests; so does an SCU whose peer sends it C-STORE
sub-operations during a C-GET (PS3.4 C.4.3.3) or N-EVENT-REPORTs.  Both
feed the events of their association to one :class:`Services`, which takes
the requests (and their data sets) and answers them through the AE's
handlers.  A handler that raises becomes the standard's failure status and a
logged traceback; one that is not implemented answers "unrecognized
operation" (the core's :func:`dicomul.outcome_status` gives each service's).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from dicomul_common.handling import HeldEvents
from dicomul_common.outgoing import CannotSendError, Outgoing, store_request

import dicomul
from dicomul import (
    Aborted,
    Command,
    CommandField,
    CommandReceived,
    ConnectionClosed,
    DataSetFragment,
    HandlerOutcome,
    is_cancel_request,
    outcome_status,
    response_for,
    service_name,
    unhandled_status,
)

from ._handlers import MoveAssociationOptions, ServiceRequest, serving
from ._move_options import move_association_options
from ._sinks import (
    MAX_REQUEST_DATA_SET,
    CollectedDataSet,
    DatasetSink,
    DirectorySink,
    GuardedSink,
    call_handler,
    decode_data_set,
)

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from dicomul import ProposedContext, Reply, RetrieveOperation

    from ._channel import Channel
    from ._handlers import OpenAssociation, ServiceHandlers, StoreAssociation

__all__ = ["ServiceRequest", "Services"]

LOGGER = logging.getLogger("dicomul.sync.services")


class Services:
    """Serve the requests arriving on one association through ``ae``'s handlers.

    ``ae`` is seen only through the handlers and settings the services use
    (:class:`._handlers.ServiceHandlers`).  A C-MOVE's sub-operations go to
    its destination over associations ``open_association`` requests (the
    AE's; without one, every sub-operation of a C-MOVE fails, as with a
    destination that cannot be reached).
    """

    def __init__(
        self,
        ae: ServiceHandlers,
        channel: Channel,
        *,
        open_association: OpenAssociation | None = None,
    ) -> None:
        self.ae = ae
        self.channel = channel
        self.open_association = open_association
        # A request whose data set is arriving, and where it goes.
        self._incoming: tuple[ServiceRequest, GuardedSink] | None = None
        # Requests refused for their context (Negotiated.refusal_for), by message ID.
        self._refused: dict[int, int] = {}
        # The peer's IP address, looked up once (_peer_address).
        self._peer: tuple[str | None] | None = None

    # ------------------------------------------------------------ events in

    def handle(self, event: object) -> bool:
        """Take ``event`` if it belongs to a request; False leaves it to the caller."""
        if isinstance(event, CommandReceived) and not event.command.is_response:
            command = event.command
            if LOGGER.isEnabledFor(logging.INFO):
                LOGGER.info(
                    "Received %s Request (MsgID %s)",
                    service_name(command.command_field),
                    command.message_id or command.message_id_being_responded_to,
                )
            if command.command_field == _C_CANCEL_RQ:
                return True  # is_cancel_request: the connection notes it (conn.cancel_requested)
            request = self._request(event.context_id, command)
            if request is None:
                return True
            conn = self.channel.conn
            refusal = request.negotiated.refusal_for(
                request.context_id, command, sender_is_requestor=not conn.is_requestor
            )
            if refusal is not None:
                LOGGER.warning("Refusing it on context %s: 0x%04X", request.context_id, refusal)
                self._refused[command.message_id or 0] = refusal
            if command.has_data_set:
                with serving(request):  # on_c_store_stream(request) runs here
                    sink = (
                        GuardedSink(CollectedDataSet, command_field=command.command_field)
                        if refusal is not None
                        else self._sink_for(request)
                    )
                self._incoming = (request, sink)
            else:
                self._serve(request, None)
            return True
        if isinstance(event, DataSetFragment) and self._incoming is not None:
            request, sink = self._incoming
            if request.command.message_id not in self._refused:
                with serving(request):  # a user's StoreSink.write
                    sink.write(event.data)
            if event.is_last:
                self._incoming = None
                self._serve(request, sink)
            return True
        return False

    def close(self) -> None:
        """The connection is gone: keep nothing partial (PS3.4 B.2.3)."""
        if self._incoming is not None:
            request, sink = self._incoming
            with serving(request):  # a user's StoreSink.discard
                sink.discard()
            self._incoming = None

    def _request(self, context_id: int, command: Command) -> ServiceRequest | None:
        negotiated = self.channel.conn.negotiated
        if negotiated is None or context_id not in negotiated.contexts:
            return None  # the engine refuses such PDVs; nothing to answer
        transfer_syntax = negotiated.contexts[context_id].transfer_syntax
        return ServiceRequest(
            command, context_id, transfer_syntax, negotiated, peer_address=self._peer_address()
        )

    def _peer_address(self) -> str | None:
        """The peer's IP address, if the channel has a connected socket
        (asked of the socket once: it does not change)."""
        if self._peer is None:
            try:
                address = str(self.channel.sock.getpeername()[0]) if self.channel.sock else None
            except OSError:
                return None
            self._peer = (address,)
        return self._peer[0]

    def _sink_for(self, request: ServiceRequest) -> GuardedSink:
        field = CommandField(request.command.command_field)
        if field != CommandField.C_STORE_RQ:
            # A data set that cannot be kept fails with the service's own status.
            return GuardedSink(CollectedDataSet, command_field=field)
        ae = self.ae
        check = dicomul.StoreCheck(request.command, request.transfer_syntax)
        if ae.on_c_store_stream is not None:
            return GuardedSink(ae.on_c_store_stream, request, command_field=field, check=check)
        if ae.store_directory is not None:  # the check is CheckedStore's own
            return GuardedSink(DirectorySink, ae, request, command_field=field)
        return GuardedSink(DatasetSink, ae, request, command_field=field, check=check)

    # ------------------------------------------------------------- serving

    def _serve(self, request: ServiceRequest, sink: GuardedSink | None) -> None:
        """Answer ``request``, its data set (if any) arrived into ``sink``;
        the handlers it calls see it as current_request()."""
        with serving(request):
            self._serve_current(request, sink)

    def _serve_current(self, request: ServiceRequest, sink: GuardedSink | None) -> None:
        if self._refused:
            refusal = self._refused.pop(request.command.message_id or 0, None)
            if refusal is not None:
                if sink is not None:
                    sink.discard()
                self._respond(request, refusal)
                return
        command_field = request.command.command_field
        if command_field == _C_STORE_RQ:
            assert sink is not None
            self._respond(request, sink.finish())
            return
        if sink is None:  # no data set: the request is served as it came
            _SERVERS[command_field](self, request)
            return
        field = CommandField(command_field)
        data = sink.collected()
        if data is None:  # the failure the sink logged, and no other
            self._respond(request, sink.failure or _failure(field))
            return
        try:
            dataset = decode_data_set(
                data, request.transfer_syntax, max_inflated_size=MAX_REQUEST_DATA_SET
            )
        except Exception:
            LOGGER.exception("cannot decode the data set of a %s", field.name)
            self._respond(request, _failure(field))
            return
        request = dataclasses.replace(request, dataset=dataset)
        with serving(request):  # now with its data set decoded
            _SERVERS[field](self, request)

    def _respond(
        self, request: ServiceRequest, status: int, data_set: bytes | None = None, **fields: object
    ) -> None:
        if not self.channel.conn.can_send_messages:
            return
        response = response_for(
            request.command, int(status), with_data_set=data_set is not None, **fields
        )
        self.channel.send(request.context_id, response, data_set)

    def _echo(self, request: ServiceRequest) -> None:
        echo = request.command.command_field
        self._respond(request, call_handler(self.ae.on_c_echo, (), echo)[0])

    def _find(self, request: ServiceRequest) -> None:
        """C-FIND (PS3.4 C.4.1.2): the core's :class:`dicomul.FindOperation`
        says what to answer to each item the handler yields, to the peer's
        C-CANCEL (checked between matches) and to a handler that fails."""
        query = dicomul.FindOperation(request.transfer_syntax)
        try:
            for item in self.ae.on_c_find(_identifier(request)):
                cancelled = self._cancel_requested(request)
                if not self.channel.conn.can_send_messages:
                    return  # aborted meanwhile (see _cancel_requested): nothing to answer
                self._reply(request, query.match(item, cancelled=cancelled))
                if query.done:
                    return
            reply = query.exhausted()
        except NotImplementedError as exc:  # no handler (the AE's default)
            if query.done:
                raise
            self._unhandled(request, exc)
            return
        except Exception:
            if query.done:  # the final response was given: nothing left to answer
                raise
            reply = query.failed()
            LOGGER.exception("on_c_find failed; answering 0x%04X", reply.status)
        self._reply(request, reply)

    def _unhandled(self, request: ServiceRequest, exc: NotImplementedError) -> None:
        """No handler serves ``request``: the core's status for that
        (:func:`dicomul.unhandled_status`, 0x0211), as the async server."""
        status = unhandled_status(request.command.command_field)
        LOGGER.warning("no handler: answering 0x%04X (%s)", status, exc)
        self._respond(request, status)

    def _reply(self, request: ServiceRequest, reply: Reply) -> None:
        """Send one of the core operation's replies to ``request``."""
        self._respond(request, reply.status, reply.data_set, **reply.counts)

    def _get(self, request: ServiceRequest) -> None:
        """C-GET (PS3.4 C.4.3.3): each match goes back over this association
        as a C-STORE sub-operation, a pending response after each."""
        items = self._matches(request, lambda: self.ae.on_c_get(_identifier(request)))
        if items is not None:
            self._suboperations(request, _retrieve(request, items), items, self._store_here)

    def _move(self, request: ServiceRequest) -> None:
        """C-MOVE (PS3.4 C.4.2.3): each match goes to the move destination
        over a new association this AE requests, a pending response after each."""
        destination, where = dicomul.RetrieveOperation.destination_address(
            request.command, self.ae.move_destinations
        )
        if where is None:
            LOGGER.error("Move destination %r is unknown", destination)
            self._reply(request, dicomul.RetrieveOperation.destination_unknown())
            return
        address = (where[0], where[1])
        try:
            options = move_association_options(where[2] if len(where) > 2 else None)
        except (TypeError, ValueError, dicomul.LocalProtocolError) as exc:
            reply = dicomul.RetrieveOperation.failed(request.command.command_field)
            LOGGER.error(
                "C-MOVE to %s: the association keywords given with its address "
                "are unusable (%s); answering 0x%04X",
                destination,
                exc,
                reply.status,
            )
            self._reply(request, reply)
            return
        items = self._matches(
            request, lambda: self.ae.on_c_move(_identifier(request), destination)
        )
        if items is None:
            return
        retrieve = _retrieve(request, items)
        if not retrieve.has_suboperations:  # nothing to send: no association to open
            self._reply(request, retrieve.final())
            return
        originator = (request.calling_ae_title, request.command.message_id or 0)
        relay = _MoveRelay(
            self.open_association, items, destination, address, originator, options=options
        )
        # A destination that cannot be reached fails each sub-operation of
        # its associations: the final response then lists them (0xA702 when
        # all failed, PS3.4 C.4.2.1.5), as DCMTK's dcmqrscp answers.
        relay.connect(0)
        try:
            self._suboperations(request, retrieve, items, relay.send)
        finally:
            relay.close()

    def _matches(
        self, request: ServiceRequest, handler: Callable[[], Iterable[object]]
    ) -> list[Outgoing] | None:
        """The handler's matches, described; None if it refused the request
        (:func:`dicomul.handler_refusal`: that status answered, before any
        sub-operation) or failed (0xC000)."""
        try:
            items = list(handler())
            refusal = dicomul.handler_refusal(items)
            if refusal is None:
                return [Outgoing.of(item) for item in items]  # type: ignore[arg-type]
        except NotImplementedError as exc:  # no handler (the AE's default)
            self._unhandled(request, exc)
            return None
        except Exception:
            reply = dicomul.RetrieveOperation.failed(request.command.command_field)
            LOGGER.exception("retrieve handler failed; answering 0x%04X", reply.status)
            self._reply(request, reply)
            return None
        self._reply(request, dicomul.RetrieveOperation.refused(refusal))
        return None

    def _suboperations(
        self,
        request: ServiceRequest,
        retrieve: RetrieveOperation,
        items: list[Outgoing],
        send: Callable[[Outgoing], int | None],
    ) -> None:
        """Run one C-STORE sub-operation per item, as the core's ``retrieve``
        says: a C-CANCEL checked before each, a pending response after each
        but the last, then the final response (PS3.4 C.4.2.2, C.4.3.2)."""
        for item in items:
            stop = self._cancel_requested(request) or not self.channel.conn.can_send_messages
            if not retrieve.proceed(cancelled=stop):
                break
            try:
                status = send(item)
            except Exception:  # a file that cannot be read, a data set that cannot be encoded
                LOGGER.exception("sub-operation for %s failed", item.sop_instance_uid)
                status = None
            pending = retrieve.performed(status)
            if pending is not None:
                self._reply(request, pending)
        self._reply(request, retrieve.final())

    def _store_here(self, item: Outgoing) -> int | None:
        """A C-GET sub-operation: C-STORE ``item`` to the peer on this
        association; its response status, or None if it could not be sent."""
        conn = self.channel.conn
        negotiated = conn.negotiated
        assert negotiated is not None
        message_id = conn.new_message_id()
        try:
            context_id, command, body = store_request(
                negotiated, item, message_id, requestor_as_scp=True
            )
        except CannotSendError as exc:
            LOGGER.error("C-GET sub-operation for %s: %s", item.sop_instance_uid, exc)
            return None
        self.channel.send(context_id, command, body)
        response = self._await_response(message_id)
        return None if response is None else response.status

    def _await_response(self, message_id: int) -> Command | None:
        """Read until the response to ``message_id`` (None if the association
        ends first); C-CANCELs are noted, other events held for later (within
        the channel's bound: past it, the association is aborted)."""
        channel = self.channel
        while True:
            event = channel.read_event()
            if event is None or isinstance(event, Aborted | ConnectionClosed):
                if event is not None:
                    channel.defer(event, during="a response was awaited")
                return None
            if (
                isinstance(event, CommandReceived)
                and event.command.is_response
                and event.command.message_id_being_responded_to == message_id
            ):
                return event.command
            if not is_cancel_request(event):  # (the connection noted a C-CANCEL)
                channel.defer(event, during="a response was awaited")

    def _normalized(self, request: ServiceRequest) -> None:
        """The DIMSE-N services (PS3.7 10): the AE's ``on_n_...`` handler
        returns a status, or (status, data set); the data set goes back with
        the response.  An N-CREATE's instance UID is the core's
        :class:`dicomul.InstanceCreation` (assigned if the requestor gave
        none, answered only if the instance was created)."""
        field = CommandField(request.command.command_field)
        creation = None
        if field == CommandField.N_CREATE_RQ:
            from pydicom.uid import generate_uid  # noqa: PLC0415 - pydicom only when needed

            creation = dicomul.InstanceCreation.of(request.command, new_uid=generate_uid)
            request = dataclasses.replace(request, command=creation.request)
        handler = getattr(self.ae, _N_HANDLERS[field])
        status, reply = call_handler(handler, (request,), field)
        body = None
        if reply is not None:
            from dicomul import encode_dataset  # noqa: PLC0415

            body = encode_dataset(reply, request.transfer_syntax)
        if creation is None:
            self._respond(request, status, body)
        else:
            uid = creation.response_uid(status)
            self._respond(request, status, body, affected_sop_instance_uid=uid)

    # -------------------------------------------------------------- cancel

    def is_cancelled(self, request: ServiceRequest) -> bool:
        """Whether the peer cancelled ``request`` (looked for now, without
        waiting): a handler's ``event.is_cancelled``."""
        return self._cancel_requested(request)

    def _cancel_requested(self, request: ServiceRequest) -> bool:
        """Look at what the peer has sent, without waiting: True if it
        cancelled ``request`` (the connection keeps that: PS3.7 9.3.2.3,
        9.3.3.3, 9.3.4.3); every event but a C-CANCEL is held for the main
        loop, within the channel's bound (past it, the association is
        aborted: the caller sees it can send no more)."""
        during = HeldEvents.performing(request.command.command_field)
        for event in self.channel.poll():
            if not is_cancel_request(event):
                self.channel.defer(event, during=during)
        return self.channel.conn.cancel_requested(request.command.message_id or 0)


_C_CANCEL_RQ = int(CommandField.C_CANCEL_RQ)
_C_STORE_RQ = int(CommandField.C_STORE_RQ)

_SERVERS: dict[int, Callable[[Services, ServiceRequest], None]] = {
    CommandField.C_ECHO_RQ: Services._echo,
    CommandField.C_FIND_RQ: Services._find,
    CommandField.C_GET_RQ: Services._get,
    CommandField.C_MOVE_RQ: Services._move,
    CommandField.N_EVENT_REPORT_RQ: Services._normalized,
    CommandField.N_GET_RQ: Services._normalized,
    CommandField.N_SET_RQ: Services._normalized,
    CommandField.N_ACTION_RQ: Services._normalized,
    CommandField.N_CREATE_RQ: Services._normalized,
    CommandField.N_DELETE_RQ: Services._normalized,
}

#: The AE handler for each DIMSE-N request.
_N_HANDLERS = {
    CommandField.N_EVENT_REPORT_RQ: "on_n_event_report",
    CommandField.N_GET_RQ: "on_n_get",
    CommandField.N_SET_RQ: "on_n_set",
    CommandField.N_ACTION_RQ: "on_n_action",
    CommandField.N_CREATE_RQ: "on_n_create",
    CommandField.N_DELETE_RQ: "on_n_delete",
}


def _failure(command_field: int) -> int:
    """The service's status for a handler, or a data set, that failed."""
    return outcome_status(command_field, HandlerOutcome.FAILED)


def _retrieve(request: ServiceRequest, items: Sequence[Outgoing]) -> RetrieveOperation:
    """The core's operation for a C-GET or C-MOVE ``request`` whose handler matched ``items``."""
    uids = [item.sop_instance_uid for item in items]
    return dicomul.RetrieveOperation(request.command.command_field, request.transfer_syntax, uids)


def _identifier(request: ServiceRequest) -> Dataset:
    assert request.dataset is not None  # C-FIND/GET/MOVE always carry one (PS3.7 9.3)
    return request.dataset


def _status_of(response: Dataset | None) -> int | None:
    return None if response is None else int(response.Status)


class _MoveRelay:
    """The C-STORE sub-operations of one C-MOVE, sent to its destination over
    as many associations, one after the other, as the matches' presentation
    contexts need (PS3.4 C.4.2.3.1 "one or more"; the core's
    :func:`dicomul.association_batches`), each requested by ``open_association``.
    :meth:`send` is called for each match in order and opens the next
    association when a run ends."""

    def __init__(
        self,
        open_association: OpenAssociation | None,
        items: Sequence[Outgoing],
        destination: str,
        address: tuple[str, int],
        originator: tuple[str, int],
        *,
        options: MoveAssociationOptions | None = None,
    ) -> None:
        self.open_association = open_association
        self.destination = destination
        self.address = address
        self.originator = originator
        self.options = options if options is not None else MoveAssociationOptions()
        if self.options.contexts is not None:
            # The handler's contexts, for every match: one association.
            self.batches: tuple[tuple[tuple[ProposedContext, ...], range], ...] = (
                (self.options.contexts, range(len(items))),
            )
        else:
            self.batches = dicomul.association_batches(
                [(i.sop_class_uid, i.transfer_syntax) for i in items]
            )
        self.batch = -1  # the run whose association is open (or failed to open)
        self.association: StoreAssociation | None = None
        self.sent = 0

    def connect(self, batch: int) -> bool:
        """Release the open association and request the one for run ``batch``."""
        self.close()
        self.batch = batch
        contexts, _ = self.batches[batch]
        if self.open_association is None:
            LOGGER.error("No association can be opened for C-MOVE here (no factory given)")
            return False
        association = self.open_association(self.destination, self.address, contexts, self.options)
        if not association.is_established:
            LOGGER.error(
                "Cannot associate with move destination %s at %s", self.destination, self.address
            )
            return False
        self.association = association
        return True

    def send(self, item: Outgoing) -> int | None:
        """C-STORE the next match; its status, None if it could not be sent."""
        index, self.sent = self.sent, self.sent + 1
        if index not in self.batches[self.batch][1]:
            self.connect(self.batch + 1)
        if self.association is None:
            return None  # this run's association could not be opened
        return _status_of(self.association.send_c_store(item, originator=self.originator))

    def close(self) -> None:
        if self.association is not None:
            self.association.release()
            self.association = None
