"""The SCP side of the blocking transport: accept associations and serve them.

Concurrency: one listening socket watched by a ``selectors`` loop (with a
wake-up socket so that :meth:`Server.stop` interrupts it at once, no
polling), and one worker thread per association from a bounded pool.  Each
worker runs the same socket loop as the SCU side around a
:class:`dicomul.Connection` in the acceptor role; the engine decides
everything, including rejecting an association over the limit (A-ASSOCIATE-RJ
2/3/2, local limit exceeded).  A handler that raises becomes a failure
status to the peer and a logged traceback; the server goes on.
"""

from __future__ import annotations

import logging
import select
import selectors
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from dicomul import (
    NEED_DATA,
    NO_DATA_SET,
    Aborted,
    AcceptAssociation,
    AcceptorConfig,
    AssociationRequested,
    Command,
    CommandField,
    CommandReceived,
    Connection,
    ConnectionClosed,
    DataSetFragment,
    Negotiated,
    ReleaseRequested,
    RespondRelease,
    Role,
    State,
    SupportedContext,
)

from ._socket_io import read_into, write_to

if TYPE_CHECKING:
    from .ae import AE
    from .storage import DurableFile

__all__ = ["Server"]

LOGGER = logging.getLogger("dicomul.sync.server")

#: Status answered when a handler raises (PS3.7 C.4: processing failure) or,
#: for C-STORE, cannot understand (PS3.4 B.2.3: 0xC000-0xCFFF).
PROCESSING_FAILURE = 0x0110
STORE_CANNOT_UNDERSTAND = 0xC000
#: PS3.4 B.2.3: Refused, out of resources (the data set could not be written).
OUT_OF_RESOURCES = 0xA700


class Server:
    """Serve one AE's SCP side until :meth:`stop`."""

    def __init__(self, ae: AE) -> None:
        self.ae = ae
        self._selector = selectors.DefaultSelector()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._active = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.listener: socket.socket | None = None

    def config(self) -> AcceptorConfig:
        """The acceptor configuration the AE's attributes describe."""
        ae = self.ae
        return AcceptorConfig(
            ae_title=ae.require_called_aet or ae.ae_title,
            supported={
                uid: SupportedContext(transfer_syntaxes=tuple(ae.transfer_syntax))
                for uid in ae.scp_sop_class
            },
            require_called_aet=bool(ae.require_called_aet),
            require_calling_aet=(ae.require_calling_aet,) if ae.require_calling_aet else (),
            maximum_associations=ae.maximum_associations,
            max_pdu_length=0 if ae.maximum_pdu_size is None else ae.maximum_pdu_size,
        )

    def bind(self) -> int:
        """Open the listening socket; return the port (useful with port 0)."""
        listener = socket.create_server(("", self.ae.port), reuse_port=False)
        self.listener = listener
        return int(listener.getsockname()[1])

    def serve(self) -> None:
        """Accept and serve associations until :meth:`stop` is called."""
        if self.listener is None:
            self.bind()
        assert self.listener is not None
        self.listener.setblocking(False)
        self._selector.register(self.listener, selectors.EVENT_READ)
        self._selector.register(self._wake_reader, selectors.EVENT_READ)
        with ThreadPoolExecutor(
            max_workers=self.ae.maximum_associations + 1, thread_name_prefix="dicomul-assoc"
        ) as pool:
            while not self._stopping.is_set():
                for key, _ in self._selector.select():
                    if key.fileobj is self._wake_reader:
                        break
                    try:
                        sock, _ = self.listener.accept()
                    except BlockingIOError:
                        continue
                    pool.submit(self._serve_one, sock)
        self._selector.close()
        self.listener.close()

    def stop(self) -> None:
        """Stop accepting; returns at once (associations in progress finish)."""
        self._stopping.set()
        self._wake_writer.send(b"\0")

    # ---------------------------------------------------------- one association

    def claim_association(self) -> int:
        """Count one more association; return how many were open before it."""
        with self._lock:
            self._active += 1
            return self._active - 1

    def release_association(self) -> None:
        with self._lock:
            self._active -= 1

    def _serve_one(self, sock: socket.socket) -> None:
        handler = _Handler(self, sock)
        try:
            sock.setblocking(True)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            handler.run()
        except Exception:  # a failure in one association must not reach the pool
            LOGGER.exception("association ended by an error")
        finally:
            handler.finish()
            sock.close()


class _Handler:
    """One association in the acceptor role: the socket loop and the services."""

    def __init__(self, server: Server, sock: socket.socket) -> None:
        self.server = server
        self.ae = server.ae
        self.sock = sock
        # True while this connection holds one of the AE's association slots.
        self.counted = False
        self.conn = Connection(
            Role.ACCEPTOR,
            acse_timeout=self.ae.acse_timeout,
            dimse_timeout=self.ae.dimse_timeout,
            network_timeout=self.ae.network_timeout,
        )
        self._store: PendingStore | None = None
        # A C-FIND request whose identifier is arriving, and the message IDs
        # the peer has cancelled (PS3.7 9.3.2.3).
        self._query: tuple[int, Command, list[bytes]] | None = None
        self._cancelled: set[int] = set()
        # Events read while serving a C-FIND, for the main loop to handle.
        self._deferred: list[object] = []

    def run(self) -> None:
        conn = self.conn
        self._write(conn.transport_connected(now=time.monotonic()))
        while True:
            event = self._deferred.pop(0) if self._deferred else conn.next_event()
            self._write(conn.data_to_send())
            if event is NEED_DATA:
                self._read()
                continue
            if isinstance(event, ConnectionClosed):
                return
            self._handle(event)
            if self.counted and conn.state in (State.STA1, State.STA13):
                self._release_slot()  # the association no longer exists

    def _read(self) -> None:
        read_into(self.conn, self.sock)

    def _write(self, data: bytes) -> None:
        if self.counted and self.conn.state in (State.STA1, State.STA13):
            # Free the slot before the peer can read our RJ/RP/A-ABORT and retry.
            self._release_slot()
        write_to(self.conn, self.sock, data)

    def _handle(self, event: object) -> None:
        if isinstance(event, AssociationRequested):
            LOGGER.info("Association Received")
            others = self.server.claim_association()
            self.counted = True
            answer = self.conn.send(
                AcceptAssociation(config=self.server.config(), active_associations=others),
                now=time.monotonic(),
            )
            self._write(answer)  # frees the slot first if this was a rejection
            if self.conn.negotiated is not None:
                LOGGER.info("Association Acknowledged")
                self._notify(self.ae.on_association_accepted, self.conn.negotiated)
        elif isinstance(event, CommandReceived):
            self._command(event)
        elif isinstance(event, DataSetFragment):
            self._fragment(event)
        elif isinstance(event, ReleaseRequested):
            LOGGER.info("Association Released")
            self._write(self.conn.send(RespondRelease(), now=time.monotonic()))
            self._notify(self.ae.on_association_released, self.conn.negotiated)
        elif isinstance(event, Aborted):
            LOGGER.info("Association Aborted")
            self._notify(self.ae.on_association_aborted, self.conn.negotiated)

    def _respond(self, context_id: int, request: Command, field: int, status: int) -> None:
        response = Command(
            command_field=field,
            message_id_being_responded_to=request.message_id,
            affected_sop_class_uid=request.affected_sop_class_uid,
            affected_sop_instance_uid=request.affected_sop_instance_uid,
            status=status,
        )
        for data in self.conn.send_message(context_id, response):
            self._write(data)

    def _command(self, event: CommandReceived) -> None:
        command = event.command
        if command.command_field == CommandField.C_ECHO_RQ:
            LOGGER.info("Received Echo Request (MsgID %s)", command.message_id)
            status = call_handler(self.ae.on_c_echo, PROCESSING_FAILURE)
            self._respond(event.context_id, command, CommandField.C_ECHO_RSP, status)
        elif command.command_field == CommandField.C_STORE_RQ:
            self._store = PendingStore(self.ae, self.conn, event.context_id, command)
        elif command.command_field == CommandField.C_FIND_RQ:
            self._query = (event.context_id, command, [])
        elif command.command_field == CommandField.C_CANCEL_RQ:
            self._cancelled.add(command.message_id_being_responded_to or 0)
        else:
            LOGGER.warning("%s is not served yet", CommandField(command.command_field).name)

    def _fragment(self, event: DataSetFragment) -> None:
        if self._query is not None:
            context_id, command, parts = self._query
            parts.append(bytes(event.data))
            if event.is_last:
                self._query = None
                self._find(context_id, command, b"".join(parts))
            return
        store = self._store
        if store is None:
            return
        store.write(event.data)
        if event.is_last:
            self._store = None
            self._respond(
                store.context_id, store.command, CommandField.C_STORE_RSP, store.finish()
            )

    def _find(self, context_id: int, request: Command, identifier: bytes) -> None:
        """Serve a C-FIND (PS3.4 C.4.1.3): a pending response per match the
        handler yields, then Success; Cancel if the peer cancels meanwhile;
        0xC000 (unable to process) if the handler fails."""
        from dicomul import decode_dataset, encode_dataset  # noqa: PLC0415

        negotiated = self.conn.negotiated
        assert negotiated is not None
        transfer_syntax = negotiated.contexts[context_id].transfer_syntax
        message_id = request.message_id or 0
        final = 0x0000
        try:
            for item in self.ae.on_c_find(decode_dataset(identifier, transfer_syntax)):
                status, match = item if isinstance(item, tuple) else (0xFF00, item)
                self._poll()  # a C-CANCEL may be waiting
                if message_id in self._cancelled or self.conn.state not in _SERVING:
                    final = 0xFE00
                    break
                if int(status) != 0xFF00 and int(status) != 0xFF01:
                    final = int(status)
                    break
                self._send_find_response(
                    context_id, request, int(status), encode_dataset(match, transfer_syntax)
                )
        except Exception:
            LOGGER.exception("on_c_find failed; answering 0xC000")
            final = STORE_CANNOT_UNDERSTAND
        self._cancelled.discard(message_id)
        if self.conn.state in _SERVING:
            self._send_find_response(context_id, request, final, None)

    def _send_find_response(
        self, context_id: int, request: Command, status: int, match: bytes | None
    ) -> None:
        response = Command(
            command_field=CommandField.C_FIND_RSP,
            message_id_being_responded_to=request.message_id,
            affected_sop_class_uid=request.affected_sop_class_uid,
            status=status,
            command_data_set_type=0 if match is not None else NO_DATA_SET,
        )
        for data in self.conn.send_message(context_id, response, match):
            self._write(data)

    def _poll(self) -> None:
        """Take what the peer has sent, without waiting: note C-CANCELs now,
        keep every other event for the main loop."""
        readable, _, _ = select.select([self.sock], [], [], 0)
        if readable:
            self._read()
        while (event := self.conn.next_event()) is not NEED_DATA:
            self._write(self.conn.data_to_send())
            command = event.command if isinstance(event, CommandReceived) else None
            if command is not None and command.command_field == CommandField.C_CANCEL_RQ:
                self._cancelled.add(command.message_id_being_responded_to or 0)
            else:
                self._deferred.append(event)

    def _release_slot(self) -> None:
        if self.counted:
            self.counted = False
            self.server.release_association()

    def finish(self) -> None:
        """The connection is gone: free its slot; keep nothing partial (PS3.4 B.2.3)."""
        self._release_slot()
        if self._store is not None:
            self._store.discard()
            self._store = None

    @staticmethod
    def _notify(handler: Callable[..., None], negotiated: Negotiated | None) -> None:
        """Run a notification handler; a raise is logged and changes nothing."""
        try:
            handler(negotiated)
        except Exception:
            LOGGER.exception("notification handler failed")


def call_handler(handler: Callable[[], object], failure: int) -> int:
    """Run a user handler; a raise becomes ``failure`` and a logged traceback."""
    try:
        result = handler()
    except Exception:
        LOGGER.exception("handler failed; answering 0x%04X", failure)
        return failure
    status = getattr(result, "Status", result)
    return 0 if status is None else int(status)  # type: ignore[call-overload]


#: States in which this side may still send responses (PS3.8 Evt9: Sta6, Sta8).
_SERVING = frozenset({State.STA6, State.STA8})


class PendingStore:
    """A C-STORE being received: streamed durably to the AE's store_directory,
    or collected for the AE's on_c_store(dataset) handler."""

    def __init__(self, ae: AE, conn: Connection, context_id: int, command: Command) -> None:
        self.ae = ae
        self.context_id = context_id
        self.command = command
        negotiated = conn.negotiated
        assert negotiated is not None
        self.transfer_syntax = negotiated.contexts[context_id].transfer_syntax
        self.parts: list[bytes] = []
        self.file: DurableFile | None = None
        self.failure: int | None = None
        directory = ae.store_directory
        if directory is not None:
            from .storage import DurableFile  # noqa: PLC0415 - pydicom only when storing

            try:
                self.file = DurableFile(
                    directory,
                    sop_class_uid=command.affected_sop_class_uid or "",
                    sop_instance_uid=command.affected_sop_instance_uid or "",
                    transfer_syntax=self.transfer_syntax,
                )
            except (OSError, ValueError):
                LOGGER.exception("cannot store %s", command.affected_sop_instance_uid)
                self.failure = OUT_OF_RESOURCES

    def write(self, data: bytes | memoryview) -> None:
        if self.failure is not None:
            return
        if self.file is None:
            self.parts.append(bytes(data))
            return
        try:
            self.file.write(data)
        except OSError:
            LOGGER.exception("writing %s failed", self.command.affected_sop_instance_uid)
            self.discard()
            self.failure = OUT_OF_RESOURCES

    def finish(self) -> int:
        """The status to answer: Success only for data durably written or accepted."""
        if self.failure is not None:
            return self.failure
        if self.file is not None:
            try:
                path = self.file.commit()
            except OSError:
                LOGGER.exception("storing %s failed", self.command.affected_sop_instance_uid)
                return OUT_OF_RESOURCES
            call_handler(lambda: self.ae.on_c_stored(path), 0)
            return 0x0000
        transfer_syntax = self.transfer_syntax
        data = b"".join(self.parts)

        def store() -> int:
            from dicomul import decode_dataset  # noqa: PLC0415 - pydicom only when storing

            return self.ae.on_c_store(decode_dataset(data, transfer_syntax))

        return call_handler(store, STORE_CANNOT_UNDERSTAND)

    def discard(self) -> None:
        if self.file is not None:
            self.file.discard()
            self.file = None
