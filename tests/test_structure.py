"""Whether data-set bytes are whole (dicomul._structure), without decoding."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate

from dicomul._dataset import encode_dataset, transfer_syntax_encoding
from dicomul._structure import DataSetStructureError, check_structure

NATIVE = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"]


def sample(pixels: bytes, *, nested: bool) -> Dataset:
    ds = Dataset()
    ds.PatientName = "DOE^JOHN"
    ds.PatientID = "ID1"
    if nested:
        inner = Dataset()
        inner.CodeMeaning = "Brain"
        item = Dataset()
        item.CodeValue = "T-A0100"
        item.ConceptNameCodeSequence = [inner]
        ds.AnatomicRegionSequence = [item, Dataset()]
    ds.add_new(0x00091010, "LO", "private")
    ds.BitsAllocated = 16
    ds.PixelData = pixels
    ds["PixelData"].VR = "OW"
    return ds


def check(data: bytes, syntax: str) -> None:
    implicit, little, _ = transfer_syntax_encoding(syntax)
    check_structure(data, implicit_vr=implicit, little_endian=little)


@given(
    st.binary(min_size=2, max_size=64).map(lambda b: b[: len(b) - len(b) % 2]),
    st.booleans(),
    st.sampled_from(NATIVE),
    st.data(),
)
def test_whole_data_sets_pass_and_any_cut_into_the_last_value_fails(
    pixels: bytes, nested: bool, syntax: str, data: st.DataObject
) -> None:
    encoded = encode_dataset(sample(pixels, nested=nested), syntax)
    check(encoded, syntax)
    # Pixel Data is the last element: cutting anywhere in its header or value
    # leaves it cut short.
    header = 8 if syntax == "1.2.840.10008.1.2" else 12
    cut = data.draw(st.integers(len(encoded) - len(pixels) - header + 1, len(encoded) - 1))
    with pytest.raises(DataSetStructureError):
        check(encoded[:cut], syntax)


def test_sequences_of_undefined_length_must_be_closed() -> None:
    ds = sample(b"\0\0", nested=True)
    ds["AnatomicRegionSequence"].is_undefined_length = True
    for item in ds.AnatomicRegionSequence:
        item.is_undefined_length_sequence_item = True
    encoded = encode_dataset(ds, "1.2.840.10008.1.2.1")
    check(encoded, "1.2.840.10008.1.2.1")
    end_of_sequence = bytes.fromhex("feffdde000000000")
    at = encoded.index(end_of_sequence)
    with pytest.raises(DataSetStructureError, match=r"not an item|cut short|out of place"):
        check(encoded[:at] + encoded[at + 8 :], "1.2.840.10008.1.2.1")


def test_encapsulated_pixel_data_fragments_are_walked() -> None:
    ds = sample(b"\0\0", nested=False)
    ds.PixelData = encapsulate([b"\x01\x02\x03\x04", b"\x05\x06"])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    encoded = encode_dataset(ds, "1.2.840.10008.1.2.5")
    check(encoded, "1.2.840.10008.1.2.5")
    with pytest.raises(DataSetStructureError, match=r"cut short|runs? past"):
        check(encoded[:-9], "1.2.840.10008.1.2.5")  # the sequence delimiter and a byte gone


@given(st.binary(max_size=300), st.booleans(), st.booleans())
def test_arbitrary_bytes_pass_or_raise_data_set_structure_error(
    data: bytes, implicit: bool, little: bool
) -> None:
    with contextlib.suppress(DataSetStructureError):
        check_structure(data, implicit_vr=implicit, little_endian=little)


def test_nesting_is_bounded() -> None:
    item = bytes.fromhex("feff00e0ffffffff")  # an item of undefined length
    sequence = bytes.fromhex("08001511") + b"SQ\0\0" + b"\xff\xff\xff\xff"
    deep = (sequence + item) * 100
    with pytest.raises(DataSetStructureError, match="nested more than"):
        check_structure(deep, implicit_vr=False, little_endian=True)
