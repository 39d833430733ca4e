"""Peers the conformance tests run: DCMTK's storescp, an in-process pynetdicom
SCP, and a dicomul_sync AE serving in a thread; and the port helpers they share."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from dcmtk_tools import dcmtk_path
from dicomul_sync import AE

__all__ = [
    "RawAcceptor",
    "RawPeer",
    "free_port",
    "pynetdicom_scp",
    "pynetdicom_scu",
    "serving",
    "storescp",
    "wait_listening",
]

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def wait_listening(port: int, deadline_seconds: float = 10) -> None:
    """Return once something accepts connections on ``port`` (a server starting)."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on port {port}") from None
            time.sleep(0.01)


@contextlib.contextmanager
def listening(command: list[str], port: int) -> Iterator[int]:
    """``command`` started (TCP_NODELAY on, for DCMTK), its output dropped;
    yields ``port`` once it accepts connections there, terminates it on exit."""
    proc = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TCP_NODELAY": "1"},
    )
    try:
        wait_listening(port)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def storescp(*options: str) -> contextlib.AbstractContextManager[int]:
    """DCMTK storescp on a free port; yields the port."""
    port = free_port()
    return listening([dcmtk_path("storescp"), *options, str(port)], port)


@contextlib.contextmanager
def serving(ae: AE) -> Iterator[int]:
    """``ae.start()`` in a thread on a free port; on exit ``ae.stop()``, which
    must return promptly, and every association's thread is joined."""
    ae.port = free_port()
    thread = threading.Thread(target=ae.start, daemon=True)
    thread.start()
    wait_listening(ae.port)
    try:
        yield ae.port
    finally:
        started = time.monotonic()
        ae.stop()
        thread.join(10)
        assert not thread.is_alive()
        assert time.monotonic() - started < 5  # stop() is not a polling interval


@contextlib.contextmanager
def pynetdicom_scp(
    ae_title: str,
    supported: Iterable[str],
    handlers: Iterable[tuple[Any, Any]],
    *,
    both_roles: Iterable[str] = (),
    requested: Iterable[str] = (),
    transfer_syntaxes: Sequence[str] | None = None,
    require_called_aet: bool = False,
    host: str = HOST,
    configure: Callable[[Any], None] | None = None,
) -> Iterator[int]:
    """An in-process pynetdicom SCP on a free port; yields the port.

    ``both_roles`` contexts accept the SCU and SCP roles (C-GET storage);
    ``requested`` contexts are the ones it may ask for itself (C-MOVE).
    ``transfer_syntaxes`` are the ones the ``supported`` contexts accept
    (pynetdicom's default: the uncompressed ones and Deflated).
    ``require_called_aet``: reject an association not called ``ae_title``.
    ``host``: the address it listens on ('::1' for IPv6).  ``configure`` is
    called with the pynetdicom AE before it starts (any other setting).
    """
    import pynetdicom

    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    peer = pynetdicom.AE(ae_title=ae_title)
    peer.require_called_aet = require_called_aet
    for uid in supported:
        peer.add_supported_context(uid, transfer_syntaxes)
    for uid in both_roles:
        peer.add_supported_context(uid, scu_role=True, scp_role=True)
    for uid in requested:
        peer.add_requested_context(uid)
    if configure is not None:
        configure(peer)
    port = free_port()
    server = peer.start_server((host, port), block=False, evt_handlers=list(handlers))
    try:
        yield port
    finally:
        server.shutdown()


def pynetdicom_scu(ae_title: str, requested: Mapping[str, Sequence[str] | None]) -> Any:
    """A quiet pynetdicom AE requesting a context per SOP class in ``requested``,
    with the transfer syntaxes it maps to (None: pynetdicom's default)."""
    import pynetdicom

    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    peer = pynetdicom.AE(ae_title=ae_title)
    for uid, transfer_syntaxes in requested.items():
        peer.add_requested_context(uid, transfer_syntaxes)
    return peer


class RawPeer:
    """A requestor driven by hand over a socket (the dicomul engine without
    any of dicomul_sync), to misbehave at a chosen point."""

    def __init__(self, port: int) -> None:
        from dicomul import Connection, Role

        self.sock = socket.create_connection((HOST, port), timeout=10)
        self.conn = Connection(Role.REQUESTOR)

    def request(
        self,
        called: str = "ANY-SCP",
        sop_classes: Sequence[str] = (),
        transfer_syntaxes: Sequence[str] = ("1.2.840.10008.1.2",),
        max_pdu_length: int | None = None,
    ) -> object:
        """Send an A-ASSOCIATE-RQ (Verification and CT storage in Implicit VR
        Little Endian unless told); return the answer's event."""
        from dicomul import AssociationRequest, RequestAssociation, propose_contexts

        classes = list(sop_classes) or ["1.2.840.10008.1.1", "1.2.840.10008.5.1.4.1.1.2"]
        request = AssociationRequest(
            calling_ae_title="RAW",
            called_ae_title=called,
            contexts=propose_contexts(classes, list(transfer_syntaxes)),
            **({} if max_pdu_length is None else {"max_pdu_length": max_pdu_length}),
        )
        self.conn.send(RequestAssociation(request=request))
        self.conn.transport_connected()
        self.sock.sendall(self.conn.data_to_send())
        return self.next_event()

    def associate(self) -> None:
        from dicomul import AssociationAccepted

        assert isinstance(self.request(), AssociationAccepted)

    def next_event(self) -> object:
        from dicomul import NEED_DATA

        while True:
            event = self.conn.next_event()
            self.sock.sendall(self.conn.data_to_send())
            if event is not NEED_DATA:
                return event
            self.conn.receive_data(self.sock.recv(65536))

    def send(self, context_id: int, command: Any, data: bytes | None = None) -> None:
        self.conn.send_message(context_id, command, data)
        self.sock.sendall(self.conn.data_to_send())

    def store(self, sop_instance_uid: str, data: bytes, *, context_id: int = 3) -> object:
        """A C-STORE-RQ of CT Image Storage (context 3 of :meth:`associate`)
        with ``data`` as its data set, sent as it is; the response's event."""
        from dicomul import c_store_rq

        self.send(context_id, c_store_rq(1, "1.2.840.10008.5.1.4.1.1.2", sop_instance_uid), data)
        return self.next_event()

    def closed_within(self, seconds: float) -> float:
        """Seconds until the server closes the connection (after an A-ABORT)."""
        started = time.monotonic()
        self.sock.settimeout(seconds)
        while self.sock.recv(65536):
            pass
        return time.monotonic() - started


class RawAcceptor:
    """An acceptor driven by hand over a socket (the dicomul engine without
    any of dicomul_sync), to misbehave at a chosen point: it accepts one
    association with every context proposed, and answers each request with
    what ``answer(command)`` returns: a response command to send (made up
    freely, a wrong message ID included), or None to say nothing, ever; a
    request with a data set is answered once its data set is whole.  With
    ``read_rate``, it reads no faster than that many bytes a second (a slow
    link, or a slow disk).  Use it as a context manager; ``port`` is where
    it listens."""

    def __init__(
        self, answer: Callable[[Any], Any | None], *, read_rate: float | None = None
    ) -> None:
        self.answer = answer
        self.read_rate = read_rate
        self.listener = socket.create_server((HOST, 0))
        if read_rate is not None:
            # A small window, so that the kernel's buffers do not hide the
            # slow reader from the sender for long (inherited on accept).
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        # The request whose data set is arriving: (context ID, command).
        self._asked: tuple[int, Any] | None = None
        self.port = int(self.listener.getsockname()[1])
        #: The names of the events the acceptor saw (AssociationRequested...).
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> RawAcceptor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.close()
        self._thread.join(10)

    def _serve(self) -> None:
        from dicomul import NEED_DATA, Connection, ConnectionClosed, Role

        try:
            sock, _ = self.listener.accept()
        except OSError:
            return  # closed before anyone came
        conn = Connection(Role.ACCEPTOR)
        conn.transport_connected()
        with sock:
            try:
                while data := sock.recv(65536):
                    if self.read_rate is not None:
                        time.sleep(len(data) / self.read_rate)
                    conn.receive_data(data)
                    closed = False
                    while (event := conn.next_event()) is not NEED_DATA:
                        self.seen.append(type(event).__name__)
                        closed |= isinstance(event, ConnectionClosed)  # released or aborted
                        sock.sendall(self._react(conn, event) + conn.data_to_send())
                    sock.sendall(conn.data_to_send())
                    if closed:
                        return
            except OSError:
                pass  # the peer went away

    def _react(self, conn: Any, event: object) -> bytes:
        from dicomul import (
            AcceptAssociation,
            AcceptorConfig,
            AssociationRequested,
            CommandReceived,
            DataSetFragment,
            ReleaseRequested,
            RespondRelease,
            SupportedContext,
            fragment,
            pdu,
        )

        if isinstance(event, AssociationRequested):
            supported = {
                pc.abstract_syntax_uid: SupportedContext(transfer_syntaxes=pc.transfer_syntax_uids)
                for pc in event.request.presentation_contexts
            }
            config = AcceptorConfig(ae_title="RAW", supported=supported)
            conn.send(AcceptAssociation(config=config))
            return b""  # queued: data_to_send
        if isinstance(event, ReleaseRequested):
            conn.send(RespondRelease())
            return b""
        if isinstance(event, CommandReceived) and not event.command.is_response:
            self._asked = (event.context_id, event.command)
            if event.command.has_data_set:
                return b""  # answered once the data set is whole
        elif not (isinstance(event, DataSetFragment) and event.is_last):
            return b""
        if self._asked is None:
            return b""
        context_id, command = self._asked
        self._asked = None
        response = self.answer(command)
        if response is None:
            return b""
        # Encoded by hand, past the engine, which would refuse a response
        # that answers no request: misbehaving is the point.
        pdus = fragment(context_id, response, max_pdu_length=0)
        return b"".join(pdu.encode(p) for p in pdus)


#: The Patient Root C-GET model and Implicit VR Little Endian.
_GET_MODEL, _IMPLICIT = "1.2.840.10008.5.1.4.1.2.1.3", "1.2.840.10008.1.2"
#: CT Image Storage.
CT = "1.2.840.10008.5.1.4.1.1.2"


def push_instead_of_answering_a_get(port: int, called: str, window: int) -> bytes:
    """A raw requestor that asks an SCP for a C-GET (PatientID 1, Patient
    Root; CT storage offered in the SCP role, ``window`` operations), reads
    the C-STORE sub-operation that comes back and, instead of answering it,
    pushes a C-STORE of 1 MB of its own, written past its own engine.  Returns
    all the SCP sent after that, until it closed (or 5 s)."""
    import dataclasses

    import pydicom

    from dicomul import (
        AssociationAccepted,
        CommandField,
        CommandReceived,
        DataSetFragment,
        RequestAssociation,
        c_get_rq,
        c_store_rq,
        encode_dataset,
        fragment,
        pdu,
        requestor_proposal,
    )

    peer = RawPeer(port)
    proposal = requestor_proposal(
        calling_ae_title="RAW",
        called_ae_title=called,
        scu_sop_classes=[_GET_MODEL],
        scp_sop_classes=[CT],
        transfer_syntaxes=[_IMPLICIT],
    )
    request = dataclasses.replace(proposal.request, asynchronous_operations=(window, 1))
    peer.conn.send(RequestAssociation(request=request))
    peer.conn.transport_connected()
    peer.sock.sendall(peer.conn.data_to_send())
    assert isinstance(peer.next_event(), AssociationAccepted)
    identifier = pydicom.Dataset()
    identifier.QueryRetrieveLevel, identifier.PatientID = "PATIENT", "1"
    peer.send(1, c_get_rq(1, _GET_MODEL), encode_dataset(identifier, _IMPLICIT))
    event = peer.next_event()  # the sub-operation's C-STORE-RQ ...
    assert isinstance(event, CommandReceived)
    assert event.command.command_field == CommandField.C_STORE_RQ
    while not (isinstance(event, DataSetFragment) and event.is_last):
        event = peer.next_event()  # ... and its data set
    try:  # context 3: CT (contexts go 1, 3, ... in the order proposed)
        for piece in fragment(
            3, c_store_rq(2, CT, "1.2.3.5"), b"\0" * 1_000_000, max_pdu_length=8192
        ):
            peer.sock.sendall(pdu.encode(piece))
    except OSError:
        pass  # aborted and closed before it was done
    received = b""
    with contextlib.suppress(OSError):
        peer.sock.settimeout(5)
        while chunk := peer.sock.recv(65536):
            received += chunk
    peer.sock.close()
    return received


def assert_provider_abort(data: bytes) -> None:
    """``data`` holds an A-ABORT PDU (type 7) from the service provider (source 2)."""
    at = data.find(bytes([0x07, 0x00, 0x00, 0x00, 0x00, 0x04]))
    assert at >= 0, data[:64]
    assert data[at + 8] == 2


#: The Patient Root C-FIND and C-MOVE models; Verification.
_FIND_MODEL, _MOVE_MODEL = "1.2.840.10008.5.1.4.1.2.1.1", "1.2.840.10008.5.1.4.1.2.1.2"
_VERIFICATION = "1.2.840.10008.1.1"
#: The contexts of a requestor proposing (model, CT, Verification): 1, 3, 5.
_MODEL_CONTEXT, _CT_CONTEXT, _ECHO_CONTEXT = 1, 3, 5


class Gate:
    """Lets an SCP's handler take one step (give a C-FIND match, take a
    C-MOVE sub-operation's C-STORE) each time a peer opens it: the handler
    calls :meth:`step` before each, the peer :meth:`open_one`.  A handler
    slow per match for exactly as long as the test wants, without sleeping
    (a step not opened within ``timeout`` seconds raises TimeoutError)."""

    def __init__(self, timeout: float = 10) -> None:
        self._steps = threading.Semaphore(0)
        self.timeout = timeout

    def step(self) -> None:
        if not self._steps.acquire(timeout=self.timeout):
            raise TimeoutError("the peer never let the handler take its next step")

    def open_one(self) -> None:
        self._steps.release()


def nth_match(n: int) -> Any:
    """The ``n``-th match of a query: a CT instance of patient 1."""
    import pydicom

    found = pydicom.Dataset()
    found.QueryRetrieveLevel, found.PatientID = "PATIENT", "1"
    found.SOPClassUID, found.SOPInstanceUID = CT, f"1.2.3.{n + 1}"
    return found


def gated_matches(gate: Gate, count: int) -> Iterator[Any]:
    """A blocking C-FIND handler's answer: ``count`` matches, each once
    ``gate`` lets it through."""
    for n in range(count):
        gate.step()
        yield nth_match(n)


def a_large_store(size: int) -> list[bytes]:
    """A C-STORE-RQ (message ID 2, CT, context 3) of ``size`` zero bytes,
    encoded as P-DATA-TF PDUs of 8 KiB: the pieces a peer pushes."""
    from dicomul import c_store_rq, fragment, pdu

    pieces = fragment(_CT_CONTEXT, c_store_rq(2, CT, "9.9.9"), b"\0" * size, max_pdu_length=8192)
    return [pdu.encode(piece) for piece in pieces]


def many_echo_requests(count: int, per_piece: int = 50) -> list[bytes]:
    """``count`` C-ECHO-RQs (message IDs 2 on, context 5), ``per_piece``
    to a piece: a flood of requests with no data set at all."""
    from dicomul import c_echo_rq, fragment, pdu

    requests = [
        pdu.encode(piece)
        for message_id in range(2, count + 2)
        for piece in fragment(_ECHO_CONTEXT, c_echo_rq(message_id), max_pdu_length=0)
    ]
    return [b"".join(requests[at : at + per_piece]) for at in range(0, count, per_piece)]


@dataclasses.dataclass
class Served:
    """What a peer got of its query while it pushed: the statuses of the
    responses, in order, and whether the association ended in an
    A-P-ABORT (an A-ABORT from the service provider, PS3.8 Table 9-26)."""

    statuses: list[int]
    provider_abort: bool


def _query_peer(port: int, called: str, model: str, window: int) -> RawPeer:
    """A raw requestor associated with (``model``, CT, Verification),
    proposing ``window`` operations invoked (PS3.7 D.3.3.3)."""
    from dicomul import AssociationAccepted, RequestAssociation, requestor_proposal

    peer = RawPeer(port)
    peer.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    proposal = requestor_proposal(
        calling_ae_title="RAW",
        called_ae_title=called,
        scu_sop_classes=[model, CT, _VERIFICATION],
        transfer_syntaxes=[_IMPLICIT],
    )
    request = dataclasses.replace(proposal.request, asynchronous_operations=(window, 1))
    peer.conn.send(RequestAssociation(request=request))
    peer.conn.transport_connected()
    peer.sock.sendall(peer.conn.data_to_send())
    assert isinstance(peer.next_event(), AssociationAccepted)
    return peer


def _query(model: str, message_id: int, destination: str) -> tuple[Any, bytes]:
    """A Patient Root query of PatientID 1: a C-FIND, or a C-MOVE to ``destination``."""
    import pydicom

    from dicomul import c_find_rq, c_move_rq, encode_dataset

    identifier = pydicom.Dataset()
    identifier.QueryRetrieveLevel, identifier.PatientID = "PATIENT", "1"
    command = (
        c_find_rq(message_id, model)
        if model == _FIND_MODEL
        else c_move_rq(message_id, model, destination)
    )
    return command, encode_dataset(identifier, _IMPLICIT)


def push_while_a_query_is_served(
    port: int,
    called: str,
    gate: Gate,
    pieces: Sequence[bytes],
    *,
    service: str = "C-FIND",
    destination: str = "DEST",
) -> Served:
    """A raw requestor (an operations window of one) that asks for a C-FIND
    (or a C-MOVE to ``destination``) of patient 1 and, while the SCP
    performs it one step at a time, pushes ``pieces`` (PDUs written past
    its own engine: requests beyond its window, :func:`a_large_store`,
    :func:`many_echo_requests`), one before each step it lets the SCP's
    handler (or the move destination's) take through ``gate``: the SCP
    looks for a C-CANCEL before each match or sub-operation (PS3.7
    9.3.2.3, 9.3.4.3) and so reads them meanwhile.  Goes on until the final
    response or the association's end."""
    from dicomul import (
        Aborted,
        AbortSource,
        CommandReceived,
        ConnectionClosed,
        StatusCategory,
        status_category,
    )

    model = _FIND_MODEL if service == "C-FIND" else _MOVE_MODEL
    peer = _query_peer(port, called, model, 1)
    peer.send(_MODEL_CONTEXT, *_query(model, 1, destination))
    statuses: list[int] = []
    left = iter(pieces)
    try:
        while True:
            piece = next(left, None)
            if piece is not None:
                peer.sock.sendall(piece)
            gate.open_one()
            event = peer.next_event()
            while not isinstance(event, CommandReceived | Aborted | ConnectionClosed):
                event = peer.next_event()  # a match's identifier
            if isinstance(event, Aborted):
                return Served(statuses, event.source == AbortSource.SERVICE_PROVIDER)
            if isinstance(event, ConnectionClosed):
                return Served(statuses, provider_abort=False)
            status = event.command.status
            assert status is not None
            statuses.append(status)
            if status_category(status) is not StatusCategory.PENDING:
                return Served(statuses, provider_abort=False)
    finally:
        peer.sock.close()


def cancel_a_query_with_a_store_pipelined(
    port: int, called: str, gate: Gate, stores: Sequence[tuple[str, bytes]]
) -> list[list[tuple[str, int]]]:
    """A well-behaved requestor with an operations window of two (PS3.7
    D.3.3.3): for each (SOP instance UID, data set) of ``stores`` in turn,
    it asks for a C-FIND and, after its first match, sends a C-STORE of that
    CT instance (the second operation its window allows) and a C-CANCEL of
    the C-FIND (PS3.7 9.3.2.3); it lets the SCP's handler go on one match at
    a time (``gate``) until the C-FIND's final response, then reads the
    C-STORE's.  Returns, per store, the responses it got: (service, status)."""
    from dicomul import (
        CommandField,
        CommandReceived,
        Released,
        RequestRelease,
        StatusCategory,
        c_store_rq,
        status_category,
    )

    peer = _query_peer(port, called, _FIND_MODEL, 2)
    rounds: list[list[tuple[str, int]]] = []
    try:
        for n, (uid, data_set) in enumerate(stores):
            find_id, store_id = 2 * n + 1, 2 * n + 2
            peer.send(_MODEL_CONTEXT, *_query(_FIND_MODEL, find_id, ""))
            answers: list[tuple[str, int]] = []
            cancelled = False
            gate.open_one()
            while len(answers) < 2 or answers[-1][0] != "C-STORE":
                event = peer.next_event()
                if not isinstance(event, CommandReceived):
                    continue  # a match's identifier
                command = event.command
                assert command.status is not None, event
                name = CommandField(command.command_field).name  # C_FIND_RSP
                answers.append((name.removesuffix("_RSP").replace("_", "-"), command.status))
                if command.command_field != CommandField.C_FIND_RSP or (
                    status_category(command.status) is not StatusCategory.PENDING
                ):
                    continue
                if not cancelled:
                    peer.send(_CT_CONTEXT, c_store_rq(store_id, CT, uid), data_set)
                    peer.conn.cancel_for(find_id)
                    peer.sock.sendall(peer.conn.data_to_send())
                    cancelled = True
                gate.open_one()
            rounds.append(answers)
        peer.conn.send(RequestRelease())
        peer.sock.sendall(peer.conn.data_to_send())
        assert isinstance(peer.next_event(), Released)
    finally:
        peer.sock.close()
    return rounds
