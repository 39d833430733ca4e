"""Following a data set as it arrives (dicomul._scan): bounded inflate, the
structure check, kept attributes, and the C-STORE Success rule."""

from __future__ import annotations

import contextlib
import os
import tracemalloc
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.dataset import Dataset

from dicomul import (
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    SOP_CLASS_UID,
    SOP_INSTANCE_UID,
    Command,
    DataSetScanner,
    DataSetStructureError,
    Inflater,
    StoreCheck,
    StoreStatus,
    c_store_rq,
    encode_dataset,
)

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
SYNTAXES = [
    IMPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    "1.2.840.10008.1.2.2",
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
]


def instance(uid: str = "1.2.3.4", sop_class: str = CT, *, name: str = "DOE^JOHN") -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = uid
    ds.PatientName = name
    item = Dataset()
    item.CodeValue = "T-A0100"
    ds.AnatomicRegionSequence = [item]
    ds.PixelData = b"\x01\x02" * 64
    ds["PixelData"].VR = "OW"
    return ds


def pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    cuts = sorted(min(c, len(data)) for c in cuts)
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def store_request(uid: str = "1.2.3.4", sop_class: str = CT) -> Command:
    return c_store_rq(1, sop_class, uid)


def deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@given(
    st.sampled_from(SYNTAXES),
    st.lists(st.integers(0, 400), max_size=10),
    st.text("ABCDEFGH^ ", max_size=20),
)
def test_a_whole_data_set_in_any_pieces_passes_and_keeps_its_uids(
    syntax: str, cuts: list[int], name: str
) -> None:
    encoded = encode_dataset(instance(name=name), syntax)
    scanner = DataSetScanner(syntax, keep=[SOP_CLASS_UID, SOP_INSTANCE_UID])
    for piece in pieces(encoded, cuts):
        scanner.feed(piece)
    scanner.finish()
    assert (scanner.text(SOP_CLASS_UID), scanner.text(SOP_INSTANCE_UID)) == (CT, "1.2.3.4")
    kept = scanner.kept_dataset()
    assert (kept.SOPClassUID, kept.SOPInstanceUID) == (CT, "1.2.3.4")
    assert "PatientName" not in kept


@given(st.binary(max_size=400), st.sampled_from(SYNTAXES), st.lists(st.integers(0, 400)))
def test_arbitrary_bytes_in_any_pieces_pass_or_raise_structure_error(
    data: bytes, syntax: str, cuts: list[int]
) -> None:
    scanner = DataSetScanner(syntax, keep=[SOP_INSTANCE_UID])
    with contextlib.suppress(DataSetStructureError):
        for piece in pieces(data, cuts):
            scanner.feed(piece)
        scanner.finish()


@given(st.data())
def test_a_deflated_data_set_cut_anywhere_is_refused(data: st.DataObject) -> None:
    encoded = encode_dataset(instance(), DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
    cut = data.draw(st.integers(0, len(encoded) - 2))  # (the last byte may be padding)
    check = StoreCheck(store_request(), DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
    check.feed(encoded[:cut])
    refusal = check.finish()
    assert refusal is not None
    assert refusal.status == StoreStatus.CANNOT_UNDERSTAND


@pytest.mark.parametrize(
    ("what", "data"),
    [
        ("random bytes", os.urandom(4096)),
        ("a plain data set", encode_dataset(instance(), EXPLICIT_VR_LITTLE_ENDIAN)),
        (
            "garbage after the stream",
            deflate(encode_dataset(instance(), EXPLICIT_VR_LITTLE_ENDIAN)) + b"junk",
        ),
        ("a deflated non-data-set", deflate(b"\x08\x00\x16\x00UI\xff\xff" + b"1" * 10)),
    ],
)
def test_what_is_not_a_deflated_data_set_is_cannot_understand(what: str, data: bytes) -> None:
    check = StoreCheck(store_request(), DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
    check.feed(data)
    refusal = check.finish()
    assert refusal is not None, what
    assert refusal.status == StoreStatus.CANNOT_UNDERSTAND


def test_a_null_pads_an_odd_deflated_stream() -> None:
    packed = deflate(encode_dataset(instance(), EXPLICIT_VR_LITTLE_ENDIAN))
    check = StoreCheck(store_request(), DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
    check.feed(packed + b"\0" * (len(packed) % 2))
    assert check.finish() is None


@pytest.mark.parametrize(
    ("request_uid", "request_class", "status"),
    [
        ("1.2.3.4", CT, None),
        ("1.2.3.5", CT, StoreStatus.DATA_SET_DOES_NOT_MATCH_SOP_CLASS),
        ("1.2.3.4", MR, StoreStatus.DATA_SET_DOES_NOT_MATCH_SOP_CLASS),
    ],
)
@pytest.mark.parametrize("syntax", SYNTAXES)
def test_the_data_set_must_be_the_instance_the_request_names(
    request_uid: str, request_class: str, status: StoreStatus | None, syntax: str
) -> None:
    check = StoreCheck(store_request(request_uid, request_class), syntax)
    check.feed(encode_dataset(instance(), syntax))
    refusal = check.finish()
    assert (refusal and refusal.status) == status


@pytest.mark.parametrize("missing", ["SOPClassUID", "SOPInstanceUID"])
def test_a_data_set_without_its_uids_is_cannot_understand(missing: str) -> None:
    ds = instance()
    delattr(ds, missing)
    check = StoreCheck(store_request(), EXPLICIT_VR_LITTLE_ENDIAN)
    check.feed(encode_dataset(ds, EXPLICIT_VR_LITTLE_ENDIAN))
    refusal = check.finish()
    assert refusal is not None
    assert refusal.status == StoreStatus.CANNOT_UNDERSTAND
    assert "no SOP" in refusal.reason


def bomb(inflated_mb: int) -> bytes:
    """A valid deflated data set whose one large value is zeros: about a
    thousandth of its inflated size on the wire."""
    ds = instance()
    del ds.PixelData
    header = encode_dataset(ds, EXPLICIT_VR_LITTLE_ENDIAN)
    size = inflated_mb << 20
    pixel_header = b"\xe0\x7f\x10\x00OW\0\0" + size.to_bytes(4, "little")
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [packer.compress(header + pixel_header)]
    zeros = bytes(1 << 20)
    parts += [packer.compress(zeros) for _ in range(inflated_mb)]
    parts.append(packer.flush())
    return b"".join(parts)


def test_a_deflate_bomb_is_followed_in_bounded_memory_and_refused_past_the_limit() -> None:
    packed = bomb(256)
    assert len(packed) < 400_000
    tracemalloc.start()
    try:
        check = StoreCheck(store_request(), DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
        for at in range(0, len(packed), 16384):
            check.feed(packed[at : at + 16384])
        assert check.finish() is None  # whole, and the instance named
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # 256 MiB inflated, a few steps of 256 KiB held
    small = StoreCheck(
        store_request(), DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, max_inflated_size=1 << 20
    )
    refusal = small.feed(packed)
    assert refusal is not None
    assert "inflates past" in refusal.reason


def test_inflater_refuses_a_stream_cut_short() -> None:
    packed = deflate(b"x" * 100_000)
    inflater = Inflater()
    assert sum(len(p) for p in inflater.inflate(packed[:-10])) < 100_000
    with pytest.raises(DataSetStructureError, match="cut short"):
        inflater.finish()
