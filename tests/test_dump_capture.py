"""``dicomul dump``'s capture side (dicomul_sync.apps._capture, .dump): TCP
streams put back in order whatever the segments did, captures read from
files and pipes, and memory held only for what is open."""

from __future__ import annotations

import io
import json
import pathlib
import select
import struct
import subprocess
import sys
from collections.abc import Iterable

import dpkt
import pytest
from conversations import association
from dicomul_sync.apps._capture import (
    CaptureError,
    Endpoint,
    Segment,
    StreamClosed,
    StreamData,
    StreamGap,
    TcpReassembler,
    read_packets,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from dicomul import Role

CLIENT, SERVER = Endpoint("10.0.0.1", 40000), Endpoint("10.0.0.2", 104)
SYN, ACK, FIN, RST = 0x02, 0x10, 0x01, 0x04
DICOMUL = str(pathlib.Path(sys.executable).with_name("dicomul"))


def handshake(isn_client: int, isn_server: int) -> list[Segment]:
    return [
        Segment(0.0, CLIENT, SERVER, isn_client, SYN, b""),
        Segment(0.0, SERVER, CLIENT, isn_server, SYN | ACK, b""),
        Segment(0.0, CLIENT, SERVER, (isn_client + 1) % 2**32, ACK, b""),
    ]


def cut(data: bytes, sizes: list[int]) -> list[tuple[int, bytes]]:
    """``data`` as (offset, piece) segments of the given sizes (repeating)."""
    pieces, at, n = [], 0, 0
    while at < len(data):
        size = sizes[n % len(sizes)]
        pieces.append((at, data[at : at + size]))
        at, n = at + size, n + 1
    return pieces


def streams(events: Iterable[object]) -> dict[bool, list[object]]:
    """Each direction's stream as merged ("data", bytes) and ("gap", size) runs."""
    runs: dict[bool, list[object]] = {True: [], False: []}
    for event in events:
        if isinstance(event, StreamData | StreamGap):
            run = runs[event.from_client]
            kind, value = (
                ("data", event.data) if isinstance(event, StreamData) else ("gap", event.size)
            )
            if run and run[-1][0] == kind:  # type: ignore[index]
                run[-1] = (kind, run[-1][1] + value)  # type: ignore[index, operator]
            else:
                run.append((kind, value))
    return runs


@settings(max_examples=100, deadline=None)
@given(
    st.binary(min_size=1, max_size=3000),
    st.binary(min_size=1, max_size=3000),
    st.lists(st.integers(1, 400), min_size=1, max_size=5),
    st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
    st.data(),
)
def test_any_order_repeats_and_overlaps_give_the_streams_back(
    up: bytes, down: bytes, sizes: list[int], isns: tuple[int, int], data: st.DataObject
) -> None:
    """Segments out of order within a direction, sent twice, or resent cut
    elsewhere (overlapping): each stream comes out whole, once, in order,
    and sequence numbers wrap round."""
    isn_up, isn_down = isns
    flows = {True: (up, isn_up + 1, CLIENT, SERVER), False: (down, isn_down + 1, SERVER, CLIENT)}
    lists = {}
    for from_client, (stream, base, source, destination) in flows.items():
        segments = [
            Segment(1.0, source, destination, (base + at) % 2**32, ACK, piece)
            for at, piece in cut(stream, sizes)
        ]
        for _ in range(data.draw(st.integers(0, 4))):  # retransmissions, cut elsewhere
            start = data.draw(st.integers(0, len(stream) - 1))
            end = data.draw(st.integers(start + 1, len(stream)))
            at = data.draw(st.integers(0, len(segments)))
            segments.insert(
                at,
                Segment(1.0, source, destination, (base + start) % 2**32, ACK, stream[start:end]),
            )
        order = data.draw(st.permutations(range(len(segments))))
        window = data.draw(st.integers(1, 4))  # out of order only so far
        ranked = sorted(range(len(segments)), key=lambda i: (i // window, order[i]))
        lists[from_client] = [segments[i] for i in ranked]
        fin = (base + len(stream)) % 2**32
        lists[from_client].append(Segment(2.0, source, destination, fin, FIN | ACK, b""))
    reassembler = TcpReassembler()
    events = []
    for segment in handshake(isn_up, isn_down):
        events += reassembler.segment(segment)
    merged = [*lists[True], *lists[False]]
    if data.draw(st.booleans()):
        merged = [s for pair in zip(lists[True], lists[False], strict=False) for s in pair]
        merged += lists[True][len(lists[False]) :] + lists[False][len(lists[True]) :]
    for segment in merged:
        events += reassembler.segment(segment)
    events += reassembler.close_all(3.0)
    assert streams(events) == {True: [("data", up)], False: [("data", down)]}
    assert sum(isinstance(e, StreamClosed) for e in events) == 1
    assert reassembler.open_connections == 0


@settings(max_examples=100, deadline=None)
@given(
    st.binary(min_size=50, max_size=3000),
    st.lists(st.integers(1, 300), min_size=1, max_size=4),
    st.data(),
)
def test_segments_lost_are_gaps_of_their_size(
    up: bytes, sizes: list[int], data: st.DataObject
) -> None:
    pieces = cut(up, sizes)
    lost = set(data.draw(st.lists(st.integers(0, len(pieces) - 1), max_size=3)))
    events = []
    reassembler = TcpReassembler(max_pending=data.draw(st.sampled_from([100, 1 << 24])))
    for segment in handshake(5, 9):
        events += reassembler.segment(segment)
    for n, (at, piece) in enumerate(pieces):
        if n not in lost:
            events += reassembler.segment(Segment(1.0, CLIENT, SERVER, 6 + at, ACK, piece))
    events += reassembler.segment(Segment(2.0, CLIENT, SERVER, 6 + len(up), FIN | ACK, b""))
    events += reassembler.segment(Segment(2.0, SERVER, CLIENT, 10, FIN | ACK, b""))
    events += reassembler.close_all(3.0)
    expected: list[object] = []
    for n, (_, piece) in enumerate(pieces):
        kind, value = ("gap", len(piece)) if n in lost else ("data", piece)
        if expected and expected[-1][0] == kind:  # type: ignore[index]
            expected[-1] = (kind, expected[-1][1] + value)  # type: ignore[index, operator]
        else:
            expected.append((kind, value))
    assert streams(events)[True] == expected


def test_a_connection_whose_start_was_not_captured() -> None:
    """No SYN: the server is the port named, or else the lower port; the
    stream starts at the first byte captured."""
    reassembler = TcpReassembler(server_ports=frozenset({40000}))
    (event,) = reassembler.segment(Segment(1.0, SERVER, CLIENT, 77, ACK, b"abc"))
    assert isinstance(event, StreamData)
    assert event.connection.server == CLIENT  # port 40000, named
    assert not event.connection.from_start
    assert event.from_client
    reassembler = TcpReassembler()
    (event,) = reassembler.segment(Segment(1.0, CLIENT, SERVER, 77, ACK, b"abc"))
    assert event.connection.server == SERVER  # the lower port
    assert event.from_client
    # A lone ACK after a connection's end opens nothing.
    assert reassembler.segment(Segment(1.0, CLIENT, Endpoint("10.0.0.3", 1), 5, ACK, b"")) == []


def test_a_new_syn_on_the_same_ports_is_a_new_connection() -> None:
    reassembler = TcpReassembler()
    events = []
    for segment in handshake(100, 200):
        events += reassembler.segment(segment)
    events += reassembler.segment(Segment(1.0, CLIENT, SERVER, 101, ACK, b"first"))
    for segment in handshake(9000, 200):
        events += reassembler.segment(segment)
    events += reassembler.segment(Segment(1.0, CLIENT, SERVER, 9001, ACK, b"second"))
    events += reassembler.segment(Segment(1.0, CLIENT, SERVER, 9007, RST, b""))
    kinds = [(type(e).__name__, getattr(e, "data", None), e.connection.number) for e in events]
    assert kinds == [
        ("StreamData", b"first", 1),
        ("StreamClosed", None, 1),
        ("StreamData", b"second", 2),
        ("StreamClosed", None, 2),
    ]


# ------------------------------------------------------------------ reading captures


def frame(segment: Segment) -> bytes:
    tcp = dpkt.tcp.TCP(
        sport=segment.source.port, dport=segment.destination.port, seq=segment.seq,
        flags=segment.flags, data=segment.payload,
    )  # fmt: skip
    ip = dpkt.ip.IP(
        src=bytes(map(int, segment.source.host.split("."))),
        dst=bytes(map(int, segment.destination.host.split("."))),
        p=dpkt.ip.IP_PROTO_TCP,
        data=tcp,
    )
    ip.len = len(bytes(ip))
    return bytes(ip)


def pcap(
    segments: Iterable[Segment], *, linktype: int = dpkt.pcap.DLT_RAW, nano: bool = False
) -> bytes:
    out = io.BytesIO()
    writer = dpkt.pcap.Writer(out, linktype=linktype, nano=nano)
    for segment in segments:
        packet = frame(segment)
        if linktype == dpkt.pcap.DLT_EN10MB:
            packet = bytes(dpkt.ethernet.Ethernet(data=dpkt.ip.IP(packet), type=0x0800))
        writer.writepkt(packet, ts=segment.time)
    return out.getvalue()


def conversation_segments(first_port: int, count: int) -> list[Segment]:
    """``count`` associations one after the other (each the scripted one of
    tests/conversations.py), as TCP segments from SYN to FIN."""
    segments: list[Segment] = []
    pieces, _ = association(stores=1, store_size=2000)
    clock = 0.0
    for n in range(count):
        client = Endpoint("10.0.0.1", first_port + n)
        seq = {True: 1001, False: 5001}
        segments += [
            Segment(clock, client, SERVER, 1000, SYN, b""),
            Segment(clock, SERVER, client, 5000, SYN | ACK, b""),
        ]
        for sender, data in pieces:
            clock += 0.001
            up = sender is Role.REQUESTOR
            source, destination = (client, SERVER) if up else (SERVER, client)
            segments.append(Segment(clock, source, destination, seq[up], ACK, data))
            seq[up] += len(data)
        segments += [
            Segment(clock, client, SERVER, seq[True], FIN | ACK, b""),
            Segment(clock, SERVER, client, seq[False], FIN | ACK, b""),
        ]
    return segments


def test_not_a_capture_and_an_empty_one() -> None:
    with pytest.raises(CaptureError, match="not a pcap or pcapng capture"):
        list(read_packets(io.BytesIO(b"hello world"), []))
    with pytest.raises(CaptureError, match="the capture is empty"):
        list(read_packets(io.BytesIO(b""), []))


@pytest.mark.parametrize(
    ("linktype", "nano"), [(dpkt.pcap.DLT_RAW, True), (dpkt.pcap.DLT_EN10MB, False)]
)
def test_link_types_and_timestamps(linktype: int, nano: bool) -> None:
    segments = conversation_segments(40000, 1)
    read = list(read_packets(io.BytesIO(pcap(segments, linktype=linktype, nano=nano)), []))
    assert [(s.source, s.seq, s.payload) for s in read] == [
        (s.source, s.seq, s.payload) for s in segments
    ]
    assert read[-1].time == pytest.approx(segments[-1].time)


def test_memory_is_held_for_open_associations_only() -> None:
    """A long capture read as a stream: each association is printed as it
    ends, and no more than one is held at a time."""
    import logging

    from dicomul_sync.apps.dump import Dumper, Printer

    out = io.StringIO()
    dumper = Dumper(
        Printer(out, as_json=True, verbose=False),
        ports=frozenset(),
        extract=None,
        log=logging.getLogger("test"),
    )
    count = 40
    segments = conversation_segments(41000, count)
    most_open = printed = 0
    for segment in read_packets(io.BytesIO(pcap(segments)), []):
        dumper.segment(segment)
        most_open = max(most_open, len(dumper._open), dumper.tcp.open_connections)
        ended = out.getvalue().count('"event": "summary"')
        assert ended >= printed
        printed = ended
    dumper.finish()
    assert most_open == 1
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["association"] for r in records if r["event"] == "summary"] == list(
        range(1, count + 1)
    )
    assert all(r["ending"] == "released" for r in records if r["event"] == "summary")


def test_a_pipe_prints_each_association_as_it_ends() -> None:
    """``tcpdump -w - | dicomul dump -``: the first association is printed
    while the capture is still coming."""
    data = pcap(conversation_segments(42000, 2))
    first = pcap(conversation_segments(42000, 1))
    proc = subprocess.Popen(
        [DICOMUL, "dump", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=False
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        proc.stdin.write(first)
        proc.stdin.flush()
        seen = b""
        while b"summary:" not in seen:
            ready, _, _ = select.select([proc.stdout], [], [], 30)
            assert ready, "nothing printed while the capture is open"
            chunk = proc.stdout.read1(65536)  # type: ignore[attr-defined]
            assert chunk
            seen += chunk
        assert seen.startswith(b"Association 1: 10.0.0.1:42000 -> 10.0.0.2:104")
        assert data.startswith(first)
        proc.stdin.write(data[len(first) :])  # the second association's packets
    finally:
        proc.stdin.close()
        rest = proc.stdout.read()
        proc.wait(30)
    assert proc.returncode == 0
    assert rest.startswith(b"Association 2: 10.0.0.1:42001 -> 10.0.0.2:104")


# ------------------------------------------------------------ pcapng, every interface


def ng_block(block_type: int, body: bytes, order: str = "<") -> bytes:
    """One pcapng block: type, total length, body padded to 32 bits, length again."""
    body += b"\0" * (-len(body) % 4)
    length = struct.pack(order + "I", len(body) + 12)
    return struct.pack(order + "I", block_type) + length + body + length


def ng_section(order: str = "<") -> bytes:
    magic = struct.pack(order + "I", 0x1A2B3C4D)
    return ng_block(0x0A0D0D0A, magic + struct.pack(order + "HHq", 1, 0, -1), order)


def ng_interface(linktype: int, tsresol: int | None = None, order: str = "<") -> bytes:
    body = struct.pack(order + "HHI", linktype, 0, 65535)
    if tsresol is not None:
        body += struct.pack(order + "HH", 9, 1) + bytes([tsresol, 0, 0, 0])
        body += struct.pack(order + "HH", 0, 0)
    return ng_block(1, body, order)


def ng_packet(interface: int, units: int, frame: bytes, order: str = "<") -> bytes:
    high, low = units >> 32, units & 0xFFFFFFFF
    head = struct.pack(order + "IIIII", interface, high, low, len(frame), len(frame))
    return ng_block(6, head + frame, order)


def ethernet(segment: Segment) -> bytes:
    return bytes(dpkt.ethernet.Ethernet(data=dpkt.ip.IP(frame(segment)), type=0x0800))


def test_pcapng_with_several_interfaces_sections_and_byte_orders() -> None:
    """What ``dumpcap -i lo -i eth0`` and ``mergecap`` write: each packet is
    read with its own interface's link type and timestamp resolution, across
    sections of either byte order; packets on an interface of an unknown link
    type are passed over with one note, other blocks are skipped."""
    segments = conversation_segments(42000, 2)
    half = len(segments) // 2
    capture = ng_section("<") + ng_interface(dpkt.pcap.DLT_RAW, tsresol=9)
    capture += ng_interface(dpkt.pcap.DLT_EN10MB) + ng_interface(147)  # 147: a private type
    capture += ng_block(4, b"\0" * 4)  # a name resolution block
    for n, segment in enumerate(segments[:half]):
        if n % 2:
            capture += ng_packet(1, round(segment.time * 1e6), ethernet(segment))
        else:
            capture += ng_packet(0, round(segment.time * 1e9), frame(segment))
        capture += ng_packet(2, 0, b"not a frame anyone reads")
    # A second section, big-endian, its interface in units of 2**-20 s,
    # and a Simple Packet Block (interface 0, no timestamp).
    capture += ng_section(">") + ng_interface(dpkt.pcap.DLT_EN10MB, tsresol=0x80 | 20, order=">")
    for segment in segments[half:-1]:
        capture += ng_packet(0, round(segment.time * 2**20), ethernet(segment), ">")
    last = ethernet(segments[-1])
    capture += ng_block(3, struct.pack(">I", len(last)) + last, ">")
    notes: list[str] = []
    read = list(read_packets(io.BytesIO(capture), notes))
    assert [(s.source, s.destination, s.seq, s.flags, s.payload) for s in read] == [
        (s.source, s.destination, s.seq, s.flags, s.payload) for s in segments
    ]
    assert [s.time for s in read[:-1]] == pytest.approx([s.time for s in segments[:-1]], abs=1e-6)
    assert notes == [
        "interface 2 has link type 147, not one this tool reads: its packets are passed over"
    ]


def test_pcapng_broken_off_or_damaged() -> None:
    segments = conversation_segments(43000, 1)
    capture = ng_section() + ng_interface(dpkt.pcap.DLT_RAW)
    capture += b"".join(ng_packet(0, 0, frame(s)) for s in segments)
    notes: list[str] = []
    assert len(list(read_packets(io.BytesIO(capture[:-10]), notes))) == len(segments) - 1
    assert notes == [f"the capture ends within a block (after packet {len(segments) - 1})"]
    bad_length = capture + b"\x06\0\0\0\x07\0\0\0" + capture
    notes = []
    assert len(list(read_packets(io.BytesIO(bad_length), notes))) == len(segments)
    assert notes == [
        f"the capture breaks off after packet {len(segments)}: "
        "a block of type 0x6 claims a length of 7 bytes"
    ]
    with pytest.raises(CaptureError, match="the capture's header is damaged: no byte-order magic"):
        list(read_packets(io.BytesIO(b"\x0a\x0d\x0d\x0a\x1c\0\0\0XXXX" + b"\0" * 16), []))
    notes = []
    stray = ng_section() + ng_packet(5, 0, frame(segments[0])) * 2
    assert list(read_packets(io.BytesIO(stray), notes)) == []
    assert notes == [
        "packet 1 names interface 5, which no block described: "
        "that interface's packets are passed over"
    ]


@settings(max_examples=200)
@given(st.binary(max_size=600), st.integers(min_value=0, max_value=4))
def test_pcapng_arbitrary_blocks_never_crash(junk: bytes, where: int) -> None:
    """Garbage anywhere after a valid start gives packets or notes, never an
    exception other than CaptureError."""
    segments = conversation_segments(44000, 1)
    blocks = [ng_section(), ng_interface(dpkt.pcap.DLT_RAW)]
    blocks += [ng_packet(0, 0, frame(s)) for s in segments[:3]]
    blocks.insert(min(where + 1, len(blocks)), junk)
    notes: list[str] = []
    try:
        read = list(read_packets(io.BytesIO(b"".join(blocks)), notes))
    except CaptureError:
        return
    assert all(isinstance(s, Segment) for s in read)
