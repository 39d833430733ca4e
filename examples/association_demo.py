"""Negotiate a real DICOM association with DCMTK's storescp using only dicomul's codec.

This is the README's demo.  It starts DCMTK ``storescp`` on a free port, then
plays the requestor by hand over a plain socket: it encodes an
A-ASSOCIATE-RQ with :func:`dicomul.pdu.encode`, frames the peer's answer out
of the TCP stream with :class:`dicomul.ReceiveBuffer`, prints what was
negotiated, and releases the association.  The socket loop is the whole of
an "adapter": bytes out from ``encode``, bytes in through the framer.

Run it with ``scripts/demo`` (which installs what is missing), or
``python examples/association_demo.py [--host H --port P]`` to talk to any SCP.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from dicomul import ContextResult, ReceiveBuffer, pdu, reject_reason_name
from dicomul.pdu import (
    AbstractSyntaxItem,
    ApplicationContextItem,
    AssociateAC,
    AssociateRJ,
    AssociateRQ,
    ImplementationClassUIDSubItem,
    ImplementationVersionNameSubItem,
    MaximumLengthSubItem,
    PresentationContextRQItem,
    ReleaseRQ,
    TransferSyntaxItem,
    UserInformationItem,
    ae_title,
    uid,
)

VERIFICATION = "1.2.840.10008.1.1"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
UNKNOWN_SOP_CLASS = "1.2.3.4.5.6.7"
TRANSFER_SYNTAXES = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]  # explicit LE, implicit LE
DICOMUL_IMPLEMENTATION_UID = "1.2.826.0.1.3680043.8.498.1"  # pydicom's documented root


def build_request(called: str) -> AssociateRQ:
    """An A-ASSOCIATE-RQ proposing three presentation contexts (PS3.8 9.3.2)."""
    contexts = tuple(
        PresentationContextRQItem(
            context_id=2 * n + 1,
            abstract_syntax=AbstractSyntaxItem(name=uid(sop_class)),
            transfer_syntaxes=tuple(TransferSyntaxItem(name=uid(ts)) for ts in TRANSFER_SYNTAXES),
        )
        for n, sop_class in enumerate([VERIFICATION, CT_IMAGE_STORAGE, UNKNOWN_SOP_CLASS])
    )
    return AssociateRQ(
        called_ae_title=ae_title(called),
        calling_ae_title=ae_title("DICOMUL-DEMO"),
        application_context=ApplicationContextItem(name=uid(pdu.DICOM_APPLICATION_CONTEXT)),
        presentation_contexts=contexts,
        user_information=UserInformationItem(
            sub_items=(
                MaximumLengthSubItem(maximum_length=16384),
                ImplementationClassUIDSubItem(name=uid(DICOMUL_IMPLEMENTATION_UID)),
                ImplementationVersionNameSubItem(name=b"DICOMUL_010"),
            )
        ),
    )


def receive_pdu(sock: socket.socket, buffer: ReceiveBuffer) -> pdu.PDU:
    """Read from ``sock`` until ``buffer`` holds one whole PDU, and return it."""
    while (received := buffer.next_pdu()) is None:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("peer closed the connection")
        buffer.feed(data)
    return received


def send_pdu(sock: socket.socket, item: pdu.PDU) -> None:
    data = pdu.encode(item)
    print(f"-> {type(item).__name__:<12} {len(data):>5} bytes  {data[:12].hex(' ')} ...")
    sock.sendall(data)


def negotiate(host: str, port: int, called: str) -> int:
    """Associate, report the outcome, release; return a process exit status."""
    buffer = ReceiveBuffer()
    with socket.create_connection((host, port), timeout=10) as sock:
        request = build_request(called)
        send_pdu(sock, request)
        answer = receive_pdu(sock, buffer)
        print(f"<- {type(answer).__name__}")
        if isinstance(answer, AssociateRJ):
            reason = reject_reason_name(answer.source, answer.reason)
            print(f"   rejected ({answer.result}/{answer.source}/{answer.reason}): {reason}")
            return 1
        if not isinstance(answer, AssociateAC):
            print(f"   unexpected answer: {answer!r}")
            return 1
        info = answer.user_information
        if info is not None:
            name = f"{info.implementation_class_uid} ({info.implementation_version_name})"
            print(f"   peer implementation: {name}, max PDU {info.maximum_length}")
        proposed = {pc.context_id: pc.abstract_syntax_uid for pc in request.presentation_contexts}
        for pc in answer.presentation_contexts:
            outcome = ContextResult(pc.result).name.lower().replace("_", " ")
            syntax = (
                f" with {pc.transfer_syntax_uid}" if pc.result == ContextResult.ACCEPTANCE else ""
            )
            print(f"   context {pc.context_id} ({proposed.get(pc.context_id)}): {outcome}{syntax}")
        send_pdu(sock, ReleaseRQ())
        reply = receive_pdu(sock, buffer)
        print(f"<- {type(reply).__name__}: association released")
    return 0


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


def start_storescp() -> tuple[subprocess.Popen[bytes], int, str]:
    """Start DCMTK storescp on a free loopback port; return it, the port and its dir."""
    storescp = find_dcmtk_storescp()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    output = tempfile.mkdtemp(prefix="dicomul-demo-")
    proc = subprocess.Popen([storescp, "-od", output, str(port)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port, output
        except OSError:
            time.sleep(0.02)
    proc.kill()
    sys.exit("storescp did not start listening")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, help="an SCP to talk to (default: start storescp)")
    parser.add_argument("--called", default="ANY-SCP", help="called AE title")
    args = parser.parse_args()
    if args.port is not None:
        return negotiate(args.host, args.port, args.called)
    proc, port, output = start_storescp()
    print(f"DCMTK storescp listening on 127.0.0.1:{port}")
    try:
        return negotiate("127.0.0.1", port, args.called)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(output, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
