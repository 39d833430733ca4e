"""Echo and store with DCMTK's storescp, using dicomul's Sans-IO engine over a plain socket.

This is the README's demo.  It starts DCMTK ``storescp`` on a free port, then
plays the SCU with :class:`dicomul.Connection` and nothing but a blocking
socket: associate, C-ECHO, C-STORE of a generated CT image, release.  The
loop in :func:`events` is the whole adapter: write what the engine says,
read, feed, take events.  The image storescp wrote is read back and compared.

Run it with ``scripts/demo`` (which installs what is missing), or
``python examples/demo.py --host H --port P`` to talk to any storage SCP.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

import dicomul
from dicomul import (
    NEED_DATA,
    AssociationAccepted,
    AssociationRejected,
    AssociationRequest,
    Command,
    CommandField,
    CommandReceived,
    Connection,
    ContextResult,
    RequestAssociation,
    RequestRelease,
    Role,
    Status,
    propose_contexts,
)

VERIFICATION = "1.2.840.10008.1.1"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
UNKNOWN_SOP_CLASS = "1.2.3.4.5.6.7"


def events(conn: Connection, sock: socket.socket) -> Iterator[object]:
    """The adapter: yield the engine's events, reading from the socket as needed."""
    while True:
        event = conn.next_event()
        sock.sendall(conn.data_to_send())  # the core's one way out for bytes
        if event is NEED_DATA:
            conn.receive_data(sock.recv(65536), now=time.monotonic())
            continue
        yield event


def ct_image() -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = "DEMO^DICOMUL"
    ds.PatientID = "DEMO-1"
    ds.Modality = "CT"
    ds.Rows = ds.Columns = 128
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(range(256)) * 128
    return ds


def run(host: str, port: int, called: str) -> int:
    request = AssociationRequest(
        calling_ae_title="DICOMUL-DEMO",
        called_ae_title=called,
        contexts=propose_contexts(
            [VERIFICATION, CT_IMAGE_STORAGE, UNKNOWN_SOP_CLASS],
            [ExplicitVRLittleEndian, ImplicitVRLittleEndian],
        ),
    )
    conn = Connection(Role.REQUESTOR)
    conn.send(RequestAssociation(request=request))
    with socket.create_connection((host, port), timeout=30) as sock:
        # Each PDU is its own write: without TCP_NODELAY, Nagle's algorithm
        # and the peer's delayed ACK stall every small PDU by tens of ms.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.transport_connected(now=time.monotonic())
        sock.sendall(conn.data_to_send())  # the A-ASSOCIATE-RQ
        stream = events(conn, sock)
        answer = next(stream)
        if isinstance(answer, AssociationRejected):
            print(f"association rejected: {answer.reason_text}")
            return 1
        assert isinstance(answer, AssociationAccepted)
        negotiated = answer.negotiated
        name, version = negotiated.acceptor_implementation
        print(f"associated with {called} at {host}:{port} ({name}, {version})")
        proposed = {pc.context_id: pc.abstract_syntax for pc in request.contexts}
        for context_id, abstract in proposed.items():
            accepted = negotiated.contexts.get(context_id)
            outcome = (
                f"accepted, {accepted.transfer_syntax}"
                if accepted
                else ContextResult(negotiated.rejected[context_id]).name.lower().replace("_", " ")
            )
            print(f"  context {context_id} {abstract}: {outcome}")

        echo = Command(
            command_field=CommandField.C_ECHO_RQ, message_id=1, affected_sop_class_uid=VERIFICATION
        )
        conn.send_message(1, echo)
        sock.sendall(conn.data_to_send())
        response = next(stream)
        assert isinstance(response, CommandReceived)
        print(f"C-ECHO: status {Status(response.command.status or 0)!r}")

        image = ct_image()
        context = negotiated.contexts[3]
        body = dicomul.encode_dataset(image, context.transfer_syntax)
        store = Command(
            command_field=CommandField.C_STORE_RQ,
            message_id=2,
            affected_sop_class_uid=CT_IMAGE_STORAGE,
            affected_sop_instance_uid=image.SOPInstanceUID,
            priority=0,
            command_data_set_type=0,
        )
        started = time.perf_counter()
        conn.send_message(3, store, body)
        sock.sendall(conn.data_to_send())
        response = next(stream)
        assert isinstance(response, CommandReceived)
        elapsed = (time.perf_counter() - started) * 1000
        status = Status(response.command.status or 0)
        print(f"C-STORE of {len(body)} bytes: status {status!r} in {elapsed:.1f} ms")

        conn.send(RequestRelease())
        sock.sendall(conn.data_to_send())
        print(f"release: {type(next(stream)).__name__}")
    return 0 if status == "Success" else 1


def find_dcmtk_storescp() -> str:
    """Path of DCMTK's storescp, skipping pynetdicom's script of the same name
    that an activated virtual environment puts first on PATH."""
    venv_bin = os.path.dirname(os.path.abspath(sys.executable))
    path = os.pathsep.join(
        entry for entry in os.environ.get("PATH", "").split(os.pathsep)
        if os.path.abspath(entry) != venv_bin
    )  # fmt: skip
    found = shutil.which("storescp", path=path)
    if found is None:
        sys.exit("storescp (DCMTK) is not installed: run scripts/demo, or pass --port")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, help="a storage SCP to use (default: start storescp)")
    parser.add_argument("--called", default="STORESCP", help="called AE title")
    args = parser.parse_args()
    if args.port is not None:
        return run(args.host, args.port, args.called)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    output = pathlib.Path(tempfile.mkdtemp(prefix="dicomul-demo-"))
    # DCMTK honours TCP_NODELAY=1 from the environment (it is off otherwise).
    env = {**os.environ, "TCP_NODELAY": "1"}
    proc = subprocess.Popen([find_dcmtk_storescp(), "-od", str(output), str(port)], env=env)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("storescp did not start listening")
                time.sleep(0.02)
        print(f"DCMTK storescp listening on 127.0.0.1:{port}, writing to {output}")
        status = run("127.0.0.1", port, args.called)
        proc.terminate()
        proc.wait(timeout=10)
        for stored in sorted(output.iterdir()):
            ds = pydicom.dcmread(stored)
            print(f"storescp wrote {stored.name}: {ds.PatientName}, {ds.Rows}x{ds.Columns}, "
                  f"pixel data intact: {ds.PixelData == ct_image().PixelData}")  # fmt: skip
        return status
    finally:
        proc.kill()
        shutil.rmtree(output, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
