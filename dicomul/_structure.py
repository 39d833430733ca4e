"""Whether data-set bytes are whole: every element's value inside the data,
every sequence and item closed (PS3.5 7.1 to 7.5), without decoding a value.

A storage SCP writes a data set as it arrives, undecoded; a storage SCU
sends a file as it is on disk.  Neither looks inside the values, so a file
cut short, or a stream that ends mid-element, would be passed on, stored
and answered Success.  :func:`check_structure` walks the element headers
only (tag, VR, length), skipping every value, so it costs a few bytes read
per element whatever the data set's size: what DCMTK's storescu and
storescp catch by parsing ("premature end of stream") is caught here.
"""

from __future__ import annotations

import struct

__all__ = ["DataSetStructureError", "check_structure"]

#: Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2).
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_UNDEFINED = 0xFFFFFFFF
_ITEM = (0xFFFE, 0xE000)
_ITEM_END = (0xFFFE, 0xE00D)
_SEQUENCE_END = (0xFFFE, 0xE0DD)
_PIXEL_DATA = (0x7FE0, 0x0010)
#: Nesting deeper than this is refused rather than recursed into.
MAX_DEPTH = 64


class DataSetStructureError(ValueError):
    """Data-set bytes that are not whole: a value past the end, a sequence
    or item left open, a delimiter out of place."""


def check_structure(data: bytes | memoryview, *, implicit_vr: bool, little_endian: bool) -> None:
    """Raise :class:`DataSetStructureError` unless ``data`` is whole data
    set encoding in the given byte order and VR form (a native syntax, or an
    encapsulated one: Explicit VR Little Endian with fragments).

    >>> check_structure(bytes.fromhex("10002000") + b"LO" + b"\\x04\\x00ID00",
    ...                 implicit_vr=False, little_endian=True)
    >>> check_structure(bytes.fromhex("10002000") + b"LO" + b"\\x08\\x00ID00",
    ...                 implicit_vr=False, little_endian=True)
    Traceback (most recent call last):
    ...
    dicomul._structure.DataSetStructureError: (0010,0020) at byte 0: its 8-byte value ...
    """
    view = memoryview(data).cast("B")
    try:
        _Walker(view, little_endian).elements(0, len(view), implicit_vr, depth=0, in_item=False)
    finally:
        view.release()  # a memory-mapped file can be closed, even after an error


class _Walker:
    def __init__(self, data: memoryview, little_endian: bool) -> None:
        self.data = data
        order = "<" if little_endian else ">"
        self.tag = struct.Struct(f"{order}HH")
        self.u16 = struct.Struct(f"{order}H")
        self.u32 = struct.Struct(f"{order}L")

    def _need(self, position: int, size: int, end: int, what: str) -> None:
        if position + size > end:
            raise DataSetStructureError(
                f"{what} at byte {position}: cut short ({end - position} of {size} bytes)"
            )

    def elements(
        self, position: int, end: int, implicit: bool, *, depth: int, in_item: bool
    ) -> int:
        """Walk elements from ``position`` to ``end`` (or, ``in_item``, to an
        item delimitation item); the position after them."""
        if depth > MAX_DEPTH:
            raise DataSetStructureError(f"sequences nested more than {MAX_DEPTH} deep")
        data = self.data
        while position < end:
            self._need(position, 8, end, "an element header")
            tag = self.tag.unpack_from(data, position)
            name = f"({tag[0]:04X},{tag[1]:04X})"
            if tag == _ITEM_END and in_item:
                return position + 8
            if tag[0] == 0xFFFE:
                raise DataSetStructureError(f"{name} at byte {position}: a delimiter out of place")
            if implicit:
                vr, length, header = None, self.u32.unpack_from(data, position + 4)[0], 8
            else:
                vr = bytes(data[position + 4 : position + 6])
                if vr in _LONG_VRS:
                    self._need(position, 12, end, f"{name}'s header")
                    length, header = self.u32.unpack_from(data, position + 8)[0], 12
                else:
                    length, header = self.u16.unpack_from(data, position + 6)[0], 8
            start = position + header
            if length == _UNDEFINED:
                if vr is not None and vr not in (b"SQ", b"UN", b"OB", b"OW"):
                    kind = vr.decode("latin-1")
                    raise DataSetStructureError(
                        f"{name} at byte {position}: undefined length for VR {kind}"
                    )
                fragments = tag == _PIXEL_DATA and vr in (b"OB", b"OW")
                # UN of undefined length holds implicit VR items (PS3.5 6.2.2).
                nested_implicit = implicit or vr == b"UN"
                position = self.items(start, end, nested_implicit, fragments, depth=depth + 1)
            else:
                if start + length > end:
                    raise DataSetStructureError(
                        f"{name} at byte {position}: its {length}-byte value runs past the end "
                        f"of the data ({max(0, end - start)} bytes left)"
                    )
                if vr == b"SQ":  # (in implicit VR a sequence of defined length is opaque)
                    self.items_within(start, start + length, implicit, depth=depth + 1)
                position = start + length
        if in_item:
            raise DataSetStructureError("an item of undefined length is never closed")
        return position

    def items(
        self, position: int, end: int, implicit: bool, fragments: bool, *, depth: int
    ) -> int:
        """Items up to the sequence delimitation item; the position after it."""
        data = self.data
        while True:
            self._need(position, 8, end, "a sequence item")
            tag = self.tag.unpack_from(data, position)
            length = self.u32.unpack_from(data, position + 4)[0]
            if tag == _SEQUENCE_END:
                return position + 8
            if tag != _ITEM:
                raise DataSetStructureError(
                    f"({tag[0]:04X},{tag[1]:04X}) at byte {position}: not an item in a sequence"
                )
            start = position + 8
            if length == _UNDEFINED:
                if fragments:
                    raise DataSetStructureError(
                        f"a fragment of undefined length at byte {position}"
                    )
                position = self.elements(start, end, implicit, depth=depth, in_item=True)
                continue
            if start + length > end:
                raise DataSetStructureError(
                    f"the item at byte {position}: its {length} bytes run past the end of the data"
                )
            if not fragments:
                self.elements(start, start + length, implicit, depth=depth, in_item=False)
            position = start + length

    def items_within(self, position: int, end: int, implicit: bool, *, depth: int) -> None:
        """The items of a sequence of defined length, filling it exactly."""
        data = self.data
        while position < end:
            self._need(position, 8, end, "a sequence item")
            tag = self.tag.unpack_from(data, position)
            length = self.u32.unpack_from(data, position + 4)[0]
            if tag != _ITEM:
                raise DataSetStructureError(
                    f"({tag[0]:04X},{tag[1]:04X}) at byte {position}: not an item in a sequence"
                )
            start = position + 8
            if length == _UNDEFINED:
                position = self.elements(start, end, implicit, depth=depth, in_item=True)
            elif start + length > end:
                raise DataSetStructureError(
                    f"the item at byte {position}: its {length} bytes run past its sequence"
                )
            else:
                self.elements(start, start + length, implicit, depth=depth, in_item=False)
                position = start + length
