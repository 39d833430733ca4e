"""Hostile C-STOREs into ``dicomul storescp`` and ``dicomul qrscp``: Success
only for what is kept, and bounded memory whatever the peer sends.

Each test sends, by hand (:class:`peers.RawPeer`), what a careless or hostile
peer sends: deflated data sets that are not (random bytes, cut short, sent
uncompressed), data sets that are not the instance the request names, a
deflate bomb, one P-DATA-TF of 300 MB to a server announcing no maximum PDU
length.  Before these fixes each was answered Success (or cost gigabytes).
"""

from __future__ import annotations

import os
import pathlib
import zlib
from collections.abc import Iterator

import pytest
from corpus import image, write
from peers import RawPeer
from pydicom.dataset import Dataset
from test_apps_echo import Server, app_server, dicomul

from dicomul import (
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    AssociationAccepted,
    Command,
    CommandReceived,
    ReceiveBuffer,
    c_store_rq,
    decode_command,
    encode_command,
    encode_dataset,
    pdu,
)

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
STUDY = "1.2.826.0.1.3680043.10.1437.77"
#: Peak resident memory allowed to a server that took a hostile data set.
MEMORY_BOUND = 100 << 20


def store_rq(uid: str, sop_class: str = CT, message_id: int = 1) -> Command:
    return c_store_rq(message_id, sop_class, uid)


def connect(server: Server, syntax: str, *, max_pdu_length: int | None = None) -> RawPeer:
    peer = RawPeer(server.port)
    accepted = peer.request(transfer_syntaxes=[syntax], max_pdu_length=max_pdu_length)
    assert isinstance(accepted, AssociationAccepted), accepted
    return peer


def status_of(event: object) -> int:
    assert isinstance(event, CommandReceived), event
    assert event.command.status is not None
    return event.command.status


def raw_response(peer: RawPeer) -> Command:
    """The next command the server sends, read off the socket directly."""
    buffer = ReceiveBuffer()
    parts: list[bytes] = []
    while True:
        while (received := buffer.next_pdu()) is not None:
            assert isinstance(received, pdu.PDataTF), received
            for pdv in received.pdvs:
                parts.append(bytes(pdv.data))
                if pdv.is_last:
                    return decode_command(b"".join(parts))
        buffer.feed(peer.sock.recv(65536))


def instance(uid: str, *, name: str = "HOSTILE^TEST") -> Dataset:
    ds = image(rows=8, columns=8, name=name)
    ds.SOPInstanceUID = uid
    ds.PatientID = "HOSTILE"
    ds.StudyInstanceUID = STUDY
    ds.SeriesInstanceUID = STUDY + ".1"
    return ds


def kept_files(directory: pathlib.Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def find_uids(server: Server) -> set[str]:
    """The SOP Instance UIDs qrscp's index answers for the test's study."""
    from dicomul_sync import AE

    query = Dataset()
    query.QueryRetrieveLevel = "IMAGE"
    query.PatientID = "HOSTILE"
    query.StudyInstanceUID = STUDY
    query.SeriesInstanceUID = STUDY + ".1"
    query.SOPInstanceUID = ""
    ae = AE(ae_title="FINDSCU", port=0, scu_sop_class=["1.2.840.10008.5.1.4.1.2.1.1"])
    assoc = ae.associate("127.0.0.1", server.port)
    assert assoc.is_established
    try:
        return {
            str(match.SOPInstanceUID)
            for status, match in assoc.send_c_find(query, query_model="P")
            if status == "Pending" and match is not None
        }
    finally:
        assoc.release()


def peak_rss(server: Server) -> int:
    """The server process's peak resident set size (VmHWM), in bytes."""
    status = pathlib.Path(f"/proc/{server.proc.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


@pytest.fixture(params=["storescp", "qrscp"])
def server(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Server]:
    """Each storage server, storing under ``tmp_path / "out"``."""
    out = tmp_path / "out"
    out.mkdir()
    options = ["-od", str(out)] if request.param == "storescp" else ["--database", str(out)]
    with app_server(request.param, "-v", *options) as running:
        yield running


def test_a_deflated_store_is_answered_success_only_for_a_whole_data_set(
    server: Server, tmp_path: pathlib.Path
) -> None:
    """Random bytes, a deflated data set cut in half, and a data set sent
    uncompressed on a Deflated context (as one peer in the wild does) were
    stored as ``<uid>.dcm`` with Success (and never indexed).  Now each is
    answered 0xC000, Cannot understand, and nothing is kept; a whole
    deflated data set is stored, and qrscp finds it."""
    whole = encode_dataset(instance("1.2.3.100"), DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
    hostile = {
        "1.2.3.101": os.urandom(4096),
        "1.2.3.102": whole[: len(whole) // 2 & ~1],
        "1.2.3.103": encode_dataset(instance("1.2.3.103"), EXPLICIT_VR_LITTLE_ENDIAN),
    }
    peer = connect(server, DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
    statuses = {}
    for n, (uid, data) in enumerate(hostile.items(), start=1):
        peer.send(3, store_rq(uid, message_id=n), data)
        statuses[uid] = status_of(peer.next_event())
    peer.send(3, store_rq("1.2.3.100", message_id=9), whole)
    assert status_of(peer.next_event()) == 0x0000
    peer.sock.close()
    assert statuses == dict.fromkeys(hostile, 0xC000)
    out = tmp_path / "out"
    assert [name for name in kept_files(out) if "1.2.3." in name] == ["1.2.3.100.dcm"]
    if "qrscp" in server.proc.args[1]:
        assert find_uids(server) == {"1.2.3.100"}


def test_a_data_set_that_is_not_the_instance_asked_is_refused(
    server: Server, tmp_path: pathlib.Path
) -> None:
    """A C-STORE-RQ naming one instance with the data set of another was
    stored with Success (and replaced that other instance in qrscp's index).
    Now, as DCMTK's storescp answers: 0xA900 when the SOP Instance or Class
    UID differs, 0xC000 when the data set has none; nothing kept."""
    peer = connect(server, EXPLICIT_VR_LITTLE_ENDIAN)
    first = encode_dataset(instance("1.2.3.200"), EXPLICIT_VR_LITTLE_ENDIAN)
    peer.send(3, store_rq("1.2.3.200"), first)
    assert status_of(peer.next_event()) == 0x0000
    other = instance("1.2.3.200", name="IMPOSTOR^ONE")  # the first's UID...
    peer.send(
        3, store_rq("1.2.3.201", message_id=2), encode_dataset(other, EXPLICIT_VR_LITTLE_ENDIAN)
    )
    wrong_instance = status_of(peer.next_event())  # ... under another name
    mr = instance("1.2.3.200")
    mr.SOPClassUID = MR  # the request says CT
    peer.send(
        3, store_rq("1.2.3.200", message_id=3), encode_dataset(mr, EXPLICIT_VR_LITTLE_ENDIAN)
    )
    wrong_class = status_of(peer.next_event())
    anonymous = instance("1.2.3.202")
    del anonymous.SOPInstanceUID
    peer.send(
        3,
        store_rq("1.2.3.202", message_id=4),
        encode_dataset(anonymous, EXPLICIT_VR_LITTLE_ENDIAN),
    )
    no_uid = status_of(peer.next_event())
    peer.sock.close()
    assert (wrong_instance, wrong_class, no_uid) == (0xA900, 0xA900, 0xC000)
    out = tmp_path / "out"
    assert [name for name in kept_files(out) if "1.2.3." in name] == ["1.2.3.200.dcm"]
    assert (out / "1.2.3.200.dcm").read_bytes().endswith(first)
    if "qrscp" in server.proc.args[1]:
        assert find_uids(server) == {"1.2.3.200"}


def big_instance(uid: str, value_size: int) -> tuple[bytes, bytes, bytes]:
    """A data set with a ``value_size``-byte private OB value between its SOP
    UIDs and its patient, study and series attributes (so that an index
    reading it must pass the value): (before, the value's header, after)."""
    ds = instance(uid)
    del ds.PixelData
    head, tail = Dataset(), Dataset()
    for element in ds:
        (head if element.tag < 0x00090000 else tail).add(element)
    head.add_new(0x00090010, "LO", "DICOMUL HOSTILE")
    header = b"\x09\x00\x10\x10OB\0\0" + value_size.to_bytes(4, "little")
    return (
        encode_dataset(head, EXPLICIT_VR_LITTLE_ENDIAN),
        header,
        encode_dataset(tail, EXPLICIT_VR_LITTLE_ENDIAN),
    )


def deflate_bomb(uid: str, inflated: int) -> bytes:
    """A whole deflated data set of ``inflated`` bytes, about a thousandth of
    that on the wire.  Built in milliseconds: after a full flush a deflate
    stream is byte-aligned with no history, so the block deflating 1 MiB of
    zeros can be repeated as it is."""
    before, header, after = big_instance(uid, inflated)
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    start = packer.compress(before + header) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(bytes(1 << 20)) + packer.flush(zlib.Z_FULL_FLUSH)
    packed = start + block * (inflated >> 20) + packer.compress(after) + packer.flush()
    return packed + b"\0" * (len(packed) % 2)


@pytest.fixture
def qrscp_unlimited(tmp_path: pathlib.Path) -> Iterator[Server]:
    out = tmp_path / "out"
    out.mkdir()
    with app_server("qrscp", "--database", str(out), "-pdu", "0") as running:
        yield running


def test_a_deflate_bomb_costs_qrscp_no_memory(qrscp_unlimited: Server) -> None:
    """Before: indexing read the stored file with pydicom, which inflates a
    deflated data set whole: 1 MB on the wire cost 2 GB.  Now the data set is
    inflated as a stream while it arrives and while it is indexed, and
    refused past 1 GiB: a bomb within the bound is stored and indexed, one
    past it (2 GB, as in the report) is refused (0xC000) once 1 GiB is
    inflated, and qrscp's peak memory stays bounded."""
    server = qrscp_unlimited
    within, beyond = deflate_bomb("1.2.3.300", 256 << 20), deflate_bomb("1.2.3.301", 2 << 30)
    assert len(beyond) < 3 << 20
    peer = connect(server, DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
    peer.sock.settimeout(120)  # inflating 1 GiB takes seconds of CPU
    peer.send(3, store_rq("1.2.3.300"), within)
    assert status_of(peer.next_event()) == 0x0000
    peer.send(3, store_rq("1.2.3.301", message_id=2), beyond)
    assert status_of(peer.next_event()) == 0xC000
    peer.sock.close()
    assert find_uids(server) == {"1.2.3.300"}
    assert peak_rss(server) < MEMORY_BOUND


def test_one_p_data_tf_of_300_mb_into_qrscp_announcing_no_maximum(
    qrscp_unlimited: Server, tmp_path: pathlib.Path
) -> None:
    """Before: with ``-pdu 0`` a peer's single 300 MB P-DATA-TF was buffered
    whole (635 MB resident), and indexing read the 300 MB value.  Now the
    PDU's data set streams to disk as it arrives and the index skips the
    value: stored, indexed, and qrscp's peak memory stays bounded."""
    server = qrscp_unlimited
    size = 300 << 20
    before, header, after = big_instance("1.2.3.400", size)
    total = len(before) + len(header) + size + len(after)
    peer = connect(server, EXPLICIT_VR_LITTLE_ENDIAN, max_pdu_length=0)
    peer.sock.settimeout(120)  # 300 MB written and fsynced
    command = pdu.PresentationDataValue(
        context_id=3, control_header=3, data=encode_command(store_rq("1.2.3.400"))
    )
    peer.sock.sendall(pdu.PDataTF(pdvs=(command,)).encode())
    # One P-DATA-TF holding one PDV: the whole data set.
    peer.sock.sendall(
        bytes([4, 0])
        + (total + 6).to_bytes(4, "big")
        + (total + 2).to_bytes(4, "big")
        + b"\x03\x02"
    )
    peer.sock.sendall(before + header)
    zeros = bytes(1 << 20)
    for _ in range(size >> 20):
        peer.sock.sendall(zeros)
    peer.sock.sendall(after)
    # (read by hand: the peer's engine did not see the request go out)
    assert raw_response(peer).status == 0x0000
    peer.sock.close()
    stored = tmp_path / "out" / "1.2.3.400.dcm"
    assert stored.stat().st_size > size
    assert find_uids(server) == {"1.2.3.400"}
    assert peak_rss(server) < MEMORY_BOUND


def test_a_sequence_of_two_million_empty_items_costs_qrscp_no_memory(
    qrscp_unlimited: Server,
) -> None:
    """16 MB of empty items in a sequence before the patient's attributes:
    pydicom read them as two million Datasets when indexing.  Now the check
    and the index walk their headers only, in constant memory."""
    server = qrscp_unlimited
    before, _, after = big_instance("1.2.3.500", 0)
    items = b"\xfe\xff\x00\xe0\x00\x00\x00\x00" * (2 << 20)
    # (0009,1011): a private sequence after its creator (0009,0010).
    opening = b"\x09\x00\x11\x10SQ\0\0\xff\xff\xff\xff"
    sequence = opening + items + b"\xfe\xff\xdd\xe0\0\0\0\0"
    peer = connect(server, EXPLICIT_VR_LITTLE_ENDIAN)
    peer.sock.settimeout(120)  # two million headers walked twice: seconds of CPU
    peer.send(3, store_rq("1.2.3.500"), before + sequence + after)
    assert status_of(peer.next_event()) == 0x0000
    peer.sock.close()
    assert find_uids(server) == {"1.2.3.500"}
    assert peak_rss(server) < MEMORY_BOUND


def test_storescu_sends_no_deflated_file_that_does_not_inflate_whole(
    tmp_path: pathlib.Path,
) -> None:
    """storescu checked a file's data set before sending it, but skipped
    deflated ones: a deflated file cut short, or holding garbage, went out
    as it was.  Now it is inflated (in bounded steps) and walked first; the
    whole one goes, the others fail alone (-nh: without it, storescu stops
    at the first file not sent, as DCMTK's does)."""
    files = tmp_path / "files"
    files.mkdir()
    whole = write(instance("1.2.3.600"), files / "whole.dcm", DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
    data = whole.read_bytes()
    (files / "cut.dcm").write_bytes(data[:-40])
    meta_end = len(data) - len(
        encode_dataset(instance("1.2.3.600"), DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
    )
    (files / "garbage.dcm").write_bytes(data[:meta_end] + os.urandom(len(data) - meta_end))
    out = tmp_path / "out"
    out.mkdir()
    with app_server("storescp", "-od", str(out)) as server:
        done = dicomul("storescu", "-nh", "127.0.0.1", str(server.port), str(files))
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("sent 1, warnings 0, failures 2 "), done.stdout
    assert done.stderr.count("is not a whole DICOM file") == 2, done.stderr
    assert kept_files(out) == ["1.2.3.600.dcm"]


def test_a_deflated_query_identifier_bomb_is_refused_without_inflating_it_whole() -> None:
    """A C-FIND identifier is decoded whole for the handler: deflated, it
    is inflated within MAX_REQUEST_DATA_SET (64 MiB), and a bomb past it is
    answered with the C-FIND failure status, the handler never called."""
    from dicomul_sync import AE
    from peers import serving

    from dicomul import c_find_rq

    find = "1.2.840.10008.5.1.4.1.2.1.1"
    scp = AE(
        ae_title="SCP",
        port=0,
        scp_sop_class=[find],
        transfer_syntax=[DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN],
    )
    called: list[object] = []
    scp.on_c_find = lambda identifier: called.append(identifier) or []  # type: ignore[method-assign]
    bomb = deflate_bomb("1.2.3.700", 128 << 20)
    with serving(scp) as port:
        peer = RawPeer(port)
        accepted = peer.request(
            sop_classes=[find], transfer_syntaxes=[DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN]
        )
        assert isinstance(accepted, AssociationAccepted)
        peer.sock.settimeout(60)
        peer.send(1, c_find_rq(1, find), bomb)
        status = status_of(peer.next_event())
        peer.sock.close()
    assert status == 0xC000
    assert called == []
