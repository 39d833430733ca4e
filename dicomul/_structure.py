"""Whether data-set bytes are whole: every element's value inside the data,
every sequence and item closed (PS3.5 7.1 to 7.5), without decoding a value.

A storage SCP writes a data set as it arrives, undecoded; a storage SCU
sends a file as it is on disk.  Neither looks inside the values, so a file
cut short, or a stream that ends mid-element, would be passed on, stored
and answered Success.  :class:`StructureWalker` follows the element headers
only (tag, VR, length), skipping every value, so it costs a few bytes read
per element whatever the data set's size: what DCMTK's storescu and
storescp catch by parsing ("premature end of stream") is caught here.

Theory of operation
-------------------
The walker takes the bytes in pieces as they arrive (:meth:`feed`), however
they are cut, and keeps only a stack of the containers it is inside: the
data set itself, a sequence (its items), an item (its elements).  Each
container knows where it ends, when its length is defined, or waits for its
delimiter (PS3.5 7.5.1, 7.5.2).  A header cut by a piece boundary is held
(at most 12 bytes) until the next piece; a value is skipped by counting.
:meth:`finish` says whether the stream ended where a data set may end.
Memory is constant whatever the data set's size or nesting depth (which is
bounded by :data:`MAX_DEPTH`).

While walking it can keep the whole encoding (header and value) of chosen
top-level elements, so that a few attributes (the SOP Instance UID, what an
index needs) can be read from a stream without holding the rest of it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from ._wire import BytesLike

__all__ = ["LONG_VRS", "MAX_DEPTH", "DataSetStructureError", "StructureWalker", "check_structure"]

#: Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2).
LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
#: VRs that may have an undefined length (PS3.5 7.1.2, 7.5, A.4; UN: 6.2.2).
_UNDEFINED_LENGTH_VRS = frozenset({b"SQ", b"UN", b"OB", b"OW"})
#: The same, as the integer ``first byte << 8 | second byte`` (the fast path's key).
_LONG_VR_KEYS = frozenset(vr[0] << 8 | vr[1] for vr in LONG_VRS)
_SQ_KEY = ord("S") << 8 | ord("Q")
_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_PIXEL_DATA = 0x7FE00010
#: Nesting deeper than this is refused rather than followed.
MAX_DEPTH = 64

# The two kinds of container on the walker's stack.
_ELEMENTS = 0  # a data set or an item: elements, up to its end or an item delimiter
_ITEMS = 1  # a sequence: items (or fragments), up to its end or a sequence delimiter


class DataSetStructureError(ValueError):
    """Data-set bytes that are not whole: a value past the end, a sequence
    or item left open, a delimiter out of place."""


class _Container:
    """One open container: what it holds, where it ends, what bounds it."""

    __slots__ = ("end", "fragments", "implicit", "in_item", "kind", "limit")

    def __init__(
        self,
        kind: int,
        *,
        end: int | None,
        limit: int | None,
        implicit: bool,
        in_item: bool = False,
        fragments: bool = False,
    ) -> None:
        self.kind = kind
        #: Where its own (defined) length ends it; None: ended by a delimiter.
        self.end = end
        #: The nearest defined end around it: nothing inside may pass it.
        self.limit = limit
        self.implicit = implicit
        #: Elements of an item of undefined length (ended by (FFFE,E00D)).
        self.in_item = in_item
        #: Items of encapsulated Pixel Data: fragments, whose values are opaque.
        self.fragments = fragments


def _tag_name(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


class StructureWalker:
    """Follow a data set's encoding as it arrives, checking that it is whole.

    Parameters
    ----------
    implicit_vr, little_endian : bool
        The encoding (PS3.5 7.1, 7.3): a native transfer syntax, or an
        encapsulated one (Explicit VR Little Endian with fragments).  A
        deflated data set is fed inflated (see :class:`dicomul.DataSetScanner`).
    keep : iterable of int
        Tags (``0x00080018``) of top-level elements whose encoding to keep in
        :attr:`kept`, if their value is at most ``max_kept_value`` bytes.

    Examples
    --------
    >>> walker = StructureWalker(implicit_vr=False, little_endian=True, keep=[0x00100020])
    >>> element = bytes.fromhex("10002000") + b"LO" + b"\\x04\\x00ID00"
    >>> walker.feed(element[:5]); walker.feed(element[5:])
    >>> walker.finish()
    >>> walker.kept[0x00100020] == element
    True
    """

    def __init__(
        self,
        *,
        implicit_vr: bool,
        little_endian: bool,
        keep: Iterable[int] = (),
        max_kept_value: int = 64 * 1024,
    ) -> None:
        order = "<" if little_endian else ">"
        self._tag = struct.Struct(f"{order}HH")
        self._tag_and_u32 = struct.Struct(f"{order}HHL")
        self._tag_vr_u16 = struct.Struct(f"{order}HH2xH")
        self._u16 = struct.Struct(f"{order}H")
        self._u32 = struct.Struct(f"{order}L")
        self._stack = [_Container(_ELEMENTS, end=None, limit=None, implicit=implicit_vr)]
        self._keep = frozenset(keep)
        self._last_kept = max(self._keep, default=-1)
        self._max_kept_value = max_kept_value
        #: The encoding of each kept top-level element, in the order met.
        self.kept: dict[int, bytes] = {}
        #: Bytes walked so far (an offset into the data set).
        self.position = 0
        # Value bytes up to this offset are skipped (or kept); the element
        # they belong to, for messages; and the element being kept.
        self._skip_to = 0
        self._value_of: tuple[int, int, int] = (0, 0, 0)  # tag, header offset, length
        self._keeping: bytearray | None = None
        # A header cut by a piece boundary.
        self._pending = b""
        # The last top-level tag met: every kept tag has passed once it is larger.
        self._top_tag = -1

    @property
    def passed_kept(self) -> bool:
        """True once every element asked for in ``keep`` has gone by (top-level
        tags ascend, PS3.5 7.1): the caller may stop feeding if it only
        wanted those."""
        return self._top_tag > self._last_kept and self._skip_to <= self.position

    def feed(self, data: BytesLike | bytearray) -> None:
        """Walk the next piece of the data set.  Raises DataSetStructureError
        as soon as the bytes cannot be part of a whole data set."""
        view = memoryview(data).cast("B")
        size = len(view)
        at = 0
        while True:
            if self._skip_to > self.position:
                step = min(self._skip_to - self.position, size - at)
                if self._keeping is not None:
                    self._keeping += view[at : at + step]
                at += step
                self.position += step
                if self.position < self._skip_to:
                    return
                if self._keeping is not None:
                    self.kept[self._value_of[0]] = bytes(self._keeping)
                    self._keeping = None
            self._close_ended()
            if at == size:
                return
            if not self._pending:
                at = self._run(view, at, size)
                if self._skip_to > self.position or at == size:
                    continue
            if self._pending:
                joined = self._pending + bytes(view[at : at + 12])
                used = self._header(joined, 0, len(joined))
                if not used:
                    self._pending = joined
                    return
                at += used - len(self._pending)
                self._pending = b""
            else:
                used = self._header(view, at, size)
                if not used:
                    self._pending = bytes(view[at:size])
                    return
                at += used

    def finish(self) -> None:
        """Raise DataSetStructureError unless the data fed so far is a whole
        data set (nothing cut short, every sequence and item closed)."""
        if self._skip_to > self.position:
            tag, offset, length = self._value_of
            left = self.position - (self._skip_to - length)
            raise DataSetStructureError(
                f"{_tag_name(tag)} at byte {offset}: its {length}-byte value runs past the end "
                f"of the data ({max(0, left)} bytes left)"
            )
        if self._pending:
            raise DataSetStructureError(
                f"a header at byte {self.position}: cut short ({len(self._pending)} bytes)"
            )
        top = self._stack[-1]
        if len(self._stack) > 1:
            if top.kind == _ELEMENTS and top.in_item:
                raise DataSetStructureError("an item of undefined length is never closed")
            if top.kind == _ITEMS and top.end is None:
                raise DataSetStructureError("a sequence of undefined length is never closed")
            raise DataSetStructureError(
                f"a sequence or item cut short at byte {self.position} (it ends at {top.end})"
            )

    # ------------------------------------------------------------ internals

    def _run(self, view: memoryview, at: int, size: int) -> int:
        """The fast path: walk the plain headers at ``view[at:]`` (elements of
        defined length that are not sequences or kept; items of no length;
        fragments) without leaving the loop; return where it stopped, at the
        first header the general path (:meth:`_header`) must take."""
        top = self._stack[-1]
        limit = top.limit
        position = self.position
        start_at = at
        if top.kind == _ITEMS:
            tag_and_u32 = self._tag_and_u32
            fragments = top.fragments
            while size - at >= 8 and (limit is None or limit - position >= 8):
                group, element, length = tag_and_u32.unpack_from(view, at)
                if group != 0xFFFE or element != 0xE000 or length == _UNDEFINED:
                    break
                if length and not fragments:
                    break
                end = position + 8 + length
                if limit is not None and end > limit:
                    break
                if end - position > size - at:  # the fragment goes on in the next piece
                    self._value_of = (_ITEM, position, length)
                    self._skip_to = end
                    self.position = position + 8
                    return at + 8
                at += end - position
                position = end
        else:
            is_top = len(self._stack) == 1
            keep = self._keep if is_top else frozenset()
            implicit = top.implicit
            tag_vr_u16, tag_and_u32, u32 = self._tag_vr_u16, self._tag_and_u32, self._u32
            tag = -1
            while size - at >= 12 and (limit is None or limit - position >= 12):
                if implicit:
                    group, element, length = tag_and_u32.unpack_from(view, at)
                    header = 8
                    if length == _UNDEFINED:
                        break
                else:
                    group, element, length = tag_vr_u16.unpack_from(view, at)
                    vr_key = view[at + 4] << 8 | view[at + 5]
                    header = 8
                    if vr_key in _LONG_VR_KEYS:
                        if vr_key == _SQ_KEY:
                            break
                        length = u32.unpack_from(view, at + 8)[0]
                        header = 12
                        if length == _UNDEFINED:
                            break
                if group == 0xFFFE:
                    break
                tag = group << 16 | element
                if tag in keep:
                    break
                end = position + header + length
                if limit is not None and end > limit:
                    break
                if is_top:
                    self._top_tag = tag
                if end - position > size - at:  # the value goes on in the next piece
                    self._value_of = (tag, position, length)
                    self._skip_to = end
                    self.position = position + header
                    return at + header
                at += end - position
                position = end
        self.position = position
        if at != start_at:
            self._close_ended()
        return at

    def _close_ended(self) -> None:
        """Leave the containers of defined length that end here; refuse a
        container of undefined length that reaches the end of what bounds it."""
        stack, position = self._stack, self.position
        while len(stack) > 1:
            top = stack[-1]
            if top.end == position:
                stack.pop()
                continue
            if top.end is None and top.limit == position:
                what = "an item" if top.kind == _ELEMENTS else "a sequence"
                raise DataSetStructureError(
                    f"{what} of undefined length at byte {position}: cut short by the end "
                    "of what holds it"
                )
            return

    def _header(self, data: BytesLike, at: int, size: int) -> int:
        """Take the header at ``data[at:]``: its size, or 0 if it is not all there."""
        top = self._stack[-1]
        room = None if top.limit is None else top.limit - self.position
        if room is not None and room < 8:
            self._cut_short("an element header" if top.kind == _ELEMENTS else "a sequence item", 8)
        if size - at < 8:
            return 0
        group, element = self._tag.unpack_from(data, at)
        tag = group << 16 | element
        if top.kind == _ITEMS:
            return self._item(tag, self._u32.unpack_from(data, at + 4)[0], top)
        if top.in_item and tag == _ITEM_END:
            self._stack.pop()
            self.position += 8
            return 8
        if group == 0xFFFE:
            raise DataSetStructureError(
                f"{_tag_name(tag)} at byte {self.position}: a delimiter out of place"
            )
        vr: bytes | None = None
        if top.implicit:
            length, header = self._u32.unpack_from(data, at + 4)[0], 8
        else:
            vr = bytes(data[at + 4 : at + 6])
            if vr in LONG_VRS:
                if room is not None and room < 12:
                    self._cut_short(f"{_tag_name(tag)}'s header", 12)
                if size - at < 12:
                    return 0
                length, header = self._u32.unpack_from(data, at + 8)[0], 12
            else:
                length, header = self._u16.unpack_from(data, at + 6)[0], 8
        self._element(tag, vr, length, header, top=top, data=data, at=at)
        return header

    def _cut_short(self, what: str, size: int) -> None:
        limit = self._stack[-1].limit
        assert limit is not None
        raise DataSetStructureError(
            f"{what} at byte {self.position}: cut short ({limit - self.position} of {size} bytes)"
        )

    def _element(
        self,
        tag: int,
        vr: bytes | None,
        length: int,
        header: int,
        *,
        top: _Container,
        data: BytesLike,
        at: int,
    ) -> None:
        start = self.position + header
        is_top = len(self._stack) == 1
        if is_top:
            self._top_tag = tag
        if length == _UNDEFINED:
            if vr is not None and vr not in _UNDEFINED_LENGTH_VRS:
                raise DataSetStructureError(
                    f"{_tag_name(tag)} at byte {self.position}: undefined length for VR "
                    f"{vr.decode('latin-1')}"
                )
            # UN of undefined length holds implicit VR items (PS3.5 6.2.2).
            self._push(
                _ITEMS,
                end=None,
                implicit=top.implicit or vr == b"UN",
                fragments=tag == _PIXEL_DATA and vr in (b"OB", b"OW"),
            )
            self.position = start
            return
        if top.limit is not None and start + length > top.limit:
            raise DataSetStructureError(
                f"{_tag_name(tag)} at byte {self.position}: its {length}-byte value runs past "
                f"the end of the data ({max(0, top.limit - start)} bytes left)"
            )
        self._value_of = (tag, self.position, length)
        if vr == b"SQ":  # (in implicit VR a sequence of defined length is opaque)
            self._push(_ITEMS, end=start + length, implicit=top.implicit)
            self.position = start
            return
        if is_top and tag in self._keep and length <= self._max_kept_value:
            if length:
                self._keeping = bytearray(data[at : at + header])
            else:
                self.kept[tag] = bytes(data[at : at + header])
        self.position = start
        self._skip_to = start + length

    def _item(self, tag: int, length: int, top: _Container) -> int:
        position = self.position
        if tag == _SEQUENCE_END and top.end is None:
            self._stack.pop()
            self.position = position + 8
            return 8
        if tag != _ITEM:
            raise DataSetStructureError(
                f"{_tag_name(tag)} at byte {position}: not an item in a sequence"
            )
        start = position + 8
        self.position = start
        if length == _UNDEFINED:
            if top.fragments:
                raise DataSetStructureError(f"a fragment of undefined length at byte {position}")
            self._push(_ELEMENTS, end=None, implicit=top.implicit, in_item=True)
            return 8
        if top.limit is not None and start + length > top.limit:
            raise DataSetStructureError(
                f"the item at byte {position}: its {length} bytes run past the end of the data"
            )
        if top.fragments:
            self._value_of = (tag, position, length)
            self._skip_to = start + length
        elif length:
            self._push(_ELEMENTS, end=start + length, implicit=top.implicit)
        return 8

    def _push(
        self,
        kind: int,
        *,
        end: int | None,
        implicit: bool,
        in_item: bool = False,
        fragments: bool = False,
    ) -> None:
        if len(self._stack) > 2 * MAX_DEPTH:
            raise DataSetStructureError(f"sequences nested more than {MAX_DEPTH} deep")
        limit = end if end is not None else self._stack[-1].limit
        self._stack.append(
            _Container(
                kind, end=end, limit=limit, implicit=implicit, in_item=in_item, fragments=fragments
            )
        )


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
    walker = StructureWalker(implicit_vr=implicit_vr, little_endian=little_endian)
    view = memoryview(data).cast("B")
    try:
        walker.feed(view)
        walker.finish()
    finally:
        view.release()  # a memory-mapped file can be closed, even after an error
