#!/usr/bin/env python3
"""Record the exact PDUs that real DICOM peers exchange, for codec fixtures.

What it captures
----------------
Every scenario below starts one or more real DICOM peers on the loopback
interface -- the DCMTK command-line tools (``echoscu``, ``storescu``,
``storescp``) and pynetdicom (as requestor and as acceptor) -- and routes the
client's TCP connection through :class:`RecordingProxy`, a tiny forwarding
proxy that records both byte streams verbatim.  Each direction's stream is
then cut into whole PDUs with :func:`split_pdus`, using nothing but the PDU
framing of PS3.8 section 9.3 (1 byte PDU-type, 1 reserved byte, 4 byte
big-endian PDU-length, then PDU-length bytes).

The scenarios cover A-ASSOCIATE-RQ/-AC/-RJ, P-DATA-TF (including a data set
fragmented over several P-DATA-TF PDUs by a 4096 byte maximum PDU length),
A-RELEASE-RQ/-RP and A-ABORT, encoded by DCMTK and by pynetdicom, with
presentation contexts that are accepted and rejected, and with the optional
user information sub-items (PS3.7 annex D.3.3): SCP/SCU role selection,
SOP class (common) extended negotiation, asynchronous operations window,
implementation version name and user identity request/response.

Why
---
A Sans-IO PDU codec has to decode what real implementations actually put on
the wire and re-encode it byte for byte (``encode(decode(b)) == b``).
Hand-written test vectors only show what the test author believes PS3.8
section 9.3 says; these fixtures are the bytes other implementations really
send, reserved fields, padding, item order and all.

Each record of the fixture is a dict::

    {"scenario": "a_dcmtk_echoscu_to_dcmtk_storescp",
     "peer": "dcmtk-echoscu",                # the peer that SENT this PDU
     "direction": "requestor->acceptor",     # or "acceptor->requestor"
     "index": 0,                             # position in that direction
     "pdu_type": 1,
     "hex": "0100000000cd..."}               # the whole PDU, header included

Every scenario name stands for exactly one TCP connection (association).

How to regenerate the fixture
-----------------------------
With DCMTK's ``echoscu``, ``storescu`` and ``storescp`` on ``PATH`` and
pydicom and pynetdicom installed, run from the repository root::

    python conformance/pdu_capture.py --out tests/data/captured_pdus.json

It prints a summary table (scenario, direction, PDU types, association item
and user information sub-item types) to standard output.  Generated UIDs are
derived deterministically, so a re-run normally reproduces the same bytes.

This module is test tooling: it uses threads and blocking sockets, imports
only the standard library, pydicom and (inside the scenarios that need it)
pynetdicom, and nothing from ``dicomul``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import pathlib
import select
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from dcmtk_tools import DCMTKNotFoundError, dcmtk_path

HOST = "127.0.0.1"
REQ_TO_ACC = "requestor->acceptor"
ACC_TO_REQ = "acceptor->requestor"
DIRECTIONS = (REQ_TO_ACC, ACC_TO_REQ)

#: Timeout for one DCMTK client process, in seconds.
PROCESS_TIMEOUT = 60.0
#: DCMTK network timeouts passed to every DCMTK tool, in seconds.
DCMTK_TIMEOUT = "20"
#: Size of the PDU header: type, reserved, 4 byte big-endian length.
PDU_HEADER_LENGTH = 6
#: Length of the fixed fields of A-ASSOCIATE-RQ/-AC after the PDU header.
ASSOCIATE_FIXED_LENGTH = 68

DCMTK_TOOLS = ("echoscu", "storescu", "storescp")

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
SC_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.7"
DX_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
MG_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.2"
STORAGE_SERVICE_CLASS = "1.2.840.10008.4.2"
#: An abstract syntax no storage SCP knows, to get a rejected context.
UNKNOWN_ABSTRACT_SYNTAX = "1.2.826.0.1.3680043.9.9999.77.1"
IMPLICIT_VR_LE = "1.2.840.10008.1.2"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
EXPLICIT_VR_BE = "1.2.840.10008.1.2.2"

#: A syntactically JWT-shaped placeholder (header.payload.signature, base64url);
#: nobody verifies it.
FAKE_JWT = b"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJkaWNvbXVsLWNhcHR1cmUifQ.c2lnbmF0dXJl"

Record = dict[str, Any]


class CaptureError(RuntimeError):
    """A scenario could not be run or did not produce what it should."""


# --------------------------------------------------------------------------
# PDU framing
# --------------------------------------------------------------------------


def split_pdus(stream: bytes) -> list[bytes]:
    """Split a byte stream into whole PDUs (PS3.8 section 9.3).

    Each PDU is 1 byte PDU-type, 1 reserved byte, a 4 byte big-endian
    PDU-length and PDU-length bytes.  Trailing bytes that do not form a
    whole PDU raise :class:`ValueError`.
    """
    pdus: list[bytes] = []
    offset = 0
    while offset < len(stream):
        if len(stream) - offset < PDU_HEADER_LENGTH:
            raise ValueError(
                f"{len(stream) - offset} trailing bytes at offset {offset} "
                "are shorter than a PDU header"
            )
        length = int.from_bytes(stream[offset + 2 : offset + 6], "big")
        end = offset + PDU_HEADER_LENGTH + length
        if end > len(stream):
            raise ValueError(
                f"PDU at offset {offset} declares {length} bytes but only "
                f"{len(stream) - offset - PDU_HEADER_LENGTH} follow"
            )
        pdus.append(bytes(stream[offset:end]))
        offset = end
    return pdus


def iter_items(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield ``(item_type, value)`` for a run of type/reserved/2-byte-length items."""
    offset = 0
    while offset < len(data):
        if len(data) - offset < 4:
            raise ValueError(f"truncated item header at offset {offset}")
        item_type = data[offset]
        length = int.from_bytes(data[offset + 2 : offset + 4], "big")
        value = data[offset + 4 : offset + 4 + length]
        if len(value) != length:
            raise ValueError(f"item 0x{item_type:02x} at offset {offset} is truncated")
        yield item_type, value
        offset += 4 + length


def association_item_types(pdu: bytes) -> tuple[list[int], list[int]]:
    """Return the item types and user information sub-item types of a PDU.

    Only A-ASSOCIATE-RQ (0x01) and -AC (0x02) carry variable items; for any
    other PDU both lists are empty.  This is a deliberately independent,
    minimal parser used to sanity-check the captures.
    """
    if pdu[0] not in (0x01, 0x02):
        return [], []
    body = pdu[PDU_HEADER_LENGTH + ASSOCIATE_FIXED_LENGTH :]
    items: list[int] = []
    sub_items: list[int] = []
    for item_type, value in iter_items(body):
        items.append(item_type)
        if item_type == 0x50:
            sub_items.extend(sub_type for sub_type, _ in iter_items(value))
    return items, sub_items


# --------------------------------------------------------------------------
# Sockets and processes
# --------------------------------------------------------------------------


def free_port(host: str = HOST) -> int:
    """Return a TCP port on ``host`` that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    host: str,
    port: int,
    *,
    timeout: float = 10.0,
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    """Block until a TCP connect to ``host:port`` succeeds.

    Polls with a short, growing back-off; fails early if ``process`` (the
    server being waited for) exits, and raises :class:`CaptureError` once
    ``timeout`` seconds have passed.
    """
    deadline = time.monotonic() + timeout
    backoff = 0.005
    while True:
        if process is not None and process.poll() is not None:
            raise CaptureError(
                f"server process {process.args!r} exited with "
                f"{process.returncode} before listening on port {port}"
            )
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() >= deadline:
                raise CaptureError(f"nothing listens on {host}:{port}") from None
        time.sleep(backoff)
        backoff = min(backoff * 2, 0.05)


@dataclass
class RecordedConnection:
    """The two byte streams of one proxied TCP connection."""

    requestor_to_acceptor: bytearray = field(default_factory=bytearray)
    acceptor_to_requestor: bytearray = field(default_factory=bytearray)
    error: str | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    def stream(self, direction: str) -> bytes:
        """Return the recorded bytes sent in ``direction``."""
        if direction == REQ_TO_ACC:
            return bytes(self.requestor_to_acceptor)
        if direction == ACC_TO_REQ:
            return bytes(self.acceptor_to_requestor)
        raise ValueError(f"unknown direction {direction!r}")


class RecordingProxy:
    """A loopback TCP proxy that records the bytes of every connection.

    It listens on ``listen_host`` on a free port (:attr:`port`).  For each
    accepted connection (the association requestor) it connects to
    ``upstream_host:upstream_port`` (the acceptor) and forwards bytes both
    ways, recording each direction.  End-of-stream in one direction is
    passed on as a half-close (``shutdown(SHUT_WR)``).

    Use it as a context manager; leaving the context stops the proxy and
    joins all its threads.
    """

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        listen_host: str = HOST,
        poll_interval: float = 0.05,
        socket_timeout: float = 30.0,
    ) -> None:
        """Prepare (but do not start) a proxy to ``upstream_host:upstream_port``."""
        self.upstream = (upstream_host, upstream_port)
        self.listen_host = listen_host
        self.poll_interval = poll_interval
        self.socket_timeout = socket_timeout
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._threads: list[threading.Thread] = []
        self._connections: list[RecordedConnection] = []
        self.port = 0

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> RecordingProxy:
        """Bind the listening socket and start accepting connections."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.listen_host, 0))
        listener.listen(8)
        listener.settimeout(self.poll_interval)
        self._listener = listener
        self.port = int(listener.getsockname()[1])
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"proxy-accept-{self.port}", daemon=True
        )
        self._accept_thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting, end all forwarding and join every thread.

        Raises :class:`CaptureError` if a thread is still alive after
        ``timeout`` seconds.
        """
        self._stop.set()
        deadline = time.monotonic() + timeout
        if self._accept_thread is not None:
            self._accept_thread.join(max(0.0, deadline - time.monotonic()))
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in [self._accept_thread, *threads] if t and t.is_alive()]
        if alive:
            raise CaptureError(f"proxy threads did not stop: {alive}")

    def __enter__(self) -> RecordingProxy:
        """Start the proxy."""
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        """Stop the proxy and join its threads."""
        self.stop()

    # -- results -----------------------------------------------------------

    @property
    def connections(self) -> list[RecordedConnection]:
        """The connections accepted so far, in order of acceptance."""
        with self._lock:
            return list(self._connections)

    def wait_finished(self, count: int = 1, timeout: float = 10.0) -> list[RecordedConnection]:
        """Wait until ``count`` connections were accepted and have both ended."""
        deadline = time.monotonic() + timeout
        while True:
            connections = self.connections
            if len(connections) >= count:
                for conn in connections:
                    if not conn.finished.wait(max(0.0, deadline - time.monotonic())):
                        raise CaptureError("a proxied connection did not finish in time")
                return connections
            if time.monotonic() >= deadline:
                raise CaptureError(
                    f"expected {count} proxied connection(s), got {len(connections)}"
                )
            time.sleep(self.poll_interval)

    # -- threads -----------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            conn = RecordedConnection()
            thread = threading.Thread(
                target=self._serve,
                args=(client, conn),
                name=f"proxy-conn-{self.port}-{len(self._connections)}",
                daemon=True,
            )
            with self._lock:
                self._connections.append(conn)
                self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket, conn: RecordedConnection) -> None:
        upstream: socket.socket | None = None
        try:
            client.settimeout(self.socket_timeout)
            try:
                upstream = socket.create_connection(self.upstream, timeout=self.socket_timeout)
            except OSError as exc:
                conn.error = f"upstream connect failed: {exc}"
                return
            back = threading.Thread(
                target=self._pump,
                args=(upstream, client, conn.acceptor_to_requestor),
                name=f"{threading.current_thread().name}-back",
                daemon=True,
            )
            back.start()
            self._pump(client, upstream, conn.requestor_to_acceptor)
            back.join()
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    sock.close()
            conn.finished.set()

    def _pump(self, src: socket.socket, dst: socket.socket, record: bytearray) -> None:
        """Copy ``src`` to ``dst`` until end-of-stream, recording the bytes."""
        try:
            while not self._stop.is_set():
                try:
                    readable, _, _ = select.select([src], [], [], self.poll_interval)
                    if not readable:
                        continue
                    data = src.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                record.extend(data)
                try:
                    dst.sendall(data)
                except OSError:
                    break
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)


# --------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------


def connection_records(
    scenario: str, requestor: str, acceptor: str, conn: RecordedConnection
) -> list[Record]:
    """Turn one recorded connection into fixture records.

    ``peer`` is the name of the peer that sent the PDU.
    """
    if conn.error is not None:
        raise CaptureError(f"{scenario}: {conn.error}")
    records: list[Record] = []
    for direction, peer in ((REQ_TO_ACC, requestor), (ACC_TO_REQ, acceptor)):
        try:
            pdus = split_pdus(conn.stream(direction))
        except ValueError as exc:
            raise CaptureError(f"{scenario} {direction}: {exc}") from exc
        for index, pdu in enumerate(pdus):
            records.append(
                {
                    "scenario": scenario,
                    "peer": peer,
                    "direction": direction,
                    "index": index,
                    "pdu_type": pdu[0],
                    "hex": pdu.hex(),
                }
            )
    if not records:
        raise CaptureError(f"{scenario}: no bytes were exchanged")
    return records


def capture_association(
    scenario: str,
    requestor: str,
    acceptor: str,
    upstream_port: int,
    drive: Callable[[int], object],
    *,
    expect: dict[str, set[int]] | None = None,
) -> list[Record]:
    """Run ``drive(proxy_port)`` once through a fresh proxy and return its records.

    ``drive`` must open exactly one connection to the proxy port and
    return when its association is over.  ``expect`` maps a direction to
    PDU types that must have been sent in it (used where the client's exit
    status cannot tell success, e.g. an expected rejection or abort).
    """
    with RecordingProxy(HOST, upstream_port) as proxy:
        drive(proxy.port)
        connections = proxy.wait_finished(1)
    if len(connections) != 1:
        raise CaptureError(f"{scenario}: expected 1 connection, got {len(connections)}")
    records = connection_records(scenario, requestor, acceptor, connections[0])
    for direction, types in (expect or {}).items():
        sent = {rec["pdu_type"] for rec in records if rec["direction"] == direction}
        if not types <= sent:
            raise CaptureError(
                f"{scenario} {direction}: expected PDU types {sorted(types)}, got {sorted(sent)}"
            )
    return records


def run_dcmtk_client(args: Sequence[str], *, expect_success: bool = True) -> int:
    """Run a DCMTK client quietly and return its exit status."""
    try:
        done = subprocess.run(
            list(args),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=PROCESS_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CaptureError(f"{args[0]} timed out: {list(args)}") from exc
    if expect_success and done.returncode != 0:
        raise CaptureError(
            f"{list(args)} exited with {done.returncode}: "
            f"{done.stderr.decode(errors='replace')}{done.stdout.decode(errors='replace')}"
        )
    return done.returncode


def dcmtk_client_args(tool: str, port: int, *extra: str) -> list[str]:
    """Return the argument list for a quiet DCMTK client talking to ``port``."""
    return [
        dcmtk_path(tool),
        "-q",
        "-to",
        DCMTK_TIMEOUT,
        "-ta",
        DCMTK_TIMEOUT,
        "-td",
        DCMTK_TIMEOUT,
        *extra,
        HOST,
        str(port),
    ]


@contextlib.contextmanager
def dcmtk_storescp(workdir: pathlib.Path, *options: str) -> Iterator[int]:
    """Run ``storescp`` on a free port for the duration of the context.

    Yields the port.  Received objects go to a fresh directory below
    ``workdir``; the process is always terminated on exit.
    """
    port = free_port()
    outdir = workdir / f"storescp-{port}"
    outdir.mkdir(parents=True, exist_ok=True)
    args = [
        dcmtk_path("storescp"),
        "-q",
        "-ta",
        DCMTK_TIMEOUT,
        "-td",
        DCMTK_TIMEOUT,
        *options,
        "-od",
        str(outdir),
        str(port),
    ]
    with open(workdir / f"storescp-{port}.log", "wb") as log:
        process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_for_port(HOST, port, process=process)
            yield port
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


@contextlib.contextmanager
def quiet_pynetdicom() -> Iterator[None]:
    """Silence pynetdicom's logger (e.g. expected rejections) for a while."""
    logger = logging.getLogger("pynetdicom")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def pynetdicom_scp(
    ae: Any, evt_handlers: list[tuple[Any, Callable[..., Any]]] | None = None
) -> Iterator[int]:
    """Run ``ae`` as a non-blocking server on an OS-chosen free port; yield it."""
    server = ae.start_server((HOST, 0), block=False, evt_handlers=evt_handlers or [])
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()


# --------------------------------------------------------------------------
# Test data
# --------------------------------------------------------------------------


def _pixels(count: int, bits: int, *, big_endian: bool = False) -> bytes:
    """Return deterministic pixel data of ``count`` samples of ``bits`` bits."""
    size = bits // 8
    mask = (1 << min(bits, 12)) - 1
    values = [(i * 37 + i // 7) & mask for i in range(count)]
    if big_endian:
        return b"".join(value.to_bytes(size, "big") for value in values)
    return b"".join(value.to_bytes(size, "little") for value in values)


def make_dicom_files(directory: pathlib.Path) -> dict[str, pathlib.Path]:
    """Write small DICOM Part 10 files with pydicom; return them by name.

    ``ct``: CT Image 16x16, Implicit VR Little Endian; ``mr``: MR Image
    16x16, Explicit VR Little Endian; ``sc``: Secondary Capture 16x16 8 bit,
    Explicit VR Big Endian (left out if pydicom cannot write it);
    ``ct_large``: CT Image 64x64 16 bit (8 KiB of pixels), Implicit VR
    Little Endian, to be fragmented over several P-DATA-TF PDUs.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID

    directory.mkdir(parents=True, exist_ok=True)

    def uid(name: str) -> UID:
        # A UUID-derived UID (PS3.5 B.2) from a name-based UUID: reproducible.
        return UID(f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, f'dicomul-pdu-capture/{name}').int}")

    def build(
        name: str, sop_class: str, modality: str, syntax: str, *, size: int, bits: int
    ) -> Dataset:
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = UID(sop_class)
        meta.MediaStorageSOPInstanceUID = uid(f"{name}-instance")
        meta.TransferSyntaxUID = UID(syntax)
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyDate = "20240101"
        ds.StudyTime = "120000"
        ds.AccessionNumber = ""
        ds.Modality = modality
        ds.ReferringPhysicianName = ""
        ds.PatientName = "Capture^Test"
        ds.PatientID = "DICOMUL-CAPTURE"
        ds.PatientBirthDate = ""
        ds.PatientSex = "O"
        ds.StudyInstanceUID = uid("study")
        ds.SeriesInstanceUID = uid(f"{name}-series")
        ds.StudyID = "1"
        ds.SeriesNumber = 1
        ds.InstanceNumber = 1
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = size
        ds.Columns = size
        ds.BitsAllocated = bits
        ds.BitsStored = bits if bits == 8 else 12
        ds.HighBit = ds.BitsStored - 1
        ds.PixelRepresentation = 0
        big = syntax == EXPLICIT_VR_BE
        ds.PixelData = _pixels(size * size, bits, big_endian=big)
        ds["PixelData"].VR = "OB" if bits == 8 else "OW"
        return ds

    files: dict[str, pathlib.Path] = {}
    ct = build("ct", CT_IMAGE_STORAGE, "CT", IMPLICIT_VR_LE, size=16, bits=16)
    ct.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ct.RescaleIntercept = -1024
    ct.RescaleSlope = 1
    files["ct"] = directory / "ct_implicit_le.dcm"
    ct.save_as(files["ct"], enforce_file_format=True)

    mr = build("mr", MR_IMAGE_STORAGE, "MR", EXPLICIT_VR_LE, size=16, bits=16)
    mr.ImageType = ["ORIGINAL", "PRIMARY"]
    mr.ScanningSequence = "SE"
    mr.SequenceVariant = "NONE"
    files["mr"] = directory / "mr_explicit_le.dcm"
    mr.save_as(files["mr"], enforce_file_format=True)

    sc = build("sc", SC_IMAGE_STORAGE, "OT", EXPLICIT_VR_BE, size=16, bits=8)
    sc.ConversionType = "WSD"
    path = directory / "sc_explicit_be.dcm"
    try:
        sc.save_as(path, enforce_file_format=True)
    except (NotImplementedError, ValueError) as exc:  # pragma: no cover - pydicom-dependent
        print(f"note: skipping Explicit VR Big Endian file: {exc}", file=sys.stderr)
    else:
        files["sc"] = path

    large = build("ct_large", CT_IMAGE_STORAGE, "CT", IMPLICIT_VR_LE, size=64, bits=16)
    large.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    large.RescaleIntercept = -1024
    large.RescaleSlope = 1
    files["ct_large"] = directory / "ct_large_implicit_le.dcm"
    large.save_as(files["ct_large"], enforce_file_format=True)
    return files


# --------------------------------------------------------------------------
# Scenarios (each returns the records of one or more associations)
# --------------------------------------------------------------------------


def scenario_a_echoscu_release(workdir: pathlib.Path) -> list[Record]:
    """Capture (a): DCMTK echoscu -> DCMTK storescp, C-ECHO, then A-RELEASE."""
    with dcmtk_storescp(workdir) as port:
        return capture_association(
            "a_dcmtk_echoscu_to_dcmtk_storescp",
            "dcmtk-echoscu",
            "dcmtk-storescp",
            port,
            lambda p: run_dcmtk_client(dcmtk_client_args("echoscu", p)),
        )


def scenario_b_aborts(workdir: pathlib.Path) -> list[Record]:
    """Capture (b): A-ABORT from DCMTK, by echoscu --abort and storescp --abort-after."""
    files = make_dicom_files(workdir / "files")
    records: list[Record] = []
    with dcmtk_storescp(workdir) as port:
        records += capture_association(
            "b1_dcmtk_echoscu_abort_to_dcmtk_storescp",
            "dcmtk-echoscu",
            "dcmtk-storescp",
            port,
            lambda p: run_dcmtk_client(dcmtk_client_args("echoscu", p, "--abort")),
            expect={REQ_TO_ACC: {7}},
        )
    with dcmtk_storescp(workdir, "--abort-after") as port:
        records += capture_association(
            "b2_dcmtk_storescu_to_dcmtk_storescp_abort_after",
            "dcmtk-storescu",
            "dcmtk-storescp",
            port,
            lambda p: _storescu(p, ["-R"], [files["mr"]], expect_success=False),
            expect={ACC_TO_REQ: {7}},
        )
    return records


def _storescu(
    port: int,
    options: Sequence[str],
    files: Sequence[pathlib.Path],
    *,
    expect_success: bool = True,
) -> None:
    """Run storescu with ``options`` against ``port``, sending ``files``."""
    args = dcmtk_client_args("storescu", port, *options) + [str(f) for f in files]
    run_dcmtk_client(args, expect_success=expect_success)


def scenario_c_storescu(workdir: pathlib.Path) -> list[Record]:
    """Capture (c): DCMTK storescu -> DCMTK storescp, C-STORE of generated files.

    c1 sends the CT (implicit LE), MR (explicit LE) and, if written, SC
    (explicit BE) files with storescu's default proposal (every storage SOP
    class it knows, up to 128 presentation contexts).  c2 sends a 64x64
    16 bit CT with both sides limited to a 4096 byte maximum PDU, so the data
    set spans several P-DATA-TF PDUs; c2 also proposes a user identity
    (username + password, no response requested), which storescp ignores.
    c3 sends the SC file to a storescp that
    prefers Explicit VR Big Endian, so a big endian data set is on the wire.
    """
    files = make_dicom_files(workdir / "files")
    small = [files[name] for name in ("ct", "mr", "sc") if name in files]
    records: list[Record] = []
    with dcmtk_storescp(workdir) as port:
        records += capture_association(
            "c1_dcmtk_storescu_files_to_dcmtk_storescp",
            "dcmtk-storescu",
            "dcmtk-storescp",
            port,
            lambda p: _storescu(p, [], small),
        )
    with dcmtk_storescp(workdir, "--max-pdu", "4096") as port:
        records += capture_association(
            "c2_dcmtk_storescu_max_pdu_4096_to_dcmtk_storescp",
            "dcmtk-storescu",
            "dcmtk-storescp",
            port,
            lambda p: _storescu(
                p,
                ["-R", "--max-pdu", "4096", "-usr", "dcmtk-user", "-pwd", "dcmtk-pass"],
                [files["ct_large"]],
            ),
        )
    if "sc" in files:
        with dcmtk_storescp(workdir, "+xb") as port:
            records += capture_association(
                "c3_dcmtk_storescu_big_endian_to_dcmtk_storescp",
                "dcmtk-storescu",
                "dcmtk-storescp",
                port,
                lambda p: _storescu(p, ["-R", "-xb"], [files["sc"]]),
            )
    return records


def scenario_d_rejections(workdir: pathlib.Path) -> list[Record]:
    """Capture (d): association and presentation context rejections by DCMTK.

    d1: storescp --refuse answers echoscu with A-ASSOCIATE-RJ.  d2: storescp
    accepting Implicit VR Little Endian only (``+xi``) rejects the
    presentation contexts of storescu (``-R``, one context per transfer
    syntax) that do not offer it, so the A-ASSOCIATE-AC has rejected
    presentation context items (result 4, transfer syntaxes not supported).
    """
    files = make_dicom_files(workdir / "files")
    records: list[Record] = []
    with dcmtk_storescp(workdir, "--refuse") as port:
        records += capture_association(
            "d1_dcmtk_echoscu_to_dcmtk_storescp_refuse",
            "dcmtk-echoscu",
            "dcmtk-storescp",
            port,
            lambda p: run_dcmtk_client(dcmtk_client_args("echoscu", p), expect_success=False),
            expect={ACC_TO_REQ: {3}},
        )
    with dcmtk_storescp(workdir, "+xi") as port:
        records += capture_association(
            "d2_dcmtk_storescu_to_dcmtk_storescp_implicit_only",
            "dcmtk-storescu",
            "dcmtk-storescp",
            port,
            lambda p: _storescu(p, ["-R"], [files["mr"]]),
        )
    return records


def _extended_negotiation_items(
    prefix: str, identity_type: int, *, positive_response: bool = True
) -> list[Any]:
    """Build the user information items a pynetdicom requestor proposes.

    ``identity_type`` is the User-Identity-Type (PS3.7 D.3.3.7): 1 username,
    2 username and passcode, 3 Kerberos, 4 SAML, 5 JSON Web Token.  The
    primary (and, for 2, secondary) fields are made-up placeholders.
    """
    from pynetdicom.pdu_primitives import (
        AsynchronousOperationsWindowNegotiation,
        SCP_SCU_RoleSelectionNegotiation,
        SOPClassCommonExtendedNegotiation,
        SOPClassExtendedNegotiation,
        UserIdentityNegotiation,
    )

    user = UserIdentityNegotiation()
    user.user_identity_type = identity_type
    if identity_type == 5:
        user.primary_field = FAKE_JWT
    else:
        user.primary_field = f"{prefix}-user".encode()
    if identity_type == 2:
        user.secondary_field = b"s3cret-passcode"
    user.positive_response_requested = positive_response

    role = SCP_SCU_RoleSelectionNegotiation()
    role.sop_class_uid = CT_IMAGE_STORAGE
    role.scu_role = True
    role.scp_role = True

    extended = SOPClassExtendedNegotiation()
    extended.sop_class_uid = CT_IMAGE_STORAGE
    # Storage SOP class application information (PS3.4 B.3.1): level of
    # support 2, level of digital signature support 3, element coercion 1.
    extended.service_class_application_information = b"\x02\x00\x03\x00\x01\x00"

    common = SOPClassCommonExtendedNegotiation()
    common.sop_class_uid = MG_PRESENTATION
    common.service_class_uid = STORAGE_SERVICE_CLASS
    common.related_general_sop_class_identification = [DX_PRESENTATION]

    window = AsynchronousOperationsWindowNegotiation()
    window.maximum_number_operations_invoked = 5
    window.maximum_number_operations_performed = 3
    return [user, role, extended, common, window]


def _pynetdicom_echo_client(
    ae: Any, port: int, called: str, ext_neg: list[Any], *, abort: bool = False
) -> None:
    """Associate from ``ae``, send one C-ECHO, then release (or abort)."""
    assoc = ae.associate(HOST, port, ae_title=called, ext_neg=ext_neg)
    if not assoc.is_established:
        raise CaptureError(f"pynetdicom association to {called} was not established")
    try:
        status = assoc.send_c_echo()
        if not status or status.Status != 0x0000:
            raise CaptureError(f"C-ECHO to {called} failed: {status}")
    finally:
        if abort:
            assoc.abort()
        else:
            assoc.release()


def scenario_e_pynetdicom_scu_to_storescp(workdir: pathlib.Path) -> list[Record]:
    """Capture (e): pynetdicom SCU with optional user information items -> storescp.

    The A-ASSOCIATE-RQ carries user identity (username + passcode, positive
    response requested), SCP/SCU role selection for CT Image Storage, SOP
    class extended and common extended negotiation, an asynchronous
    operations window and an implementation version name.  It also proposes
    an abstract syntax storescp does not know, which DCMTK rejects.
    """
    from pynetdicom import AE

    ae = AE(ae_title="PYNETDICOM_SCU")
    ae.implementation_version_name = "DICOMUL_CAP_E"
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 20
    for abstract in ("1.2.840.10008.1.1", CT_IMAGE_STORAGE, MG_PRESENTATION):
        ae.add_requested_context(abstract, [EXPLICIT_VR_LE, IMPLICIT_VR_LE])
    ae.add_requested_context(UNKNOWN_ABSTRACT_SYNTAX, IMPLICIT_VR_LE)
    ext_neg = _extended_negotiation_items("e", 2)
    with quiet_pynetdicom(), dcmtk_storescp(workdir) as port:
        return capture_association(
            "e_pynetdicom_scu_extended_to_dcmtk_storescp",
            "pynetdicom-scu",
            "dcmtk-storescp",
            port,
            lambda p: _pynetdicom_echo_client(ae, p, "STORESCP", ext_neg),
        )


def _pynetdicom_scp_ae(ae_title: str) -> Any:
    """Return a pynetdicom AE supporting Verification, CT and MG storage."""
    from pynetdicom import AE

    ae = AE(ae_title=ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 20
    ae.add_supported_context("1.2.840.10008.1.1")
    ae.add_supported_context(CT_IMAGE_STORAGE, scu_role=True, scp_role=True)
    ae.add_supported_context(MG_PRESENTATION)
    return ae


def _pynetdicom_scp_handlers() -> list[tuple[Any, Callable[..., Any]]]:
    """Handlers that make a pynetdicom SCP answer every negotiation item."""
    from pynetdicom import evt

    def on_user_id(event: Any) -> tuple[bool, bytes]:
        return True, b"server-response"

    def on_sop_extended(event: Any) -> dict[str, bytes]:
        return dict(event.app_info)

    def on_async_ops(event: Any) -> tuple[int, int]:
        return 1, 1

    def on_c_store(event: Any) -> int:
        return 0x0000

    return [
        (evt.EVT_USER_ID, on_user_id),
        (evt.EVT_SOP_EXTENDED, on_sop_extended),
        (evt.EVT_ASYNC_OPS, on_async_ops),
        (evt.EVT_C_STORE, on_c_store),
    ]


def scenario_f_pynetdicom_both_ends(workdir: pathlib.Path) -> list[Record]:
    """Capture (f): pynetdicom SCU -> pynetdicom SCP that answers every item.

    f1: the requestor's user identity is a JSON Web Token (type 5) with a
    positive response requested -- pynetdicom only answers types 3, 4 and 5
    -- so the A-ASSOCIATE-AC carries a user identity response (0x59), plus
    role selection (0x54), SOP class extended negotiation (0x56) and an
    asynchronous operations window (0x53); then C-ECHO and release.
    f2: the same items but user identity type 1 (username only, no response
    requested), and the SCU ends with A-ABORT instead of a release.
    """
    from pynetdicom import AE

    del workdir  # nothing is written to disk
    scu = AE(ae_title="PYNETDICOM_SCU")
    scu.implementation_version_name = "DICOMUL_CAP_F"
    scu.acse_timeout = scu.dimse_timeout = scu.network_timeout = 20
    for abstract in ("1.2.840.10008.1.1", CT_IMAGE_STORAGE, MG_PRESENTATION):
        scu.add_requested_context(abstract, [EXPLICIT_VR_LE, IMPLICIT_VR_LE])
    scp = _pynetdicom_scp_ae("PYNETDICOM_SCP")
    records: list[Record] = []
    with quiet_pynetdicom(), pynetdicom_scp(scp, _pynetdicom_scp_handlers()) as port:
        records += capture_association(
            "f1_pynetdicom_scu_to_pynetdicom_scp",
            "pynetdicom-scu",
            "pynetdicom-scp",
            port,
            lambda p: _pynetdicom_echo_client(
                scu, p, "PYNETDICOM_SCP", _extended_negotiation_items("f1", 5)
            ),
        )
        records += capture_association(
            "f2_pynetdicom_scu_abort_to_pynetdicom_scp",
            "pynetdicom-scu",
            "pynetdicom-scp",
            port,
            lambda p: _pynetdicom_echo_client(
                scu,
                p,
                "PYNETDICOM_SCP",
                _extended_negotiation_items("f2", 1, positive_response=False),
                abort=True,
            ),
        )
    return records


def scenario_g_dcmtk_to_pynetdicom_scp(workdir: pathlib.Path) -> list[Record]:
    """Capture (g): DCMTK clients -> pynetdicom SCP (pynetdicom's AC and RJ bytes).

    g1: echoscu, C-ECHO, release.  g2: the SCP requires its own AE title as
    called AE title and echoscu calls another one, so pynetdicom sends
    A-ASSOCIATE-RJ (rejected-permanent, service-user, called AE title not
    recognized).  g3: storescu with a JSON Web Token user identity
    (positive response requested) storing the CT file; pynetdicom answers
    with a user identity response sub-item (0x59).
    """
    files = make_dicom_files(workdir / "files")
    jwt_file = workdir / "token.jwt"
    jwt_file.write_bytes(FAKE_JWT)
    records: list[Record] = []
    scp = _pynetdicom_scp_ae("PYNETDICOM_SCP")
    strict = _pynetdicom_scp_ae("PYNETDICOM_SCP")
    strict.require_called_aet = True
    with (
        quiet_pynetdicom(),
        pynetdicom_scp(scp, _pynetdicom_scp_handlers()) as port,
        pynetdicom_scp(strict) as strict_port,
    ):
        records += capture_association(
            "g1_dcmtk_echoscu_to_pynetdicom_scp",
            "dcmtk-echoscu",
            "pynetdicom-scp",
            port,
            lambda p: run_dcmtk_client(dcmtk_client_args("echoscu", p, "-aec", "PYNETDICOM_SCP")),
        )
        records += capture_association(
            "g2_dcmtk_echoscu_to_pynetdicom_scp_wrong_called_aet",
            "dcmtk-echoscu",
            "pynetdicom-scp",
            strict_port,
            lambda p: run_dcmtk_client(
                dcmtk_client_args("echoscu", p, "-aec", "WRONG_AE_TITLE"), expect_success=False
            ),
            expect={ACC_TO_REQ: {3}},
        )
        records += capture_association(
            "g3_dcmtk_storescu_user_identity_to_pynetdicom_scp",
            "dcmtk-storescu",
            "pynetdicom-scp",
            port,
            lambda p: _storescu(
                p,
                ["-R", "-aec", "PYNETDICOM_SCP", "--jwt", str(jwt_file), "-rsp"],
                [files["ct"]],
            ),
        )
    return records


SCENARIOS: tuple[Callable[[pathlib.Path], list[Record]], ...] = (
    scenario_a_echoscu_release,
    scenario_b_aborts,
    scenario_c_storescu,
    scenario_d_rejections,
    scenario_e_pynetdicom_scu_to_storescp,
    scenario_f_pynetdicom_both_ends,
    scenario_g_dcmtk_to_pynetdicom_scp,
)


def check_tools() -> None:
    """Raise :class:`CaptureError` if a DCMTK tool is missing from ``PATH``."""
    try:
        for tool in DCMTK_TOOLS:
            dcmtk_path(tool)
    except DCMTKNotFoundError as exc:
        raise CaptureError(str(exc)) from exc


def capture_all(workdir: pathlib.Path) -> list[Record]:
    """Run every scenario, using ``workdir`` for scratch files; return all records."""
    check_tools()
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    records: list[Record] = []
    for scenario in SCENARIOS:
        records += scenario(workdir / scenario.__name__)
    return records


# --------------------------------------------------------------------------
# Summary and command line
# --------------------------------------------------------------------------


def _count_types(types: Sequence[int]) -> str:
    """Format item types as ``"10 20x3 50"`` (hex, with repeat counts)."""
    counts: dict[int, int] = {}
    for item_type in types:
        counts[item_type] = counts.get(item_type, 0) + 1
    return " ".join(f"{t:02x}" if n == 1 else f"{t:02x}x{n}" for t, n in sorted(counts.items()))


def summary_rows(records: Sequence[Record]) -> list[tuple[str, str, str, str, str]]:
    """Return (scenario, direction, PDU types, item types, sub-item types) rows.

    The item columns list the variable items and user information sub-items
    of the A-ASSOCIATE-RQ/-AC PDUs sent in that direction, in hex.
    """
    grouped: dict[tuple[str, str], list[Record]] = {}
    for rec in records:
        grouped.setdefault((rec["scenario"], rec["direction"]), []).append(rec)
    rows = []
    for (scenario, direction), recs in grouped.items():
        recs.sort(key=lambda r: r["index"])
        items: list[int] = []
        subs: list[int] = []
        for rec in recs:
            item_types, sub_types = association_item_types(bytes.fromhex(rec["hex"]))
            items += item_types
            subs += sub_types
        rows.append(
            (
                scenario,
                direction,
                " ".join(str(r["pdu_type"]) for r in recs),
                _count_types(items),
                _count_types(subs),
            )
        )
    return rows


def format_summary(records: Sequence[Record]) -> str:
    """Return the summary table of ``records`` as text."""
    header = ("scenario", "direction", "pdu types", "items", "user-info sub-items")
    rows = [header, *summary_rows(records)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Capture every scenario and write the fixture JSON to ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, required=True, help="fixture JSON to write")
    parser.add_argument(
        "--workdir",
        type=pathlib.Path,
        default=None,
        help="scratch directory (default: a temporary directory)",
    )
    args = parser.parse_args(argv)
    import tempfile

    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        workdir = args.workdir or pathlib.Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="pdu-capture-"))
        )
        records = capture_all(workdir)
    elapsed = time.monotonic() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(records, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    print(format_summary(records))
    print(f"\n{len(records)} PDUs written to {args.out} in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
