"""pcapng captures, block by block, for ``dicomul dump``: every interface of
every section.

A pcapng file (the PCAP Next Generation format, IETF draft-ietf-opsawg-pcapng)
is a run of sections.  Each starts with a Section Header Block that sets the
byte order; Interface Description Blocks follow, one per interface captured
on, each with its own link type and timestamp resolution; packet blocks name
the interface they were seen on.  ``dumpcap -i lo -i eth0`` or
``tshark -i any -i lo`` write such files, and merged captures (``mergecap``)
hold several sections.  dpkt's reader takes the first interface's link type
for every packet and passes over Simple Packet Blocks, so this module reads
the blocks itself: it needs nothing but :mod:`struct`.

:func:`read_pcapng` yields ``(time, frame, link type)`` for each packet, in
file order, reading one block at a time (memory holds one block, whatever the
capture's size).  Blocks it does not need (name resolution, statistics,
custom blocks) are passed over.  What is wrong with the file goes into
``notes``: a packet on an interface no block described, an interface whose
link type is unknown to the caller, a file that breaks off.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

__all__ = ["SECTION_HEADER", "read_pcapng"]

#: Block types (draft-ietf-opsawg-pcapng section 10.1).
SECTION_HEADER = 0x0A0D0D0A
PCAPNG_BLOCK = b"\x0a\x0d\x0d\x0a"
_INTERFACE = 1
_PACKET = 2  # obsolete Packet Block, still written by old tools
_SIMPLE_PACKET = 3
_ENHANCED_PACKET = 6
#: Interface Description Block options: timestamp resolution and offset.
_IF_TSRESOL, _IF_TSOFFSET = 9, 14
#: The largest block read: far above any real packet (snapshot lengths stop
#: at 256 KiB), so a damaged length cannot make the reader hold gigabytes.
MAX_BLOCK = 64 * 1024 * 1024


class _Interface:
    """What an Interface Description Block said: link type, snapshot length,
    and how to turn its timestamps into seconds."""

    __slots__ = ("linktype", "offset", "snaplen", "units_per_second")

    def __init__(self, linktype: int, snaplen: int, units: int, offset: int) -> None:
        self.linktype = linktype
        self.snaplen = snaplen
        self.units_per_second = units
        self.offset = offset

    def seconds(self, high: int, low: int) -> float:
        return self.offset + ((high << 32) | low) / self.units_per_second


def _interface(body: bytes, order: str) -> _Interface:
    """Parse an Interface Description Block's body (after type and length)."""
    linktype, _, snaplen = struct.unpack_from(order + "HHI", body)
    units, offset = 1_000_000, 0  # microseconds unless if_tsresol says otherwise
    for code, value in _options(body, 8, order):
        if code == _IF_TSRESOL and len(value) >= 1:
            # The high bit chooses base 2, else base 10; the rest is the
            # negative exponent (section 4.2, if_tsresol).
            exponent = value[0] & 0x7F
            units = 2**exponent if value[0] & 0x80 else 10**exponent
        elif code == _IF_TSOFFSET and len(value) >= 8:
            (offset,) = struct.unpack_from(order + "q", value)
    return _Interface(linktype, snaplen, max(units, 1), offset)


def _options(body: bytes, start: int, order: str) -> Iterator[tuple[int, bytes]]:
    """The (code, value) options from ``start`` on, up to opt_endofopt or the end."""
    position = start
    while position + 4 <= len(body):
        code, length = struct.unpack_from(order + "HH", body, position)
        if code == 0:
            return
        value = body[position + 4 : position + 4 + length]
        yield code, value
        position += 4 + ((length + 3) & ~3)  # values are padded to 32 bits


def read_pcapng(
    read: Callable[[int], bytes],
    first: bytes,
    notes: list[str],
    known_link: Callable[[int], bool],
) -> Iterator[tuple[float, bytes, int]]:
    """Every packet of the pcapng capture read through ``read(n)``.

    ``first`` is the four bytes already read (the Section Header Block's
    type).  ``known_link(linktype)`` says whether the caller can decode an
    interface's frames: packets on interfaces it cannot are passed over, with
    one note per interface.  Yields ``(time in seconds, frame, link type)``.
    Raises ValueError if the first Section Header Block is damaged (the input
    is then no pcapng capture at all).
    """
    order = "<"
    interfaces: list[_Interface] = []
    refused: set[int] = set()
    count = 0
    block_type_bytes = first
    while True:
        if len(block_type_bytes) < 4:
            if block_type_bytes:
                notes.append(f"the capture ends within a block (after packet {count})")
            return
        raw_length = _exactly(read, 4)
        prefix = b""
        if block_type_bytes == PCAPNG_BLOCK:
            # A new section: its byte-order magic says how to read the rest
            # (the block type reads the same either way).
            prefix = _exactly(read, 4)
            if prefix == b"\x4d\x3c\x2b\x1a":
                order = "<"
            elif prefix == b"\x1a\x2b\x3c\x4d":
                order = ">"
            elif block_type_bytes is first:
                raise ValueError(f"no byte-order magic ({prefix.hex(' ') or 'none'})")
            else:
                notes.append(
                    f"a section header after packet {count} has no byte-order magic "
                    f"({prefix.hex(' ') or 'none'}): the rest of the capture is not read"
                )
                return
            interfaces = []
            refused = set()
        if len(raw_length) < 4:
            notes.append(f"the capture ends within a block (after packet {count})")
            return
        (block_type,) = struct.unpack(order + "I", block_type_bytes)
        (length,) = struct.unpack(order + "I", raw_length)
        if length < 12 + len(prefix) or length % 4 or length > MAX_BLOCK:
            notes.append(
                f"the capture breaks off after packet {count}: "
                f"a block of type {block_type:#x} claims a length of {length} bytes"
            )
            return
        body = prefix + _exactly(read, length - 12 - len(prefix))
        trailer = _exactly(read, 4)
        if len(body) < length - 12 or len(trailer) < 4:
            notes.append(f"the capture ends within a block (after packet {count})")
            return
        block_type_bytes = _exactly(read, 4)
        if block_type == SECTION_HEADER:
            continue
        if block_type == _INTERFACE:
            if len(body) < 8:
                notes.append(f"an interface description after packet {count} is too short")
                interfaces.append(_Interface(-1, 0, 1_000_000, 0))
                continue
            interfaces.append(_interface(body, order))
            continue
        packet = _packet(block_type, body, order, interfaces)
        if packet is None:
            continue
        count += 1
        interface_id, time, frame = packet
        if interface_id >= len(interfaces):
            if interface_id not in refused:
                refused.add(interface_id)
                notes.append(
                    f"packet {count} names interface {interface_id}, which no block "
                    "described: that interface's packets are passed over"
                )
            continue
        linktype = interfaces[interface_id].linktype
        if not known_link(linktype):
            if interface_id not in refused:
                refused.add(interface_id)
                notes.append(
                    f"interface {interface_id} has link type {linktype}, "
                    "not one this tool reads: its packets are passed over"
                )
            continue
        yield time, frame, linktype


def _packet(
    block_type: int, body: bytes, order: str, interfaces: list[_Interface]
) -> tuple[int, float, bytes] | None:
    """(interface, time, frame) of a packet block's body; None for other blocks."""
    if block_type == _ENHANCED_PACKET and len(body) >= 20:
        interface_id, high, low, captured = struct.unpack_from(order + "IIII", body)
        frame = body[20 : 20 + captured]
    elif block_type == _PACKET and len(body) >= 20:
        interface_id, _drops, high, low, captured = struct.unpack_from(order + "HHIII", body)
        frame = body[20 : 20 + captured]
    elif block_type == _SIMPLE_PACKET and len(body) >= 4:
        # Always interface 0, no timestamp; the captured length is what the
        # block holds, up to the interface's snapshot length (section 4.4).
        (original,) = struct.unpack_from(order + "I", body)
        captured = min(original, len(body) - 4)
        if interfaces and interfaces[0].snaplen:
            captured = min(captured, interfaces[0].snaplen)
        return 0, 0.0, body[4 : 4 + captured]
    else:
        return None
    if interface_id >= len(interfaces):
        return interface_id, 0.0, frame
    return interface_id, interfaces[interface_id].seconds(high, low), frame


def _exactly(read: Callable[[int], bytes], size: int) -> bytes:
    """``size`` bytes, or fewer only at the end of the input."""
    data = b""
    while len(data) < size:
        more = read(size - len(data))
        if not more:
            break
        data += more
    return data
