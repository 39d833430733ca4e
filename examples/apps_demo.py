"""The apps, end to end: ``dicomul storescp`` and ``dicomul echoscp`` serving,
``dicomul echoscu`` and ``dicomul storescu`` (and DCMTK's storescu) sending.

The README's demo runs this after the engine demo.  It writes three CT
images to a temporary directory, starts the two servers on free ports,
sends the images with our storescu and one with DCMTK's, echoes, and checks
that every file arrived with its data set byte for byte.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

DICOMUL = str(pathlib.Path(sys.executable).with_name("dicomul"))
HOST = "127.0.0.1"
ENV = {**os.environ, "TCP_NODELAY": "1"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def ct_image(path: pathlib.Path, name: str) -> pathlib.Path:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = generate_uid()
    ds.PatientName = name
    ds.Modality = "CT"
    ds.Rows = ds.Columns = 64
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(range(256)) * 32
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    return path


def data_set(path: pathlib.Path) -> bytes:
    data = path.read_bytes()
    return data[144 + int.from_bytes(data[140:144], "little") :]


def run(*command: str) -> None:
    print("$", " ".join(command[1:] if command[0] == DICOMUL else command), flush=True)
    done = subprocess.run(command, capture_output=True, text=True, env=ENV, check=False)
    print((done.stderr + done.stdout).rstrip() or "(silent)", flush=True)
    if done.returncode != 0:
        raise SystemExit(f"{command[1] if command[0] == DICOMUL else command[0]} failed")


def main() -> int:
    work = pathlib.Path(tempfile.mkdtemp(prefix="dicomul-apps-demo-"))
    studies, received = work / "studies", work / "received"
    studies.mkdir()
    received.mkdir()
    sent = [ct_image(studies / f"ct{n}.dcm", f"DEMO^APPS{n}") for n in range(3)]
    store_port, echo_port = free_port(), free_port()
    servers = [
        subprocess.Popen(
            [DICOMUL, "storescp", "-v", "-od", str(received), str(store_port)],
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        ),
        subprocess.Popen(
            [DICOMUL, "echoscp", "-v", str(echo_port)], stderr=subprocess.PIPE, text=True, env=ENV
        ),
    ]
    try:
        wait_listening(store_port)
        wait_listening(echo_port)
        run(DICOMUL, "echoscu", "-v", HOST, str(echo_port))
        run(DICOMUL, "storescu", "-v", HOST, str(store_port), str(studies))
        dcmtk = shutil.which("storescu", path="/usr/bin:/usr/local/bin")
        if dcmtk:
            extra = ct_image(studies / "from-dcmtk.dcm", "DEMO^DCMTK")
            sent.append(extra)
            run(dcmtk, HOST, str(store_port), str(extra))
    finally:
        for server in servers:
            server.send_signal(signal.SIGINT)
        for app, server in zip(("storescp", "echoscp"), servers, strict=True):
            _, log = server.communicate(timeout=10)
            print(f"--- {app} -v said:\n{log.rstrip()}")
    stored = {p.name: p for p in received.iterdir()}
    intact = all(data_set(stored[f"{_uid(path)}.dcm"]) == data_set(path) for path in sent)
    print(f"{len(stored)} files stored durably, data sets byte for byte: {intact}")
    shutil.rmtree(work)
    return 0 if intact and len(stored) == len(sent) else 1


def _uid(path: pathlib.Path) -> str:
    return str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)


if __name__ == "__main__":
    sys.exit(main())
