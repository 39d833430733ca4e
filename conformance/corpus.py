"""DICOM Part 10 files for the interop tests, written with pydicom.

Each file holds a small image in one transfer syntax, with a pixel pattern in
which every 32-bit word differs from its neighbours, so that a lost, doubled
or shifted chunk changes the bytes.  :func:`data_set_bytes` is the part of a
file after its meta information (PS3.10 7.1): what travels in a C-STORE and
what a storage SCP must keep as it came.
"""

from __future__ import annotations

import array
import copy
import pathlib
import sys
import zlib

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
    generate_uid,
)

__all__ = [
    "CT",
    "MULTIFRAME_SC",
    "SYNTAXES",
    "assert_same_data_set",
    "data_set_bytes",
    "deflated_length",
    "image",
    "meta_transfer_syntax",
    "write",
]

CT = "1.2.840.10008.5.1.4.1.1.2"
#: Multi-frame Grayscale Word Secondary Capture Image Storage.
MULTIFRAME_SC = "1.2.840.10008.5.1.4.1.1.7.3"

#: The transfer syntaxes the interop tests cover, by a short name for test IDs.
SYNTAXES = {
    "implicit": str(ImplicitVRLittleEndian),
    "explicit": str(ExplicitVRLittleEndian),
    "big": str(ExplicitVRBigEndian),
    "deflated": str(DeflatedExplicitVRLittleEndian),
    "rle": str(RLELossless),
}


def pattern(size: int, seed: int = 0) -> bytes:
    """``size`` bytes (a multiple of 4) of consecutive little-endian 32-bit counters."""
    start = seed * 7919
    words = array.array("I", range(start, start + size // 4))
    if sys.byteorder == "big":
        words.byteswap()
    return words.tobytes()


def image(
    *,
    sop_class: str = CT,
    rows: int = 64,
    columns: int = 64,
    frames: int = 1,
    seed: int = 0,
    name: str = "INTEROP^TEST",
) -> Dataset:
    """A 16-bit MONOCHROME2 image with native pixel data and a short sequence."""
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = name
    ds.PatientID = f"ID{seed}"
    ds.StudyDate = "20240229"
    ds.Modality = "OT" if frames > 1 else "CT"
    ds.SliceThickness = "1.25"
    ds.InstanceNumber = seed
    code = Dataset()
    code.CodeValue = "T-D0050"
    code.CodingSchemeDesignator = "SRT"
    code.CodeMeaning = "Tissue"
    ds.AnatomicRegionSequence = Sequence([code])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = pattern(rows * columns * 2 * frames, seed)
    return ds


def deflated_length(ds: Dataset) -> int:
    """The length of ``ds`` deflated as pydicom writes it (PS3.5 A.5), before padding."""
    fp = DicomBytesIO()
    fp.is_implicit_VR = False
    fp.is_little_endian = True
    write_dataset(fp, ds)
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return len(compressor.compress(fp.getvalue()) + compressor.flush())


def write(
    ds: Dataset, path: pathlib.Path, transfer_syntax: str, *, deflated_parity: int | None = None
) -> pathlib.Path:
    """Save ``ds`` as a Part 10 file in ``transfer_syntax`` (RLE Lossless: its
    pixel data is compressed first); return ``path``.

    ``deflated_parity`` (0 or 1) chooses an Image Comments value that makes the
    deflated stream's length even or odd: PS3.5 A.5 pads an odd one with a
    NULL byte, which the sender must add (pydicom's writer does).
    """
    # A copy of the elements (Dataset(ds) would share them): the caller's
    # data set stays as it is whatever is set or swapped below.
    source, ds = ds, Dataset()
    for element in source:
        ds.add(copy.copy(element))
    if deflated_parity is not None:
        for attempt in range(200):
            ds.ImageComments = f"deflated {attempt}"
            if deflated_length(ds) % 2 == deflated_parity:
                break
        else:
            raise AssertionError(f"no deflated stream of parity {deflated_parity} found")
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if transfer_syntax == ExplicitVRBigEndian and ds.get("BitsAllocated") == 16:
        # pydicom writes OW bytes as they are: swap each word first, so that
        # the file means the same pixels in big endian (PS3.5 7.3).
        words = array.array("H", ds.PixelData)
        words.byteswap()
        ds.PixelData = words.tobytes()
    if transfer_syntax == RLELossless:
        ds.compress(RLELossless, encoding_plugin="pydicom", generate_instance_uid=False)
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return path


def data_set_bytes(path: pathlib.Path) -> bytes:
    """The bytes of a Part 10 file after its meta group (PS3.10 7.1: preamble,
    "DICM", then group 0002 headed by its group length)."""
    data = path.read_bytes()
    assert data[128:132] == b"DICM", f"{path} is not a Part 10 file"
    assert data[132:140] == b"\x02\x00\x00\x00UL\x04\x00", f"{path}: no meta group length"
    return data[144 + int.from_bytes(data[140:144], "little") :]


def meta_transfer_syntax(path: pathlib.Path) -> str:
    """The Transfer Syntax UID (0002,0010) of a Part 10 file's meta information."""
    from pydicom.filereader import read_file_meta_info

    return str(read_file_meta_info(path).TransferSyntaxUID)


def assert_same_data_set(stored: pathlib.Path, source: pathlib.Path) -> None:
    """``stored`` is a copy of ``source`` as far as a C-STORE goes: the same
    transfer syntax in its meta information, and the same data set, byte for
    byte (reported by offset rather than as a diff of megabytes)."""
    assert meta_transfer_syntax(stored) == meta_transfer_syntax(source), stored.name
    got, want = data_set_bytes(stored), data_set_bytes(source)
    if got != want:
        pairs = enumerate(zip(got, want, strict=False))
        at = next((i for i, (a, b) in pairs if a != b), min(len(got), len(want)))
        raise AssertionError(
            f"{stored.name}: its {len(got)}-byte data set differs from the source's "
            f"{len(want)} bytes, first at offset {at}"
        )
