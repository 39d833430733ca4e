"""A C-ECHO and C-STORE SCP on ``selectors`` driving :class:`dicomul.Connection`, which keeps
every protocol rule and timer; this loop moves bytes, keeps time and writes DIR/<SOP Instance
UID>.dcm, Success once fsynced.  ``selectors_scp.py PORT DIR|--discard [--acse-timeout S]``"""

import argparse
import contextlib
import selectors
import socket
import time

from dicomul_common.sop_classes import storage_classes_to_accept
from dicomul_common.store_sink import CheckedStore

import dicomul
from dicomul import CommandReceived, DataSetFragment

CONFIG = dicomul.AcceptorConfig.for_sop_classes(
    ae_title="SELECTORS-SCP",
    scp_sop_classes=[dicomul.VERIFICATION_SOP_CLASS, *storage_classes_to_accept()],
    transfer_syntaxes=[dicomul.EXPLICIT_VR_LITTLE_ENDIAN, dicomul.IMPLICIT_VR_LITTLE_ENDIAN],
)
SELECTOR, READ, WRITE = selectors.DefaultSelector(), selectors.EVENT_READ, selectors.EVENT_WRITE


class Peer:
    """One client: its socket, its association, the bytes to write, the C-STORE in hand."""

    def __init__(self, sock: socket.socket, directory: str | None, acse_timeout: float) -> None:
        self.sock, self.directory, self.out = sock, directory, bytearray()
        self.conn = dicomul.Connection(dicomul.Role.ACCEPTOR, acse_timeout=acse_timeout)
        self.conn.transport_connected(now=time.monotonic())  # starts ARTIM
        self.requests = dicomul.IncomingRequests()
        self.store: CheckedStore | None = None
        SELECTOR.register(sock, READ, self)

    def step(self, now: float) -> None:
        """Fire due timers, take every event, write what is due; close when the core says."""
        conn, closed = self.conn, False
        conn.handle_timeout(now=now)  # fires only the timers due by now (next_deadline)
        while (event := conn.next_event()) is not dicomul.NEED_DATA:
            closed = isinstance(event, dicomul.ConnectionClosed)  # the last event: close
            self.take(event, now)
            if conn.release_to_answer:  # the peer's A-RELEASE-RQ, its requests all answered
                conn.send(dicomul.RespondRelease(), now=now)
        self.out += conn.data_to_send()  # the core's one way out for bytes
        with contextlib.suppress(OSError):  # full: the rest goes when writable; gone: read EOF
            if self.out:
                del self.out[: self.sock.send(self.out)]
                conn.wrote(now=time.monotonic())
        if closed:
            SELECTOR.unregister(self.sock)
            self.sock.close()
            if self.store:
                self.store.discard()  # cut short: no partial file stays
        else:
            SELECTOR.modify(self.sock, READ | (WRITE if self.out else 0), self)

    def take(self, event: dicomul.ConnectionEvent, now: float) -> None:
        """Act on one event (Aborted, Released...: the core has done what they need)."""
        if isinstance(event, dicomul.AssociationRequested):
            self.conn.send(dicomul.AcceptAssociation(config=CONFIG), now=now)
        elif isinstance(event, CommandReceived):  # a C-STORE's data set goes to a store
            self.store = CheckedStore.for_request(event, self.conn.negotiated, self.directory)
        elif isinstance(event, DataSetFragment) and self.store:
            self.store.write(event.data)
        if (request := self.requests.follow(event)) and self.conn.can_send_messages:
            field, store, self.store = request.command.command_field, self.store, None
            status = store.finish() if store else dicomul.unhandled_status(field)  # C-ECHO: 0
            response = dicomul.response_for(request.command, status)
            self.conn.send_message(request.context_id, response, now=now)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="C-ECHO and C-STORE SCP on selectors")
    parser.add_argument("port", type=int)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("directory", nargs="?", help="where instances are stored")
    target.add_argument("--discard", action="store_true", help="check instances, keep none")
    parser.add_argument("--acse-timeout", type=float, default=30.0, help="seconds, ARTIM too")
    args = parser.parse_args()
    listener = socket.create_server(("", args.port))
    listener.setblocking(False)
    SELECTOR.register(listener, READ)
    while True:
        peers = [key.data for key in SELECTOR.get_map().values() if key.data]
        deadlines = [d for peer in peers if (d := peer.conn.next_deadline) is not None]
        for key, mask in SELECTOR.select(min(deadlines) - time.monotonic() if deadlines else None):
            if key.fileobj is listener:
                with contextlib.suppress(OSError):  # gone before accepted; out of descriptors
                    sock = listener.accept()[0]
                    sock.setblocking(False)
                    Peer(sock, args.directory, args.acse_timeout)
            elif mask & READ:
                data = b""  # reset by the peer: as closed
                with contextlib.suppress(OSError):
                    data = key.data.sock.recv(65536)
                key.data.conn.receive_data(data, now=time.monotonic())
        for peer in peers:
            peer.step(time.monotonic())
