"""Whether data-set bytes are whole (dicomul._structure), without decoding."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate

from dicomul._dataset import encode_dataset, transfer_syntax_encoding
from dicomul._structure import DataSetStructureError, StructureWalker, check_structure

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


def _outcome(walker: StructureWalker, pieces: list[bytes]) -> str | None:
    try:
        for piece in pieces:
            walker.feed(piece)
        walker.finish()
    except DataSetStructureError:
        return "refused"
    return None


@given(st.data(), st.booleans(), st.sampled_from([*NATIVE, "1.2.840.10008.1.2.5"]))
def test_any_chunking_gives_the_same_answer_as_the_whole(
    data: st.DataObject, cut_short: bool, syntax: str
) -> None:
    """A data set fed in pieces cut anywhere (one byte, a header split) is
    judged as it is whole; a cut one is refused however it is fed."""
    ds = sample(data.draw(st.binary(min_size=2, max_size=40)).ljust(2, b"\0")[:2], nested=True)
    encoded = encode_dataset(ds, syntax)
    if cut_short:
        encoded = encoded[: data.draw(st.integers(1, len(encoded) - 1))]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(encoded)), max_size=12)))
    pieces = [encoded[a:b] for a, b in zip([0, *cuts], [*cuts, len(encoded)], strict=True)]
    implicit, little, _ = transfer_syntax_encoding(syntax)
    whole = _outcome(StructureWalker(implicit_vr=implicit, little_endian=little), [encoded])
    chunked = _outcome(StructureWalker(implicit_vr=implicit, little_endian=little), pieces)
    assert chunked == whole
    if not cut_short:
        assert whole is None


@given(st.binary(max_size=200), st.lists(st.integers(0, 200), max_size=8), st.booleans())
def test_arbitrary_bytes_in_any_pieces_are_judged_as_whole(
    data: bytes, cuts: list[int], implicit: bool
) -> None:
    cuts = sorted(min(c, len(data)) for c in cuts)
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    whole = _outcome(StructureWalker(implicit_vr=implicit, little_endian=True), [data])
    chunked = _outcome(StructureWalker(implicit_vr=implicit, little_endian=True), pieces)
    assert chunked == whole


@given(st.integers(1, 64), st.sampled_from(NATIVE))
def test_kept_elements_are_their_exact_encoding(piece: int, syntax: str) -> None:
    """Top-level elements asked for are kept as encoded, whatever the pieces;
    the same tag nested in a sequence is not taken for them."""
    ds = sample(b"\0\0", nested=True)
    ds.SOPInstanceUID = "1.2.3.4"
    ds.AnatomicRegionSequence[0].PatientID = "NESTED"
    encoded = encode_dataset(ds, syntax)
    implicit, little, _ = transfer_syntax_encoding(syntax)
    walker = StructureWalker(
        implicit_vr=implicit, little_endian=little, keep=[0x00080018, 0x00100020, 0x00100010]
    )
    for at in range(0, len(encoded), piece):
        walker.feed(encoded[at : at + piece])
    walker.finish()
    single = Dataset()
    single.SOPInstanceUID, single.PatientName, single.PatientID = "1.2.3.4", "DOE^JOHN", "ID1"
    assert b"".join(walker.kept.values()) == encode_dataset(single, syntax)
    assert walker.passed_kept


def test_large_values_are_not_kept_and_are_skipped_without_being_held() -> None:
    ds = sample(b"\0" * 1024, nested=False)
    encoded = encode_dataset(ds, "1.2.840.10008.1.2.1")
    walker = StructureWalker(
        implicit_vr=False, little_endian=True, keep=[0x7FE00010], max_kept_value=1000
    )
    walker.feed(encoded)
    walker.finish()
    assert walker.kept == {}
