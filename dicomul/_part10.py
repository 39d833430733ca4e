"""Where a DICOM Part 10 file's data set starts (PS3.10 7.1), from its first bytes.

A Part 10 file is a 128-byte preamble, the prefix "DICM", the File Meta
Information (group 0002, Explicit VR Little Endian) and then the data set.
PS3.10 7.1 makes the File Meta Information Group Length (0002,0000) the
group's first element, but files without it exist and DCMTK and pynetdicom
send them; so the group is measured by walking its element headers up to the
first element of another group, whatever a group length says (pydicom and
DCMTK read the group that way too).  A sender streams the data set from that
offset, undecoded.

:func:`part10_data_set_offset` is pure: the caller reads the file's first
bytes and asks again with more while it answers None.
"""

from __future__ import annotations

import struct
from typing import Final

__all__ = ["PART10_PREFIX_END", "part10_data_set_offset", "part10_file_meta"]

#: The preamble (128 bytes) and "DICM": where the File Meta Information starts.
PART10_PREFIX_END: Final = 132
_PREFIX: Final = b"DICM"
_META_GROUP: Final = 0x0002
#: Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2).
_LONG_VRS: Final = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_TAG_VR_LENGTH: Final = struct.Struct("<HH2sH")
_LONG_LENGTH: Final = struct.Struct("<L")
_UNDEFINED: Final = 0xFFFFFFFF


def part10_data_set_offset(head: bytes | memoryview, *, complete: bool) -> int | None:
    """The offset of the data set in the Part 10 file that begins with ``head``.

    :func:`part10_file_meta` without the values.

    Parameters
    ----------
    head : bytes or memoryview
        The file's first bytes.
    complete : bool
        True if ``head`` is the whole file.

    Returns
    -------
    int or None
        The offset of the first byte after the File Meta Information (the
        file's length if it holds no data set); None if ``head`` ends within
        the File Meta Information and the file goes on: call again with more.

    Raises
    ------
    ValueError
        Not a Part 10 file: no "DICM" after the preamble, no group 0002, an
        element of undefined length in it, or the file ends within it.

    >>> meta = bytes.fromhex("02001000") + b"UI" + b"\\x14\\x00" + b"1.2.840.10008.1.2.1\\x00"
    >>> data_set = bytes.fromhex("10002000") + b"LO" + b"\\x04\\x00ID00"
    >>> part10_data_set_offset(bytes(128) + b"DICM" + meta + data_set, complete=True)
    160
    >>> part10_data_set_offset(bytes(128) + b"DICM" + meta[:10], complete=False) is None
    True
    """
    found = part10_file_meta(head, complete=complete)
    return None if found is None else found[0]


def part10_file_meta(
    head: bytes | memoryview, *, complete: bool
) -> tuple[int, dict[int, bytes]] | None:
    """The data set's offset and the File Meta Information's values, raw.

    As :func:`part10_data_set_offset` (the same arguments, answers and
    errors), with each element of group 0002 as element number -> value
    bytes (padding kept): a sender learns the SOP class and instance UIDs,
    (0002,0002) and (0002,0003), and the transfer syntax, (0002,0010),
    without decoding the file.

    >>> meta = bytes.fromhex("02001000") + b"UI" + b"\\x14\\x00" + b"1.2.840.10008.1.2.1\\x00"
    >>> part10_file_meta(bytes(128) + b"DICM" + meta, complete=True)
    (160, {16: b'1.2.840.10008.1.2.1\\x00'})
    """
    values: dict[int, bytes] = {}
    size = len(head)
    if size < PART10_PREFIX_END:
        _need_more(complete, "it is shorter than the 128-byte preamble and 'DICM'")
        return None
    if bytes(head[128:PART10_PREFIX_END]) != _PREFIX:
        raise ValueError("no 'DICM' after the 128-byte preamble (PS3.10 7.1)")
    position = PART10_PREFIX_END
    cut_short = f"it ends within the File Meta Information (byte {size})"
    while True:
        if size - position < _TAG_VR_LENGTH.size:
            if complete and position == size and position > PART10_PREFIX_END:
                return position, values  # File Meta Information and no data set
            _need_more(complete, cut_short)
            return None
        group, element, vr, length = _TAG_VR_LENGTH.unpack_from(head, position)
        if group != _META_GROUP:
            if position == PART10_PREFIX_END:
                raise ValueError("no File Meta Information (group 0002) after 'DICM' (PS3.10 7.1)")
            return position, values
        header = _TAG_VR_LENGTH.size
        if vr in _LONG_VRS:
            if size - position < header + _LONG_LENGTH.size:
                _need_more(complete, cut_short)
                return None
            (length,) = _LONG_LENGTH.unpack_from(head, position + header)
            header += _LONG_LENGTH.size
        if length == _UNDEFINED:
            raise ValueError(
                f"(0002,{element:04X}) at byte {position} has an undefined length, "
                "not allowed in the File Meta Information"
            )
        start = position + header
        position = start + length
        if position > size:
            _need_more(complete, cut_short)
            return None
        values[element] = bytes(head[start:position])


def _need_more(complete: bool, problem: str) -> None:
    """The caller must read more, unless the file has ended: then it is not Part 10."""
    if complete:
        raise ValueError(problem)
