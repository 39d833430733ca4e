"""What a C-STORE sender learns from a Part 10 file (dicomul_common.outgoing):
the core reads its UIDs (pydicom only for a file whose UIDs are not
plain), and a small file is sent from one read, checked whole first."""

from __future__ import annotations

import pathlib
import struct

import pytest
from dicomul_common.outgoing import CannotSendError, Outgoing, read_part10_meta, store_request
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID

from dicomul import AcceptedContext, Negotiated

CT = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"


def write(path: pathlib.Path, instance: str, *, pixels: int = 1000) -> pathlib.Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(CT)
    meta.MediaStorageSOPInstanceUID = UID(instance)
    meta.TransferSyntaxUID = UID(EXPLICIT)
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = instance
    ds.PatientID = "P"
    ds.PixelData = bytes(pixels)
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
@pytest.mark.parametrize(
    "instance",
    ["1.2.3.4", "1.2.3.45", "1.2.826.0.1.3680043.8.498.1", "1.2.3.4 ", "1.2.3.4x"],
)
def test_the_core_reads_what_pydicom_reads(tmp_path: pathlib.Path, instance: str) -> None:
    """Odd and even UIDs (NUL padded), and ones that are not plain (pydicom
    reads those): the same UIDs, syntax and data set offset as pydicom's."""
    path = write(tmp_path / "a.dcm", instance)
    item = Outgoing.of(path)
    meta, offset = read_part10_meta(path)
    assert (item.sop_class_uid, item.sop_instance_uid, item.transfer_syntax, item.offset) == (
        str(meta.MediaStorageSOPClassUID),
        str(meta.MediaStorageSOPInstanceUID),
        str(meta.TransferSyntaxUID),
        offset,
    )


def test_not_a_part_10_file_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "x.dcm"
    path.write_bytes(bytes(200))
    with pytest.raises(ValueError, match="not a DICOM Part 10 file"):
        Outgoing.of(path)


def negotiated() -> Negotiated:
    context = AcceptedContext(context_id=1, abstract_syntax=CT, transfer_syntax=EXPLICIT)
    return Negotiated(
        calling_ae_title="SCU",
        called_ae_title="SCP",
        contexts={1: context},
        rejected={},
        requestor_max_pdu_length=16384,
        acceptor_max_pdu_length=16384,
        requestor_implementation=("1.2.3", None),
        acceptor_implementation=("1.2.3", None),
    )


def test_a_small_file_is_sent_from_one_read(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path / "a.dcm", "1.2.3.4")
    item = Outgoing.of(path)
    _, command, body = store_request(negotiated(), item, 1)
    assert isinstance(body, memoryview)  # whole, in memory: one message, one write
    assert bytes(body) == path.read_bytes()[item.offset :]
    assert command.affected_sop_instance_uid == "1.2.3.4"


def test_a_small_file_cut_short_is_not_sent(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path / "a.dcm", "1.2.3.4")
    whole = path.read_bytes()
    item = Outgoing.of(path)
    path.write_bytes(whole[:-10])  # Pixel Data cut short
    with pytest.raises(CannotSendError, match="not a whole DICOM file"):
        store_request(negotiated(), item, 1)


def test_a_large_file_is_streamed(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path / "a.dcm", "1.2.3.4", pixels=200_000)
    item = Outgoing.of(path)
    _, _, body = store_request(negotiated(), item, 1)
    assert not isinstance(body, bytes | memoryview)
    assert b"".join(body) == path.read_bytes()[item.offset :]  # type: ignore[arg-type]
    assert struct.unpack_from("<H", path.read_bytes(), item.offset)[0] == 0x0008


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
@pytest.mark.parametrize("instance", ["1.2.3.4", "1.2.3.4x"])
def test_a_small_file_described_and_read_once(tmp_path: pathlib.Path, instance: str) -> None:
    """Outgoing.read: the description of() gives, and a small file's data
    set as read (None where pydicom had to read the UIDs); store_request
    sends those bytes, checked whole like any, as it would have read them."""
    path = write(tmp_path / "a.dcm", instance)
    item, data = Outgoing.read(path)
    assert item == Outgoing.of(path)
    if instance.endswith("x"):
        assert data is None
        return
    assert data is not None
    assert bytes(data) == path.read_bytes()[item.offset :]
    _, command, body = store_request(negotiated(), item, 1, data=data)
    assert body is data
    assert (command, bytes(body)) == (
        store_request(negotiated(), item, 1)[1],
        bytes(store_request(negotiated(), item, 1)[2]),  # type: ignore[arg-type]
    )
    with pytest.raises(CannotSendError, match="not a whole DICOM file"):
        store_request(negotiated(), item, 1, data=data[:-10])  # cut short: refused


def test_a_large_file_is_not_held_by_its_description(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path / "a.dcm", "1.2.3.4", pixels=200_000)
    item, data = Outgoing.read(path)
    assert data is None
    assert item == Outgoing.of(path)
