"""A blocking association: a socket loop around :class:`dicomul.Connection`.

The loop is all this module adds to the core: write what the engine says to
write, read when it needs data (with the socket timeout set from the
engine's next deadline), and let the engine decide everything else.  The
pynetdicom3-style methods (``send_c_echo``, ``release``, ``abort``) turn
events into the return values the seed documentation shows.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import TYPE_CHECKING

from dicomul import (
    NEED_DATA,
    Abort,
    Aborted,
    AssociationAccepted,
    AssociationRejected,
    AssociationRequest,
    Command,
    CommandField,
    CommandReceived,
    Connection,
    ConnectionClosed,
    Negotiated,
    Released,
    RequestAssociation,
    RequestRelease,
    Role,
    propose_contexts,
)

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from .ae import AE

__all__ = ["Association"]

LOGGER = logging.getLogger("dicomul.sync")

VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1"
#: PS3.8 9.3.2.2: an A-ASSOCIATE-RQ holds at most 128 presentation contexts.
MAX_CONTEXTS = 128


class Association:
    """One association this AE requested (the SCU side).

    Attributes
    ----------
    is_established, is_rejected, is_aborted, is_released : bool
        Where the association stands, as the seed documentation uses them.
    negotiated : dicomul.Negotiated or None
        What was agreed, once established.
    """

    def __init__(
        self,
        ae: AE,
        address: str,
        port: int,
        *,
        called_ae_title: str,
        max_pdu: int | None,
    ) -> None:
        self.ae = ae
        self.address = address
        self.port = port
        self.is_established = False
        self.is_rejected = False
        self.is_aborted = False
        self.is_released = False
        self.negotiated: Negotiated | None = None
        self.rejection: AssociationRejected | None = None
        self._sock: socket.socket | None = None
        self._conn = Connection(
            Role.REQUESTOR,
            acse_timeout=ae.acse_timeout,
            dimse_timeout=ae.dimse_timeout,
            network_timeout=ae.network_timeout,
        )
        sop_classes = list(dict.fromkeys(ae.scu_sop_class))
        if len(sop_classes) > MAX_CONTEXTS:
            LOGGER.warning(
                "%d SCU SOP classes: only the first %d are proposed (PS3.8 9.3.2.2)",
                len(sop_classes),
                MAX_CONTEXTS,
            )
        self._request = AssociationRequest(
            calling_ae_title=ae.ae_title,
            called_ae_title=called_ae_title,
            contexts=propose_contexts(sop_classes[:MAX_CONTEXTS], ae.transfer_syntax),
            max_pdu_length=0 if max_pdu is None else max_pdu,
        )

    # ------------------------------------------------------------------ loop

    def _connect(self) -> None:
        """Open the transport and negotiate; sets the is_* flags."""
        self._conn.send(RequestAssociation(request=self._request), now=time.monotonic())
        try:
            sock = socket.create_connection(
                (self.address, self.port), timeout=self.ae.network_timeout or self.ae.acse_timeout
            )
        except OSError as exc:
            LOGGER.error("Association Request Failed: Failed to establish association")
            LOGGER.error("Peer aborted Association (or never connected)")
            LOGGER.error("TCP Initialisation Error: (%s)", exc.strerror or exc)
            self.is_aborted = True
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        sock.sendall(self._conn.transport_connected(now=time.monotonic()))
        event = self._next_event()
        if isinstance(event, AssociationAccepted):
            self.negotiated = event.negotiated
            if not event.negotiated.contexts:
                LOGGER.error("No Acceptable Presentation Contexts")

    def _next_event(self) -> object:
        """The engine's next event, reading and timing as it needs; None once closed."""
        conn = self._conn
        while True:
            event = conn.next_event()
            self._write(conn.data_to_send())
            if event is not NEED_DATA:
                self._note(event)
                return event
            if self._sock is None:
                return None
            deadline = conn.next_deadline
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            self._sock.settimeout(timeout)
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                conn.handle_timeout(now=time.monotonic())
                continue
            except OSError:
                data = b""
            conn.receive_data(data, now=time.monotonic())

    def _write(self, data: bytes) -> None:
        if data and self._sock is not None:
            try:
                self._sock.sendall(data)
            except OSError:
                self._conn.receive_data(b"", now=time.monotonic())

    def _note(self, event: object) -> None:
        """Keep the is_* flags in step with the engine's events."""
        if isinstance(event, AssociationAccepted):
            self.is_established = True
        elif isinstance(event, AssociationRejected):
            self.is_rejected = True
            self.rejection = event
            LOGGER.error("Association Rejected: %s", event.reason_text)
        elif isinstance(event, Aborted):
            self.is_established = False
            self.is_aborted = True
            LOGGER.error("Association Aborted: %s", event.message)
        elif isinstance(event, Released):
            self.is_established = False
            self.is_released = True
        elif isinstance(event, ConnectionClosed):
            self.is_established = False
            self._close()

    def _close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # ------------------------------------------------------------- services

    def send_c_echo(self, msg_id: int | None = None) -> Dataset | None:
        """Send a C-ECHO-RQ (PS3.7 9.1.5) and wait for its response.

        Returns
        -------
        pydicom.dataset.Dataset or None
            The response's command set, with at least ``Status`` (0000,0900);
            None if the association is not established, Verification was not
            accepted, or the association ended before the response came.
        """
        from pydicom.dataset import Dataset  # noqa: PLC0415 - keep start-up fast

        negotiated = self.negotiated
        if not self.is_established or negotiated is None:
            LOGGER.error("Association is not established: cannot send C-ECHO")
            return None
        context = negotiated.context_for(VERIFICATION_SOP_CLASS)
        if context is None:
            LOGGER.error("No accepted presentation context for Verification")
            return None
        message_id = self._conn.new_message_id() if msg_id is None else msg_id
        request = Command(
            command_field=CommandField.C_ECHO_RQ,
            message_id=message_id,
            affected_sop_class_uid=VERIFICATION_SOP_CLASS,
        )
        for data in self._conn.send_message(context.context_id, request):
            self._write(data)
        while True:
            event = self._next_event()
            if event is None or isinstance(event, Aborted | ConnectionClosed):
                return None
            if (
                isinstance(event, CommandReceived)
                and event.command.message_id_being_responded_to == message_id
            ):
                response = Dataset()
                response.Status = event.command.status
                response.MessageIDBeingRespondedTo = message_id
                if event.command.affected_sop_class_uid:
                    response.AffectedSOPClassUID = event.command.affected_sop_class_uid
                return response
            LOGGER.warning("Ignoring %r while waiting for the C-ECHO response", event)

    def release(self) -> None:
        """Release the association (A-RELEASE) and close the connection."""
        if self.is_established:
            self._write(self._conn.send(RequestRelease(), now=time.monotonic()))
            while self._sock is not None:
                if self._next_event() is None:
                    break
        self._close()

    def abort(self) -> None:
        """Abort the association (A-ABORT) and close the connection."""
        if self.is_established:
            self._write(self._conn.send(Abort(), now=time.monotonic()))
            self.is_established = False
            self.is_aborted = True
        self._close()
