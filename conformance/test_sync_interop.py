"""dicomul_sync against other DICOM stacks, over real sockets.

Storage in each transfer syntax the blocking transport must carry (Implicit
and Explicit VR Little Endian, Explicit VR Big Endian, Deflated, RLE
Lossless) and in a multi-frame file over 20 MiB, in both directions with
DCMTK: what arrives must be the sender's data set byte for byte, under the
same transfer syntax.  pynetdicom as the peer in both roles (echo, store,
find).  And a load of eight storescu processes storing into one SCP at once.

Our SCP stores with ``store_directory``: the data set is written as it
arrives, never decoded.  DCMTK's storescp runs with ``+B`` (write the data
set exactly as received) and ``+xa`` (accept every transfer syntax it knows).
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import threading
import tracemalloc
from collections.abc import Iterator
from typing import Any, NamedTuple

import pydicom
import pytest
from corpus import (
    CT,
    MULTIFRAME_SC,
    SYNTAXES,
    assert_same_data_set,
    data_set_bytes,
    image,
    write,
)
from dcmtk_tools import dcmtk_path
from dicomul_sync import AE
from peers import pynetdicom_scp, pynetdicom_scu, serving, storescp

VERIFICATION = "1.2.840.10008.1.1"
PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
HOST = "127.0.0.1"
MiB = 1024 * 1024

#: What our SCP accepts: the AE's default three, extended with Deflated and RLE Lossless.
ACCEPTED_SYNTAXES = list(SYNTAXES.values())

#: storescu's switch proposing each syntax.  storescu proposes one context per
#: transfer syntax and sends each file in its own syntax when it was accepted.
PROPOSE = {"implicit": "-xi", "explicit": "-xe", "big": "-xb", "deflated": "-xd", "rle": "-xr"}

#: A streamed transfer keeps at most a few chunks in memory, whatever the file size.
STREAMING_PEAK = 8 * MiB


def run_dcmtk(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [dcmtk_path(tool), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "TCP_NODELAY": "1"},
    )


def storage_ae(directory: pathlib.Path, *sop_classes: str) -> tuple[AE, list[pathlib.Path]]:
    """Our storage SCP, storing durably in ``directory``; and the list of the
    paths it reports stored (``on_c_stored``), in order."""
    ae = AE(
        ae_title="INTEROP",
        scp_sop_class=[VERIFICATION, *sop_classes],
        transfer_syntax=ACCEPTED_SYNTAXES,
    )
    ae.store_directory = str(directory)
    stored: list[pathlib.Path] = []
    ae.on_c_stored = stored.append  # type: ignore[method-assign]
    return ae, stored


@pytest.fixture(scope="session")
def large_file(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A 41-frame 512x512 16-bit image, Explicit VR Little Endian: 20.5 MiB."""
    ds = image(sop_class=MULTIFRAME_SC, rows=512, columns=512, frames=41, seed=20)
    path = write(ds, tmp_path_factory.mktemp("large") / "multiframe.dcm", SYNTAXES["explicit"])
    assert path.stat().st_size > 20 * MiB
    return path


@pytest.fixture
def store(tmp_path: pathlib.Path) -> pathlib.Path:
    """An empty directory for the receiving side to store into."""
    directory = tmp_path / "store"
    directory.mkdir()
    return directory


class Case(NamedTuple):
    """A small image in one transfer syntax."""

    syntax: str  # a key of SYNTAXES
    deflated_parity: int | None = None  # odd or even length of the deflated stream

    def write_source(
        self, directory: pathlib.Path, seed: int
    ) -> tuple[pydicom.Dataset, pathlib.Path]:
        ds = image(seed=seed)
        path = directory / f"source-{seed}.dcm"
        return ds, write(ds, path, SYNTAXES[self.syntax], deflated_parity=self.deflated_parity)


#: Deflated twice: PS3.5 A.5 pads a deflated data set of odd length with a
#: NULL byte, so both lengths are sent.
CASES = {
    "implicit": Case("implicit"),
    "explicit": Case("explicit"),
    "big": Case("big"),
    "deflated-even": Case("deflated", 0),
    "deflated-odd": Case("deflated", 1),
    "rle": Case("rle"),
}


def cases() -> list[Any]:
    """The CASES as test parameters."""
    return [pytest.param(case, id=name) for name, case in CASES.items()]


# ------------------------------------------------- DCMTK storescu -> our SCP


@pytest.mark.parametrize("case", cases())
def test_storescu_into_our_scp(tmp_path: pathlib.Path, store: pathlib.Path, case: Case) -> None:
    ds, source = case.write_source(tmp_path, seed=1)
    ae, stored = storage_ae(store, CT)
    with serving(ae) as port:
        done = run_dcmtk("storescu", PROPOSE[case.syntax], HOST, str(port), str(source))
    assert done.returncode == 0, done.stderr
    assert stored == [store / f"{ds.SOPInstanceUID}.dcm"]
    assert list(store.iterdir()) == stored  # no temporary file left behind
    assert_same_data_set(stored[0], source)


def test_storescu_large_multiframe_into_our_scp_streams_to_disk(
    large_file: pathlib.Path, store: pathlib.Path
) -> None:
    ae, stored = storage_ae(store, MULTIFRAME_SC)
    tracemalloc.start()
    try:
        with serving(ae) as port:
            done = run_dcmtk("storescu", "-xe", HOST, str(port), str(large_file))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert done.returncode == 0, done.stderr
    assert list(store.iterdir()) == stored
    (written,) = stored
    assert_same_data_set(written, large_file)
    # Written as it arrived: the SCP never held the data set in memory.
    assert peak < STREAMING_PEAK, f"{peak} bytes traced while receiving"


# --------------------------------------------------- our SCU -> DCMTK storescp


def store_into_storescp(
    source: pathlib.Path, sent: str | pydicom.Dataset, store: pathlib.Path, transfer_syntax: str
) -> pathlib.Path:
    """Send ``sent`` (``source``'s path, or a Dataset) from our SCU, proposing
    only ``transfer_syntax``, to a bit-preserving storescp; return the file it wrote."""
    sop_class = str(pydicom.dcmread(source, stop_before_pixels=True).SOPClassUID)
    scu = AE(ae_title="OURSCU", scu_sop_class=[sop_class], transfer_syntax=[transfer_syntax])
    with storescp("+B", "+xa", "-od", str(store)) as port:
        assoc = scu.associate(HOST, port)
        assert assoc.is_established
        status = assoc.send_c_store(sent)
        assoc.release()
    assert assoc.is_released
    assert status is not None
    assert status.Status == 0x0000
    (received,) = store.iterdir()
    return received


@pytest.mark.parametrize("case", cases())
def test_our_scu_stores_a_file_into_storescp(
    tmp_path: pathlib.Path, store: pathlib.Path, case: Case
) -> None:
    _, source = case.write_source(tmp_path, seed=2)
    received = store_into_storescp(source, str(source), store, SYNTAXES[case.syntax])
    assert_same_data_set(received, source)


@pytest.mark.parametrize("case", cases())
def test_our_scu_stores_a_dataset_into_storescp(
    tmp_path: pathlib.Path, store: pathlib.Path, case: Case
) -> None:
    _, source = case.write_source(tmp_path, seed=3)
    dataset = pydicom.dcmread(source)
    received = store_into_storescp(source, dataset, store, SYNTAXES[case.syntax])
    assert_same_data_set(received, source)


@pytest.mark.parametrize("form", ["path", "dataset"])
def test_our_scu_large_multiframe_into_storescp(
    large_file: pathlib.Path, store: pathlib.Path, form: str
) -> None:
    sent = str(large_file) if form == "path" else pydicom.dcmread(large_file)
    tracemalloc.start()
    try:
        received = store_into_storescp(large_file, sent, store, SYNTAXES["explicit"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_same_data_set(received, large_file)
    if form == "path":  # streamed from disk in chunks, never read whole
        assert peak < STREAMING_PEAK, f"{peak} bytes traced while sending"


@pytest.mark.parametrize(("read_as", "sent_as"), [("big", "explicit"), ("explicit", "big")])
def test_our_scu_re_encodes_across_byte_orders_and_dcmtk_sees_the_same_pixels(
    tmp_path: pathlib.Path, store: pathlib.Path, read_as: str, sent_as: str
) -> None:
    """A file in one byte order, to a peer accepting only the other: re-
    encoded, each OW word swapped (PS3.5 7.3), so that DCMTK, converting what
    it received to little endian (dcmconv +te), finds the original pixels."""
    ds, source = Case(read_as).write_source(tmp_path, seed=4)
    scu = AE(ae_title="OURSCU", scu_sop_class=[CT], transfer_syntax=[SYNTAXES[sent_as]])
    with storescp("+B", "+xa", "-od", str(store)) as port:
        assoc = scu.associate(HOST, port)
        assert assoc.is_established
        response = assoc.send_c_store(source)
        assoc.release()
    assert response is not None
    assert response.Status == 0
    (received,) = store.iterdir()
    assert pydicom.dcmread(received).file_meta.TransferSyntaxUID == SYNTAXES[sent_as]
    little = tmp_path / "little.dcm"
    converted = run_dcmtk("dcmconv", "+te", str(received), str(little))
    assert converted.returncode == 0, converted.stderr
    assert pydicom.dcmread(little).PixelData == ds.PixelData  # the values, little endian


# ----------------------------------------------- pynetdicom's SCU -> our SCP


@pytest.mark.parametrize("case", cases())
def test_pynetdicom_scu_stores_into_our_scp(
    tmp_path: pathlib.Path, store: pathlib.Path, case: Case
) -> None:
    ds, source = case.write_source(tmp_path, seed=5)
    peer = pynetdicom_scu("PYNETDICOM", {CT: [SYNTAXES[case.syntax]]})
    ae, stored = storage_ae(store, CT)
    with serving(ae) as port:
        assoc = peer.associate(HOST, port)
        assert assoc.is_established
        status = assoc.send_c_store(source)
        assoc.release()
    assert status.Status == 0x0000
    assert stored == [store / f"{ds.SOPInstanceUID}.dcm"]
    assert list(store.iterdir()) == stored
    assert_same_data_set(stored[0], source)


PATIENTS = [("DOE^JOHN", "P1"), ("ROE^RICHARD", "P2"), ("DOE^JANE", "P3")]


def patients_named(identifier: pydicom.Dataset) -> Iterator[pydicom.Dataset]:
    """Our C-FIND handler: the patients whose name starts like the query's
    (a trailing ``*``), with the return keys asked for."""
    prefix = str(identifier.PatientName).rstrip("*")
    for name, patient_id in PATIENTS:
        if name.startswith(prefix):
            match = pydicom.Dataset()
            match.QueryRetrieveLevel = "PATIENT"
            match.PatientName = name
            match.PatientID = patient_id
            yield match


def test_pynetdicom_scu_echoes_and_finds_against_our_scp() -> None:
    ae = AE(scp_sop_class=[VERIFICATION, PATIENT_ROOT_FIND])
    ae.on_c_find = patients_named  # type: ignore[method-assign]
    peer = pynetdicom_scu("PYNETDICOM", {VERIFICATION: None, PATIENT_ROOT_FIND: None})

    def query(name: str) -> pydicom.Dataset:
        identifier = pydicom.Dataset()
        identifier.QueryRetrieveLevel = "PATIENT"
        identifier.PatientName = name
        identifier.PatientID = ""
        return identifier

    with serving(ae) as port:
        assoc = peer.associate(HOST, port)
        assert assoc.is_established
        echo = assoc.send_c_echo()
        does = list(assoc.send_c_find(query("DOE*"), PATIENT_ROOT_FIND))
        nobody = list(assoc.send_c_find(query("ZZZ*"), PATIENT_ROOT_FIND))
        assoc.release()
    assert echo.Status == 0x0000
    assert [status.Status for status, _ in does] == [0xFF00, 0xFF00, 0x0000]
    assert [(str(m.PatientName), m.PatientID) for _, m in does[:-1]] == [
        ("DOE^JOHN", "P1"),
        ("DOE^JANE", "P3"),
    ]
    assert does[-1][1] is None
    assert [status.Status for status, _ in nobody] == [0x0000]


# ----------------------------------------------- our SCU -> pynetdicom's SCP


#: What a pynetdicom storage SCP's handler saw: transfer syntax, SOP Instance
#: UID, and the data set's bytes as they came.
Seen = tuple[str, str, bytes]


@pytest.fixture(scope="module")
def pynetdicom_store_scp() -> Iterator[tuple[int, list[Seen]]]:
    """One pynetdicom storage SCP for the module (each start and stop costs its
    0.5 s poll interval), accepting every transfer syntax in SYNTAXES."""
    from pynetdicom import evt

    received: list[Seen] = []

    def handle_store(event: evt.Event) -> int:
        request = event.request
        raw = request.DataSet.getvalue()
        received.append((event.context.transfer_syntax, request.AffectedSOPInstanceUID, raw))
        return 0x0000

    handlers = [(evt.EVT_C_STORE, handle_store)]
    with pynetdicom_scp(
        "PYNETSCP", [VERIFICATION, CT], handlers, transfer_syntaxes=ACCEPTED_SYNTAXES
    ) as port:
        yield port, received


def store_into_pynetdicom(
    peer: tuple[int, list[Seen]], sent: str | pydicom.Dataset, transfer_syntax: str
) -> Seen:
    """C-ECHO, then C-STORE ``sent`` (a file's path, or a Dataset) from our SCU,
    proposing only ``transfer_syntax``, into the pynetdicom SCP; return what
    its handler saw."""
    port, received = peer
    received.clear()
    scu = AE(scu_sop_class=[VERIFICATION, CT], transfer_syntax=[transfer_syntax])
    assoc = scu.associate(HOST, port, ae_title="PYNETSCP")
    assert assoc.is_established
    echo = assoc.send_c_echo()
    status = assoc.send_c_store(sent)
    assoc.release()
    assert assoc.is_released
    assert echo is not None
    assert echo.Status == 0x0000
    assert status is not None
    assert status.Status == 0x0000
    (seen,) = received
    return seen


@pytest.mark.parametrize("case", cases())
def test_our_scu_stores_a_file_into_pynetdicom(
    tmp_path: pathlib.Path, pynetdicom_store_scp: tuple[int, list[Seen]], case: Case
) -> None:
    ds, source = case.write_source(tmp_path, seed=6)
    transfer_syntax = SYNTAXES[case.syntax]
    seen = store_into_pynetdicom(pynetdicom_store_scp, str(source), transfer_syntax)
    assert seen == (transfer_syntax, ds.SOPInstanceUID, data_set_bytes(source))


@pytest.mark.parametrize("case", cases())
def test_our_scu_stores_a_dataset_into_pynetdicom(
    tmp_path: pathlib.Path, pynetdicom_store_scp: tuple[int, list[Seen]], case: Case
) -> None:
    ds, source = case.write_source(tmp_path, seed=7)
    transfer_syntax = SYNTAXES[case.syntax]
    seen = store_into_pynetdicom(pynetdicom_store_scp, pydicom.dcmread(source), transfer_syntax)
    assert seen == (transfer_syntax, ds.SOPInstanceUID, data_set_bytes(source))


# ------------------------------------------------------------------------ load


def test_eight_storescu_processes_at_once(tmp_path: pathlib.Path, store: pathlib.Path) -> None:
    """8 storescu processes, 50 distinct files each (each process one transfer
    syntax), into one SCP allowing exactly 8 associations: every file stored
    once, byte for byte, and nothing partial or temporary left behind."""
    names = list(SYNTAXES)
    batches: list[tuple[str, list[pathlib.Path]]] = []
    sources: dict[str, pathlib.Path] = {}
    for n in range(8):
        syntax = names[n % len(names)]
        folder = tmp_path / f"scu{n}"
        folder.mkdir()
        files = []
        for i in range(50):
            ds = image(rows=16, columns=16, seed=50 * n + i, name=f"LOAD^{n}^{i}")
            files.append(write(ds, folder / f"{i}.dcm", SYNTAXES[syntax]))
            sources[f"{ds.SOPInstanceUID}.dcm"] = files[-1]
        batches.append((syntax, files))

    ae, stored = storage_ae(store, CT)
    ae.maximum_associations = 8
    lock = threading.Lock()
    open_now = [0, 0]  # associations open, and the most open at once

    def opened(_: object) -> None:
        with lock:
            open_now[0] += 1
            open_now[1] = max(open_now)

    def closed(_: object) -> None:
        with lock:
            open_now[0] -= 1

    ae.on_association_accepted = opened  # type: ignore[method-assign]
    ae.on_association_released = closed  # type: ignore[method-assign]
    ae.on_association_aborted = closed  # type: ignore[method-assign]

    procs: list[subprocess.Popen[str]] = []
    try:
        with serving(ae) as port:
            procs = [
                subprocess.Popen(
                    [dcmtk_path("storescu"), PROPOSE[syntax], HOST, str(port), *map(str, files)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    env={**os.environ, "TCP_NODELAY": "1"},
                )
                for syntax, files in batches
            ]
            outputs = [proc.communicate(timeout=60)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, output
    assert open_now[0] == 0, "an association was never reported released or aborted"
    assert open_now[1] >= 2, "the storescu processes never overlapped"
    # None lost, none twice, no temporary or partial file in the directory.
    assert sorted(p.name for p in store.iterdir()) == sorted(sources)
    assert sorted(p.name for p in stored) == sorted(sources)
    for name, source in sources.items():
        assert_same_data_set(store / name, source)
