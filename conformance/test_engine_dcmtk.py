"""The Sans-IO engine against real DCMTK peers, before any adapter exists.

Each test drives a :class:`dicomul._connection.Connection` over a plain
blocking socket loop written here (the simplest possible adapter), against
DCMTK's storescp (engine as SCU: echo and store) and DCMTK's echoscu and
storescu (engine as SCP).  Success means DCMTK accepted every byte the
engine wrote and the data set arrived bit-exact.
"""

from __future__ import annotations

import pathlib
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import pydicom
import pytest
from dcmtk_tools import dcmtk_path
from peers import free_port, wait_listening
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from dicomul._acse import AcceptorConfig, AssociationRequest, SupportedContext, propose_contexts
from dicomul._command import Command, CommandField
from dicomul._connection import Connection, Role
from dicomul._dataset import encode_dataset
from dicomul._dimse import CommandReceived, DataSetFragment
from dicomul._events import (
    NEED_DATA,
    AcceptAssociation,
    AssociationAccepted,
    AssociationRequested,
    ConnectionClosed,
    Released,
    ReleaseRequested,
    RequestAssociation,
    RequestRelease,
    RespondRelease,
)

VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
TIMEOUT = 20


def events_until(
    conn: Connection, sock: socket.socket, stop: Callable[[object], bool]
) -> Iterator[object]:
    """The adapter loop: read, feed, yield events (writing the protocol's answers)."""
    while True:
        event = conn.next_event()
        sock.sendall(conn.data_to_send())
        if event is NEED_DATA:
            conn.receive_data(sock.recv(65536), now=time.monotonic())
            continue
        yield event
        if stop(event):
            return


def ct_dataset() -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=["dicomul", "engine-dcmtk"])
    ds.PatientName = "ENGINE^TEST"
    ds.PatientID = "E1"
    ds.Modality = "CT"
    ds.Rows = ds.Columns = 64
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes(range(256)) * 32
    return ds


@pytest.fixture
def storescp(tmp_path: pathlib.Path) -> Iterator[tuple[int, pathlib.Path]]:
    port = free_port()
    out = tmp_path / "received"
    out.mkdir()
    proc = subprocess.Popen(
        [dcmtk_path("storescp"), "-od", str(out), "--max-pdu", "16384", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(port)
        yield port, out
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_engine_as_scu_echo_and_store_to_dcmtk_storescp(
    storescp: tuple[int, pathlib.Path],
) -> None:
    port, out = storescp
    conn = Connection(Role.REQUESTOR)
    request = AssociationRequest(
        calling_ae_title="DICOMUL",
        called_ae_title="STORESCP",
        contexts=propose_contexts([VERIFICATION, CT], [ImplicitVRLittleEndian]),
        max_pdu_length=8192,
    )
    conn.send(RequestAssociation(request=request))
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        conn.transport_connected(now=time.monotonic())
        sock.sendall(conn.data_to_send())
        (accepted,) = events_until(conn, sock, lambda e: True)
        assert isinstance(accepted, AssociationAccepted)
        assert set(accepted.negotiated.contexts) == {1, 3}
        assert accepted.negotiated.acceptor_max_pdu_length == 16384

        echo = Command(
            command_field=CommandField.C_ECHO_RQ, message_id=1, affected_sop_class_uid=VERIFICATION
        )
        conn.send_message(1, echo)
        sock.sendall(conn.data_to_send())
        (response,) = events_until(conn, sock, lambda e: True)
        assert isinstance(response, CommandReceived)
        assert response.command.command_field == CommandField.C_ECHO_RSP
        assert response.command.status == 0

        ds = ct_dataset()
        body = encode_dataset(ds, ImplicitVRLittleEndian)
        store = Command(
            command_field=CommandField.C_STORE_RQ,
            message_id=2,
            affected_sop_class_uid=CT,
            affected_sop_instance_uid=ds.SOPInstanceUID,
            priority=0,
            command_data_set_type=0,
        )
        conn.send_message(3, store, body)
        sock.sendall(conn.data_to_send())
        (response,) = events_until(conn, sock, lambda e: True)
        assert isinstance(response, CommandReceived)
        assert response.command.status == 0
        assert response.command.affected_sop_instance_uid == ds.SOPInstanceUID

        conn.send(RequestRelease())
        sock.sendall(conn.data_to_send())
        events = list(events_until(conn, sock, lambda e: isinstance(e, ConnectionClosed)))
        assert [type(e) for e in events] == [Released, ConnectionClosed]
    (stored,) = out.iterdir()
    received = pydicom.dcmread(stored)
    assert received.SOPInstanceUID == ds.SOPInstanceUID
    assert received.PixelData == ds.PixelData
    assert received.PatientName == "ENGINE^TEST"


def serve_one(
    listener: socket.socket, config: AcceptorConfig, received: dict[str, object]
) -> None:
    """Accept one association and serve C-ECHO and C-STORE until released."""
    sock, _ = listener.accept()
    with sock:
        sock.settimeout(TIMEOUT)
        conn = Connection(Role.ACCEPTOR)
        conn.transport_connected(now=time.monotonic())
        data_set = bytearray()
        pending: Command | None = None
        context = 0
        for event in events_until(conn, sock, lambda e: isinstance(e, ConnectionClosed)):
            if isinstance(event, AssociationRequested):
                received["calling"] = event.request.calling_aet
                conn.send(AcceptAssociation(config=config))
                sock.sendall(conn.data_to_send())
            elif isinstance(event, CommandReceived):
                command = event.command
                if command.command_field == CommandField.C_ECHO_RQ:
                    reply = Command(
                        command_field=CommandField.C_ECHO_RSP,
                        message_id_being_responded_to=command.message_id,
                        affected_sop_class_uid=command.affected_sop_class_uid,
                        status=0,
                    )
                    conn.send_message(event.context_id, reply)
                    sock.sendall(conn.data_to_send())
                    received["echoes"] = int(received.get("echoes", 0)) + 1  # type: ignore[call-overload]
                else:
                    pending, context = command, event.context_id
            elif isinstance(event, DataSetFragment):
                data_set += event.data
                if event.is_last:
                    assert pending is not None
                    received.setdefault("stored", []).append(bytes(data_set))  # type: ignore[attr-defined]
                    data_set.clear()
                    reply = Command(
                        command_field=CommandField.C_STORE_RSP,
                        message_id_being_responded_to=pending.message_id,
                        affected_sop_class_uid=pending.affected_sop_class_uid,
                        affected_sop_instance_uid=pending.affected_sop_instance_uid,
                        status=0,
                    )
                    conn.send_message(context, reply)
                    sock.sendall(conn.data_to_send())
            elif isinstance(event, ReleaseRequested):
                conn.send(RespondRelease())
                sock.sendall(conn.data_to_send())
        received["final_state"] = conn.state.value


@pytest.fixture
def engine_scp() -> Iterator[tuple[int, dict[str, object], threading.Thread]]:
    config = AcceptorConfig(
        ae_title="DICOMUL",
        supported={
            VERIFICATION: SupportedContext(
                transfer_syntaxes=(ExplicitVRLittleEndian, ImplicitVRLittleEndian)
            ),
            CT: SupportedContext(
                transfer_syntaxes=(ExplicitVRLittleEndian, ImplicitVRLittleEndian)
            ),
        },
        max_pdu_length=16384,
    )
    received: dict[str, object] = {}
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)
    thread = threading.Thread(target=serve_one, args=(listener, config, received), daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], received, thread
    finally:
        thread.join(TIMEOUT)
        listener.close()


def test_dcmtk_echoscu_against_the_engine(
    engine_scp: tuple[int, dict[str, object], threading.Thread],
) -> None:
    port, received, thread = engine_scp
    done = subprocess.run(
        [dcmtk_path("echoscu"), "-aet", "DCMTK-ECHO", "127.0.0.1", str(port)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    thread.join(TIMEOUT)
    assert received["calling"] == "DCMTK-ECHO"
    assert received["echoes"] == 1
    assert received["final_state"] == "Sta1"


def test_dcmtk_storescu_against_the_engine(
    engine_scp: tuple[int, dict[str, object], threading.Thread], tmp_path: pathlib.Path
) -> None:
    port, received, thread = engine_scp
    ds = ct_dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CT
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    path = tmp_path / "ct.dcm"
    ds.save_as(path, enforce_file_format=True)
    done = subprocess.run(
        [dcmtk_path("storescu"), "-xe", "127.0.0.1", str(port), str(path)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    thread.join(TIMEOUT)
    (stored,) = received["stored"]  # type: ignore[misc]
    # The data set in the file starts after the preamble, "DICM" and the
    # file meta group, whose length (0002,0000) is its first element.
    raw = path.read_bytes()
    meta_length = int.from_bytes(raw[140:144], "little")
    assert stored == raw[144 + meta_length :]
    assert received["final_state"] == "Sta1"
