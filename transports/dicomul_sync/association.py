"""A blocking association: a socket loop around :class:`dicomul.Connection`.

The loop is all this module adds to the core: write what the engine says to
write, read when it needs data (with the socket timeout set from the
engine's next deadline), and let the engine decide everything else.  The
pynetdicom3-style methods (``send_c_echo``, ``release``, ``abort``) turn
events into the return values the seed documentation shows.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from dicomul_common.outgoing import CannotSendError, Outgoing, read_part10_meta, store_request
from dicomul_common.responses import command_dataset

from dicomul import (
    EVT_ABORTED,
    EVT_ACCEPTED,
    EVT_CONN_CLOSE,
    EVT_CONN_OPEN,
    EVT_REJECTED,
    EVT_RELEASED,
    EVT_REQUESTED,
    MAX_CONTEXTS,
    VERIFICATION_SOP_CLASS,
    Abort,
    Aborted,
    AcceptedContext,
    AssociationAccepted,
    AssociationRejected,
    BytesLike,
    Command,
    CommandField,
    Connection,
    ConnectionClosed,
    DataSetSource,
    EventType,
    GeneralStatus,
    Negotiated,
    Priority,
    ProposedContext,
    RejectedContext,
    Released,
    RemoteProtocolError,
    RequestAssociation,
    RequestRelease,
    ResponseCollector,
    Role,
    Status,
    UserIdentity,
    c_cancel_rq,
    c_echo_rq,
    c_find_rq,
    c_get_rq,
    c_move_rq,
    check_priority,
    is_final_response,
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
    service_name,
)

from ._channel import Channel
from ._events import EventHandlers, HandlerRegistry, ServiceUser, WireEvents, notify
from ._services import Services
from .pdu_primitives import negotiation_items

if TYPE_CHECKING:
    import ssl

    from pydicom.dataset import Dataset

    from dicomul import UserIdentity

    from ._events import Handler
    from ._handlers import OpenAssociation, RequestorSettings

__all__ = ["Association", "read_part10_meta"]

LOGGER = logging.getLogger("dicomul.sync")

#: DCMTK logs the most it sends per PDV as the peer's maximum PDU length less
#: 12 ("Max Send PDV"); the same figure is logged here, for comparison.
PDV_OVERHEAD = 12


class Association:
    """One association this AE requested (the SCU side).

    Each request (``send_c_echo``, ``send_c_store``, ``send_c_find``...)
    waits for its response as long as the AE's ``dimse_timeout`` says: by
    default (None, the seed's default) for ever, so a peer that accepts a
    request and never answers holds the caller until the connection drops;
    set ``dimse_timeout`` (or ``network_timeout``) to bound it, the
    association being aborted when it expires.  A response to no request
    of ours (another Message ID) aborts the association at once (PS3.7
    9.1.x.1.2), and the request returns None.

    ``ae`` is the requesting AE, as far as an association uses it
    (:class:`._handlers.RequestorSettings`); ``open_association`` requests
    the associations to a move destination should the peer send a C-MOVE
    here (see :class:`._services.Services`).

    Attributes
    ----------
    is_established, is_rejected, is_aborted, is_released : bool
        Where the association stands, as the seed documentation uses them.
    negotiated : dicomul.Negotiated or None
        What was agreed, once established.
    """

    def __init__(
        self,
        ae: RequestorSettings,
        address: str,
        port: int,
        *,
        called_ae_title: str,
        max_pdu: int | None,
        contexts: Sequence[ProposedContext] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        open_association: OpenAssociation | None = None,
        user_identity: UserIdentity | None = None,
        registry: HandlerRegistry | None = None,
        ext_neg: Sequence[object] = (),
        bind_address: tuple[str, int] | None = None,
    ) -> None:
        self.ae = ae
        #: The local (host, port) to connect from (None: any).
        self.bind_address = bind_address
        #: This association's event handlers (see :mod:`._events`).
        self.registry = registry if registry is not None else HandlerRegistry()
        self.address = address
        self.port = port
        self.is_established = False
        self.is_rejected = False
        self.is_aborted = False
        self.is_released = False
        self.negotiated: Negotiated | None = None
        self.rejection: AssociationRejected | None = None
        #: The command set of the last C-FIND/C-MOVE response, as a Dataset
        #: (sub-operation counts, error comment).
        self.last_response: Dataset | None = None
        #: If set, called with each request's command once it is handed to
        #: the transport: what an app logs after "Sending ... Request" (the
        #: query's identifier, as DCMTK's apps print it).
        self.on_request_sent: Callable[[Command], None] | None = None
        self._ssl = (ssl_context, server_hostname)
        self._conn = Connection(
            Role.REQUESTOR,
            acse_timeout=ae.acse_timeout,
            dimse_timeout=ae.dimse_timeout,
            network_timeout=ae.network_timeout,
        )
        self._channel = Channel(self._conn, None)
        # Requests the peer sends meanwhile (C-GET's C-STORE sub-operations,
        # N-EVENT-REPORTs) are served as an SCP would.
        self._channel.observer = WireEvents(
            self.registry, self, frame_pdus=WireEvents.wanted(self.registry)
        )
        self._channel.observer.transitions(self._conn)  # recording from AE-1 on, if wanted
        handlers = EventHandlers(ae, self.registry, self)
        self._services = Services(handlers, self._channel, open_association=open_association)
        handlers.cancelled = self._services.is_cancelled
        self._collector = ResponseCollector()
        proposal = requestor_proposal(
            calling_ae_title=ae.ae_title,
            called_ae_title=called_ae_title,
            scu_sop_classes=ae.scu_sop_class,
            scp_sop_classes=ae.scp_sop_class,
            transfer_syntaxes=ae.transfer_syntax,
            max_pdu_length=0 if max_pdu is None else max_pdu,
            contexts=contexts,
            implementation_class_uid=ae.implementation_class_uid,
            implementation_version_name=ae.implementation_version_name,
            requested_contexts=ae.requested_contexts,
            user_identity=user_identity,
        )
        # PS3.7 D.3.3: the extended negotiation items asked for, over the AE's.
        self._request = proposal.request.with_negotiation(negotiation_items(ext_neg))
        if proposal.left_out:
            LOGGER.warning(
                "%d SOP classes past the %d presentation contexts allowed are not "
                "proposed (PS3.8 9.3.2.2)",
                len(proposal.left_out),
                MAX_CONTEXTS,
            )

    @property
    def accepted_contexts(self) -> list[AcceptedContext]:
        """The presentation contexts the peer accepted (``context_id``,
        ``abstract_syntax``, the ``transfer_syntax`` chosen, the requestor's
        roles ``requestor_is_scu``/``requestor_is_scp``); empty unless
        established."""
        negotiated = self.negotiated
        return [] if negotiated is None else list(negotiated.contexts.values())

    @property
    def rejected_contexts(self) -> list[RejectedContext]:
        """The proposed contexts the peer rejected, each with the ``result``
        (PS3.8 Table 9-18) and what was proposed."""
        negotiated = self.negotiated
        if negotiated is None:
            return []
        return list(rejected_contexts(self._request.contexts, negotiated))

    @property
    def user_identity_response(self) -> bytes | None:
        """The acceptor's server response to our user identity (PS3.7
        D.3.3.7.2), if it sent one: empty for username types, a Kerberos
        server ticket or SAML/JWT response otherwise."""
        negotiated = self.negotiated
        return None if negotiated is None else negotiated.user_identity_response

    @property
    def requestor(self) -> ServiceUser:
        """This side: its AE title and local address (pynetdicom's ``assoc.requestor``)."""
        host, port = "", 0
        with contextlib.suppress(OSError):
            if self._channel.sock is not None:
                host, port = self._channel.sock.getsockname()[:2]
        return ServiceUser(self.ae.ae_title, str(host), int(port))

    @property
    def acceptor(self) -> ServiceUser:
        """The peer: the AE title called and its address (pynetdicom's ``assoc.acceptor``)."""
        return ServiceUser(self._request.called_ae_title, self.address, self.port)

    # -------------------------------------------------------- event handlers

    def bind(
        self, event: EventType, handler: Handler, args: Sequence[object] | None = None
    ) -> None:
        """Call ``handler(event, *args)`` when ``event`` happens on this
        association (an EVT_C_STORE handler for a C-GET's sub-operations, say)."""
        self.registry.bind(event, handler, args)

    def unbind(self, event: EventType, handler: Handler) -> None:
        """Stop calling ``handler`` for ``event`` on this association."""
        self.registry.unbind(event, handler)

    def get_handlers(self, event: EventType) -> object:
        """What is bound to ``event``: (handler, args) or None for an
        intervention event, a list of (handler, args) for a notification."""
        return self.registry.get_handlers(event)

    def _event(self, event: EventType, **attributes: object) -> None:
        notify(self.registry, self, event, **attributes)

    # ------------------------------------------------------------------ loop

    def _connect(self) -> None:
        """Open the transport and negotiate; sets the is_* flags."""
        LOGGER.info("Requesting Association")
        self._conn.send(RequestAssociation(request=self._request), now=time.monotonic())  # AE-1
        try:
            ae = self.ae
            sock = socket.create_connection(
                (_host_name(self.address), self.port),  # type: ignore[arg-type]  # bytes: see there
                timeout=ae.connection_timeout or ae.network_timeout or ae.acse_timeout,
                source_address=self.bind_address,
            )
        except OSError as exc:
            LOGGER.error("Association Request Failed: Failed to establish association")
            LOGGER.error("Peer aborted Association (or never connected)")
            LOGGER.error("TCP Initialisation Error: (%s)", exc.strerror or exc)
            self.is_aborted = True
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        context, hostname = self._ssl
        if context is not None:
            try:
                sock = context.wrap_socket(sock, server_hostname=hostname or self.address)
            except OSError as exc:  # ssl.SSLError is one
                LOGGER.error("Association Request Failed: TLS handshake failed: %s", exc)
                sock.close()
                self.is_aborted = True
                return
        self._channel.sock = sock
        self._event(EVT_CONN_OPEN, address=(self.address, self.port))
        self._conn.transport_connected(now=time.monotonic())
        self._channel.flush()
        self._event(EVT_REQUESTED)
        event = self._next_event()
        if isinstance(event, AssociationAccepted):
            self.negotiated = event.negotiated
            peer_max = event.negotiated.acceptor_max_pdu_length
            LOGGER.info(
                "Association Accepted (Max Send PDV: %s)",
                peer_max - PDV_OVERHEAD if peer_max else "unlimited",
            )
            if not event.negotiated.contexts:
                LOGGER.error("No Acceptable Presentation Contexts")

    def _next_event(self) -> object:
        """The engine's next event, reading and timing as it needs; None once closed."""
        event = self._channel.next_event()
        if event is not None:
            self._note(event)
            # The peer releases (or both sides do at once, PS3.8 9.2.9): the
            # engine says when the answer is due (release_to_answer).
            if self._channel.answer_release():
                LOGGER.info("Association Release Requested by the peer")
                if self._conn.association_over:  # not a collision: released
                    self.is_established = False
                    self.is_released = True
                    self._event(EVT_RELEASED)
            # After a rejection or a release (PS3.8 AE-4, AR-3), or our own
            # A-ABORT (a timeout), the engine's ConnectionClosed says when to
            # close: taken now, if it is due, rather than at the next read.
            if self._conn.association_over and self._channel.sock is not None:
                for later in self._channel.remaining():
                    self._note(later)
        return event

    def _note(self, event: object) -> None:
        """Keep the is_* flags in step with the engine's events."""
        if isinstance(event, AssociationAccepted):
            self.is_established = True
            self.negotiated = event.negotiated
            self._event(EVT_ACCEPTED)
        elif isinstance(event, AssociationRejected):
            self.is_rejected = True
            self.rejection = event
            self._event(EVT_REJECTED)
            LOGGER.error(
                "Association Request Failed: Association Rejected (%s, %s: %s)",
                "permanent" if event.pdu.result == 1 else "transient",
                "service user" if event.pdu.source == 1 else "service provider",
                event.reason_text,
            )
        elif isinstance(event, Aborted):
            if self.negotiated is None:
                # Before any answer to the A-ASSOCIATE-RQ: a peer that hung
                # up, is not DICOM, or never answered.  The seed's wording
                # for a peer that cannot be associated with, and the cause.
                LOGGER.error("Association Request Failed: Failed to establish association")
                if event.by_peer or event.connection_lost:
                    LOGGER.error("Peer aborted Association (or never connected)")
                LOGGER.error("%s", _establishment_failure(event))
            else:
                LOGGER.error("Association Aborted: %s", event.message)
            self.is_established = False
            self.is_aborted = True
            self._event(EVT_ABORTED)
        elif isinstance(event, Released):
            self.is_established = False
            self.is_released = True
            self._event(EVT_RELEASED)
        elif isinstance(event, ConnectionClosed):
            self.is_established = False
            self._close()

    def _close(self) -> None:
        opened = self._channel.sock is not None
        self._channel.close()
        self._services.close()
        if opened:
            self._event(EVT_CONN_CLOSE, address=(self.address, self.port))

    # ------------------------------------------------------------- services

    def _established_context(self, sop_class: str, what: str) -> tuple[Negotiated, int] | None:
        negotiated = self.negotiated
        if not self.is_established or negotiated is None:
            LOGGER.error("Association is not established: cannot send %s", what)
            return None
        context = negotiated.context_for(sop_class)
        if context is None:
            reason = missing_context_reason(sop_class, self._request.contexts, negotiated)
            LOGGER.error("Cannot send %s of %s: %s", what, _sop_class_label(sop_class), reason)
            return None
        return negotiated, context.context_id

    def _responses(self, message_id: int) -> Iterator[tuple[Command, bytes | None]]:
        """Each response to request ``message_id``, with its data set's bytes
        (or None), up to and including the final one; stops early if the
        association ends.  Requests the peer sends meanwhile (C-GET's C-STORE
        sub-operations, PS3.4 C.4.3) are served as they come; the core's
        ResponseCollector puts the responses together."""
        collector = self._collector
        while True:
            while (response := collector.next_response()) is not None:
                if response.message_id != message_id:
                    LOGGER.warning("Ignoring a response to message %s", response.message_id)
                    continue
                _log_response(response.command)
                yield response.command, response.data_set
                if response.is_final:
                    return
            event = self._next_event()
            if event is None or isinstance(event, Aborted | ConnectionClosed):
                return
            if self._services.handle(event):
                continue
            try:
                taken = collector.take(event)
            except RemoteProtocolError as exc:
                LOGGER.error("%s: aborting", exc)
                self.abort()
                return
            if not taken:
                LOGGER.warning("Ignoring %r while waiting for a response", event)

    def _abandon(self, message_id: int) -> None:
        """The caller stopped reading a query's responses (left the loop): cancel
        it and read up to its final response, so that the association stays
        usable (PS3.7 9.3.2.3)."""
        if message_id not in self._conn.outstanding_requests or not self.is_established:
            return
        with contextlib.suppress(ValueError):
            self.send_c_cancel(message_id)
        for command, _ in self._responses(message_id):
            self.last_response = command_dataset(command)

    def _send_request(
        self, context_id: int, request: Command, data_set: DataSetSource | None = None
    ) -> None:
        if LOGGER.isEnabledFor(logging.INFO):  # the service's name made only then
            LOGGER.info(
                "Sending %s Request (MsgID %s)",
                service_name(request.command_field),
                request.message_id or request.message_id_being_responded_to,
            )
        self._channel.send(context_id, request, data_set)
        if self.on_request_sent is not None:
            self.on_request_sent(request)

    def _request_response(
        self, context_id: int, request: Command, data_set: DataSetSource | None = None
    ) -> Dataset | None:
        """Send one request and wait for its final response; the response's
        command set as a Dataset, or None if the association ended first."""
        final = self._final_response(context_id, request, data_set)
        return None if final is None else command_dataset(final)

    def _final_response(
        self, context_id: int, request: Command, data_set: DataSetSource | None = None
    ) -> Command | None:
        assert request.message_id is not None
        self._send_request(context_id, request, data_set)
        final = None
        for command, _ in self._responses(request.message_id):
            final = command
        return final

    def send_c_echo(self, msg_id: int | None = None) -> Dataset | None:
        """Send a C-ECHO-RQ (PS3.7 9.1.5) and wait for its response.

        Returns
        -------
        pydicom.dataset.Dataset or None
            The response's command set, with at least ``Status`` (0000,0900);
            None if the association is not established, Verification was not
            accepted, or the association ended before the response came.
        """
        response = self.echo(msg_id)
        return None if response is None else command_dataset(response)

    def echo(self, msg_id: int | None = None) -> Command | None:
        """:meth:`send_c_echo`, returning the response as a :class:`dicomul.Command`
        (its ``status``): no pydicom needed, for tools that start fast."""
        found = self._established_context(VERIFICATION_SOP_CLASS, "C-ECHO")
        if found is None:
            return None
        _, context_id = found
        request = c_echo_rq(self._conn.new_message_id() if msg_id is None else msg_id)
        return self._final_response(context_id, request)

    def send_c_store(
        self,
        dataset: Dataset | str | os.PathLike[str] | Outgoing,
        msg_id: int | None = None,
        priority: int | str = Priority.MEDIUM,
        *,
        originator: tuple[str, int] | None = None,
        on_sent: Callable[[int], None] | None = None,
    ) -> Dataset | None:
        """Store a data set on the peer (C-STORE, PS3.7 9.1.1) and wait for the response.

        ``dataset`` is a pydicom Dataset (encoded in the accepted transfer
        syntax), or the path of a DICOM Part 10 file, whose data set is sent
        from disk as it is, in chunks, without decoding, when its transfer
        syntax was accepted for its SOP class, and otherwise re-encoded into
        an accepted native syntax if it is native or RLE Lossless.
        ``originator`` is the (AE title, message ID) of the C-MOVE this store
        serves, if any.
        ``on_sent`` is called with the size of each part of the data set as
        it is handed to the transport (a progress bar's feed).
        ``priority`` is the request's Priority (0000,0700): ``Priority.LOW``
        (2), ``MEDIUM`` (0, the default) or ``HIGH`` (1), or its name
        (PS3.7 9.1.1.1.3); anything else raises ValueError.

        Returns the response's command set (``Status`` at least), or None if
        it could not be sent (not established, no matching context) or the
        association ended first.
        """
        check_priority(priority)  # ValueError before anything is sent
        # A small file is read once, to describe and to send it.
        item, data = (dataset, None) if isinstance(dataset, Outgoing) else Outgoing.read(dataset)
        found = self._established_context(item.sop_class_uid, "C-STORE")
        if found is None:
            return None
        negotiated, _ = found
        message_id = self._conn.new_message_id() if msg_id is None else msg_id
        try:
            context_id, request, body = store_request(
                negotiated, item, message_id, originator=originator, priority=priority, data=data
            )
        except CannotSendError as exc:
            LOGGER.error("Cannot send %s: %s", dataset, exc)
            return None
        if on_sent is not None:
            body = _reporting(body, on_sent)
        return self._request_response(context_id, request, body)

    def send_c_find(
        self,
        dataset: Dataset,
        query_model: str = "P",
        msg_id: int | None = None,
        priority: int | str = Priority.MEDIUM,
    ) -> Iterator[tuple[Status, Dataset | None]]:
        """Query the peer (C-FIND, PS3.4 C.4.1); yield (status, identifier) per response.

        ``query_model`` is 'W' (Modality Worklist), 'P' (Patient Root), 'S'
        (Study Root) or 'O' (Patient/Study Only), or the model's SOP Class
        UID (for C-GET and C-MOVE too: any UID but another service's model).  Each status is a
        :class:`dicomul.Status`: an int that also compares equal to
        'Pending', 'Success', 'Cancel', 'Failure' or 'Warning'.  Pending
        responses carry a matching identifier; the final one carries None.

        The request is sent when the iterator is first advanced, and the
        responses read as it is (as pynetdicom's).  Leaving the loop early
        (or closing the iterator) cancels the query (C-CANCEL) and reads up
        to its final response, so the association stays usable; so do C-GET
        and C-MOVE.  ``priority`` is as :meth:`send_c_store`'s, for each of
        the three.
        """
        return self._query(CommandField.C_FIND_RQ, dataset, query_model, msg_id, priority)

    def send_c_get(
        self,
        dataset: Dataset,
        query_model: str = "P",
        msg_id: int | None = None,
        priority: int | str = Priority.MEDIUM,
    ) -> Iterator[tuple[Status, Dataset | None]]:
        """Retrieve the matches over this association (C-GET, PS3.4 C.4.3).

        The peer sends each match as a C-STORE sub-operation, which this AE
        stores as its SCP (``on_c_store`` or ``store_directory``); the storage
        SOP classes must be in the AE's ``scp_sop_class`` (they are proposed
        with the SCP role, PS3.7 D.3.3.4).  ``query_model`` is 'P', 'S' or
        'O'.  Yields (status, identifier) per C-GET response.
        """
        return self._query(CommandField.C_GET_RQ, dataset, query_model, msg_id, priority)

    def send_c_cancel(self, msg_id: int | None = None) -> None:
        """Ask the peer to cancel an outstanding C-FIND, C-GET or C-MOVE (C-CANCEL).

        ``msg_id`` is the request's message ID; by default the one request
        outstanding.  Keep reading that request's responses: the peer answers
        with a Cancel (0xFE00) status when it stops (PS3.4 C.4.1.2.3).
        """
        outstanding = self._conn.outstanding_requests
        if msg_id is None:
            if len(outstanding) != 1:
                raise ValueError(
                    f"say which request to cancel: outstanding are {sorted(outstanding)}"
                )
            (msg_id,) = outstanding
        context_id = self._conn.request_context(msg_id)
        if context_id is None:
            raise ValueError(f"message {msg_id} is not an outstanding request")
        self._send_request(context_id, c_cancel_rq(msg_id))

    def send_c_move(
        self,
        dataset: Dataset,
        move_aet: str,
        query_model: str = "P",
        msg_id: int | None = None,
        priority: int | str = Priority.MEDIUM,
    ) -> Iterator[tuple[Status, Dataset | None]]:
        """Ask the peer to send the matches to ``move_aet`` (C-MOVE, PS3.4 C.4.2).

        ``query_model`` is 'P', 'S' or 'O'.  Yields (status, identifier) per
        response; the sub-operation counts of each response are in
        :attr:`last_response`, and the final one may carry the failed instances.
        """
        return self._query(
            CommandField.C_MOVE_RQ,
            dataset,
            query_model,
            msg_id,
            priority,
            move_destination=move_aet,
        )

    def _query(
        self,
        field: CommandField,
        dataset: Dataset,
        query_model: str,
        msg_id: int | None,
        priority: int | str,
        *,
        move_destination: str | None = None,
    ) -> Iterator[tuple[Status, Dataset | None]]:
        sop_class = model_sop_class(field, query_model)  # ValueError before anything is sent
        checked = check_priority(priority)
        # Lazy, as pynetdicom's: the request goes at the first next(), so
        # queries may be made before any is read.
        return self._query_responses(
            field, sop_class, dataset, msg_id, move_destination, priority=checked
        )

    def _query_responses(
        self,
        field: CommandField,
        sop_class: str,
        dataset: Dataset,
        msg_id: int | None,
        move_destination: str | None,
        *,
        priority: Priority,
    ) -> Iterator[tuple[Status, Dataset | None]]:
        found = self._established_context(sop_class, CommandField(field).name)
        if found is None:
            return
        negotiated, context_id = found
        from dicomul import decode_dataset, encode_dataset  # noqa: PLC0415

        transfer_syntax = negotiated.contexts[context_id].transfer_syntax
        message_id = self._conn.new_message_id() if msg_id is None else msg_id
        if field == CommandField.C_MOVE_RQ:
            assert move_destination is not None
            request = c_move_rq(message_id, sop_class, move_destination, priority=priority)
        else:
            request = (c_get_rq if field == CommandField.C_GET_RQ else c_find_rq)(
                message_id, sop_class, priority=priority
            )
        assert request.message_id is not None
        self._send_request(context_id, request, encode_dataset(dataset, transfer_syntax))
        finished = False
        try:
            for command, body in self._responses(request.message_id):
                finished = is_final_response(command)
                self.last_response = command_dataset(command)
                identifier = None if body is None else decode_dataset(body, transfer_syntax)
                yield Status(command.status or GeneralStatus.SUCCESS), identifier
            finished = True
        finally:
            if not finished:
                self._abandon(request.message_id)

    # ------------------------------------------------------- DIMSE-N (PS3.7 10)

    def send_n_event_report(  # noqa: PLR0917 - pynetdicom's positional order
        self,
        dataset: Dataset | None,
        event_type: int,
        class_uid: str,
        instance_uid: str,
        msg_id: int | None = None,
        meta_uid: str | None = None,
    ) -> tuple[Dataset | None, Dataset | None]:
        """Report an event on a SOP instance (N-EVENT-REPORT, PS3.7 10.1.1).

        Every DIMSE-N method returns (status, reply): the response's command
        set as a Dataset (``Status`` at least) and its data set, decoded, or
        None for either (nothing sent, no reply data, the association ended).
        ``meta_uid`` names the presentation context's abstract syntax when it
        is a Meta SOP class rather than ``class_uid``.
        """
        return self._normalized(
            CommandField.N_EVENT_REPORT_RQ,
            meta_uid or class_uid,
            dataset,
            msg_id,
            lambda message_id, with_data_set: n_event_report_rq(
                message_id, class_uid, instance_uid, event_type, with_data_set=with_data_set
            ),
        )

    def send_n_get(
        self,
        identifier_list: Sequence[int],
        class_uid: str,
        instance_uid: str,
        msg_id: int | None = None,
        meta_uid: str | None = None,
    ) -> tuple[Dataset | None, Dataset | None]:
        """Get attribute values of a SOP instance (N-GET, PS3.7 10.1.2); an
        empty ``identifier_list`` (of tags) asks for all of them."""
        return self._normalized(
            CommandField.N_GET_RQ,
            meta_uid or class_uid,
            None,
            msg_id,
            lambda message_id, _: n_get_rq(
                message_id,
                class_uid,
                instance_uid,
                attributes=[int(tag) for tag in identifier_list] or None,
            ),
        )

    def send_n_set(
        self,
        modification_list: Dataset,
        class_uid: str,
        instance_uid: str,
        msg_id: int | None = None,
        meta_uid: str | None = None,
    ) -> tuple[Dataset | None, Dataset | None]:
        """Set attribute values of a SOP instance (N-SET, PS3.7 10.1.3)."""
        return self._normalized(
            CommandField.N_SET_RQ,
            meta_uid or class_uid,
            modification_list,
            msg_id,
            lambda message_id, _: n_set_rq(message_id, class_uid, instance_uid),
        )

    def send_n_action(  # noqa: PLR0917 - pynetdicom's positional order
        self,
        dataset: Dataset | None,
        action_type: int,
        class_uid: str,
        instance_uid: str,
        msg_id: int | None = None,
        meta_uid: str | None = None,
    ) -> tuple[Dataset | None, Dataset | None]:
        """Ask for an action on a SOP instance (N-ACTION, PS3.7 10.1.4)."""
        return self._normalized(
            CommandField.N_ACTION_RQ,
            meta_uid or class_uid,
            dataset,
            msg_id,
            lambda message_id, with_data_set: n_action_rq(
                message_id, class_uid, instance_uid, action_type, with_data_set=with_data_set
            ),
        )

    def send_n_create(
        self,
        dataset: Dataset | None,
        class_uid: str,
        instance_uid: str | None = None,
        msg_id: int | None = None,
        meta_uid: str | None = None,
    ) -> tuple[Dataset | None, Dataset | None]:
        """Create a SOP instance (N-CREATE, PS3.7 10.1.5); without
        ``instance_uid`` the peer assigns one, returned in the status
        Dataset's AffectedSOPInstanceUID."""
        return self._normalized(
            CommandField.N_CREATE_RQ,
            meta_uid or class_uid,
            dataset,
            msg_id,
            lambda message_id, with_data_set: n_create_rq(
                message_id, class_uid, instance_uid, with_data_set=with_data_set
            ),
        )

    def send_n_delete(
        self,
        class_uid: str,
        instance_uid: str,
        msg_id: int | None = None,
        meta_uid: str | None = None,
    ) -> tuple[Dataset | None, Dataset | None]:
        """Delete a SOP instance (N-DELETE, PS3.7 10.1.6)."""
        return self._normalized(
            CommandField.N_DELETE_RQ,
            meta_uid or class_uid,
            None,
            msg_id,
            lambda message_id, _: n_delete_rq(message_id, class_uid, instance_uid),
        )

    def _normalized(
        self,
        field: CommandField,
        abstract_syntax: str,
        dataset: Dataset | None,
        msg_id: int | None,
        build: Callable[[int, bool], Command],
    ) -> tuple[Dataset | None, Dataset | None]:
        found = self._established_context(abstract_syntax, CommandField(field).name)
        if found is None:
            return None, None
        negotiated, context_id = found
        from dicomul import decode_dataset, encode_dataset  # noqa: PLC0415

        transfer_syntax = negotiated.contexts[context_id].transfer_syntax
        body = None if dataset is None else encode_dataset(dataset, transfer_syntax)
        message_id = self._conn.new_message_id() if msg_id is None else msg_id
        request = build(message_id, body is not None)
        self._send_request(context_id, request, body)
        final: tuple[Command, bytes | None] | None = None
        for final in self._responses(message_id):  # noqa: B007 - the last one
            pass
        if final is None:
            return None, None
        command, reply = final
        return command_dataset(command), None if reply is None else decode_dataset(
            reply, transfer_syntax
        )

    def release(self) -> None:
        """Release the association (A-RELEASE) and close the connection."""
        if self.is_established:
            LOGGER.info("Releasing Association")
            self._conn.send(RequestRelease(), now=time.monotonic())
            self._channel.flush()
            while self._channel.sock is not None:
                if self._next_event() is None:
                    break
        self._close()

    def abort(self) -> None:
        """Abort the association (A-ABORT) and close the connection."""
        if self.is_established:
            LOGGER.info("Aborting Association")
            self._conn.send(Abort(), now=time.monotonic())
            self._channel.flush()
            self.is_established = False
            self.is_aborted = True
            self._event(EVT_ABORTED)
        self._close()


def _reporting(body: DataSetSource, on_sent: Callable[[int], None]) -> Iterator[BytesLike]:
    """``body``'s parts, each reported to ``on_sent`` once it has been taken."""
    parts = [body] if isinstance(body, bytes | memoryview) else body
    for part in parts:
        yield part
        on_sent(len(part))


def _sop_class_label(uid: str) -> str:
    """``RT Plan Storage (1.2.840.10008.5.1.4.1.1.481.5)``: the name from
    pydicom's dictionary if pydicom is loaded already (never imported just
    for this: an echo needs no pydicom), else the UID alone."""
    if uid == VERIFICATION_SOP_CLASS:
        return f"Verification SOP Class ({uid})"
    if "pydicom" in sys.modules:
        from pydicom.uid import UID  # noqa: PLC0415 - loaded already

        name = UID(uid).name
        if name != uid:
            return f"{name} ({uid})"
    return uid


def _establishment_failure(event: Aborted) -> str:
    """Why an association failed before the peer answered, in a line."""
    if event.by_peer:
        return f"A-ABORT received (source {event.source}, reason {event.reason})"
    message = event.message or "aborted"
    return message[0].upper() + message[1:]


def _log_response(command: Command) -> None:
    """``Received Final Find Response (Success)``...; pending ones at DEBUG
    (the apps show each match their own way, as DCMTK's do)."""
    if not LOGGER.isEnabledFor(logging.INFO):  # nor DEBUG, then: log nothing,
        return  # and make no Status (once per message, most runs)
    status = Status(command.status or GeneralStatus.SUCCESS)
    final = "" if status == "Pending" else "Final "
    LOGGER.log(
        logging.DEBUG if status == "Pending" else logging.INFO,
        "Received %s%s Response (%s)",
        final if command.command_field in _MULTIPLE_RESPONSES else "",
        service_name(command.command_field),
        status.category.value,
    )


#: Services whose requests get pending responses before the final one.
_MULTIPLE_RESPONSES = frozenset(
    {CommandField.C_FIND_RSP, CommandField.C_GET_RSP, CommandField.C_MOVE_RSP}
)


def _host_name(address: str) -> str | bytes:
    """``address`` as ``getaddrinfo`` takes it (typeshed says ``str`` only;
    CPython takes bytes too): an ASCII name or number as bytes, which spares
    a short run (``dicomul echoscu``) the import of the IDNA codec that a
    ``str`` needs, 1.5 ms (issue 16)."""
    return address.encode("ascii") if address.isascii() else address
