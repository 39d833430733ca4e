"""Where a Part 10 file's data set starts (dicomul._part10, PS3.10 7.1),
with and without the File Meta Information Group Length."""

from __future__ import annotations

import re
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dicomul import part10_data_set_offset, part10_file_meta

PREFIX = bytes(128) + b"DICM"
LONG_VRS = (b"OB", b"UN", b"UT")
SHORT_VRS = (b"UI", b"AE", b"SH", b"UL")


def element(group: int, number: int, vr: bytes, value: bytes) -> bytes:
    """An element in Explicit VR Little Endian (PS3.5 7.1.2)."""
    if vr in LONG_VRS:
        return struct.pack("<HH2sxxL", group, number, vr, len(value)) + value
    return struct.pack("<HH2sH", group, number, vr, len(value)) + value


META = (
    element(2, 0x0001, b"OB", b"\x00\x01")
    + element(2, 0x0002, b"UI", b"1.2.840.10008.5.1.4.1.1.2\x00")
    + element(2, 0x0003, b"UI", b"1.2.3.4\x00")
    + element(2, 0x0010, b"UI", b"1.2.840.10008.1.2.1\x00")
)
DATA_SET = element(8, 0x0016, b"UI", b"1.2.840.10008.5.1.4.1.1.2\x00")
GROUP_LENGTH = element(2, 0x0000, b"UL", struct.pack("<L", len(META)))


@pytest.mark.parametrize("group_length", [GROUP_LENGTH, b""], ids=["with", "without"])
def test_the_data_set_starts_after_group_0002(group_length: bytes) -> None:
    """Before: a file without (0002,0000) was "not a DICOM file"."""
    meta = group_length + META
    offset = len(PREFIX) + len(meta)
    assert part10_data_set_offset(PREFIX + meta + DATA_SET, complete=True) == offset
    assert part10_data_set_offset(PREFIX + meta, complete=True) == offset  # no data set


def test_a_wrong_group_length_is_not_trusted() -> None:
    lying = element(2, 0x0000, b"UL", struct.pack("<L", 4))
    file = PREFIX + lying + META + DATA_SET
    assert part10_data_set_offset(file, complete=True) == len(file) - len(DATA_SET)


@pytest.mark.parametrize(
    ("file", "problem"),
    [
        (b"not dicom", "shorter than the 128-byte preamble"),
        (bytes(200), "no 'DICM' after the 128-byte preamble"),
        (PREFIX + DATA_SET, "no File Meta Information (group 0002)"),
        (PREFIX, "ends within the File Meta Information"),
        (PREFIX + META[:20], "ends within the File Meta Information"),
        (PREFIX + element(2, 1, b"OB", b"")[:8] + b"\xff" * 4, "undefined length"),
    ],
)
def test_what_is_not_part_10(file: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        part10_data_set_offset(file, complete=True)


_META_ELEMENTS = st.lists(
    st.tuples(
        st.integers(1, 0xFFFF),
        st.sampled_from(LONG_VRS + SHORT_VRS),
        st.binary(max_size=40).map(lambda b: b + b"\x00" * (len(b) % 2)),
    ),
    min_size=1,
    max_size=8,
)


@given(
    _META_ELEMENTS,
    st.booleans(),
    st.binary(max_size=30),
    st.data(),
)
def test_any_split_gives_the_offset_or_asks_for_more(
    elements: list[tuple[int, bytes, bytes]],
    with_length: bool,
    tail: bytes,
    data: st.DataObject,
) -> None:
    """However little of the file the caller has read, the answer is None
    (read more) or the offset, and the offset once a header past it is in."""
    meta = b"".join(element(2, number, vr, value) for number, vr, value in elements)
    if with_length:
        meta = element(2, 0, b"UL", struct.pack("<L", len(meta))) + meta
    data_set = DATA_SET + tail
    file = PREFIX + meta + data_set
    offset = len(PREFIX) + len(meta)
    assert part10_data_set_offset(file, complete=True) == offset
    cut = data.draw(st.integers(0, len(file)))
    answer = part10_data_set_offset(file[:cut], complete=False)
    assert answer in (None, offset)
    if cut >= offset + 8:
        assert answer == offset


@given(_META_ELEMENTS, st.booleans(), st.binary(max_size=30), st.data())
def test_the_meta_values_are_the_elements_written(
    elements: list[tuple[int, bytes, bytes]],
    with_length: bool,
    tail: bytes,
    data: st.DataObject,
) -> None:
    """part10_file_meta gives each element's value as written (the last of
    a repeated one), with the same offset, at any split, as
    part10_data_set_offset."""
    meta = b"".join(element(2, number, vr, value) for number, vr, value in elements)
    expected = {number: value for number, _, value in elements}
    if with_length:
        meta = element(2, 0, b"UL", struct.pack("<L", len(meta))) + meta
        expected = {0: struct.pack("<L", len(meta) - 12), **expected}
    file = PREFIX + meta + DATA_SET + tail
    assert part10_file_meta(file, complete=True) == (len(PREFIX) + len(meta), expected)
    cut = data.draw(st.integers(0, len(file)))
    found = part10_file_meta(file[:cut], complete=False)
    assert found in (None, (len(PREFIX) + len(meta), expected))
    assert (found and found[0]) == part10_data_set_offset(file[:cut], complete=False)
