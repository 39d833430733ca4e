"""Capture files to TCP byte streams, for ``dicomul dump``.

:func:`read_packets` reads a pcap capture (with dpkt) or a pcapng one (every
interface, :mod:`._pcapng`), from a file or a pipe, and yields each TCP
segment in it; :class:`TcpReassembler` puts each
connection's two byte streams back in order, the way the receiving host saw
them: retransmitted and overlapping bytes are taken once, segments that came
out of order wait for the bytes before them, and bytes that never come are
reported as a gap of their size (once the missing segment is clearly lost:
the connection closes, the capture ends, or more than ``max_pending`` bytes
wait behind it).  Memory is bounded by the connections still open: a
connection's state goes as soon as it closes.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import struct
from collections.abc import Iterator
from typing import IO, Any

from ._pcapng import read_pcapng

__all__ = [
    "CaptureError",
    "Endpoint",
    "Segment",
    "StreamClosed",
    "StreamData",
    "StreamGap",
    "TcpReassembler",
    "read_packets",
]

#: The first four bytes of a capture: pcap (either byte order, micro- or
#: nanosecond timestamps) and pcapng's Section Header Block.
PCAP_MAGICS = frozenset(
    {
        b"\xd4\xc3\xb2\xa1",
        b"\xa1\xb2\xc3\xd4",
        b"\x4d\x3c\xb2\xa1",
        b"\xa1\xb2\x3c\x4d",
    }
)
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"

_SEQ = 1 << 32
#: TCP header flags (RFC 9293 3.1).
_FIN, _SYN, _RST, _ACK = 1, 2, 4, 16


class CaptureError(Exception):
    """The input is not a capture this tool reads, or it breaks off."""


@dataclasses.dataclass(frozen=True, order=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclasses.dataclass(frozen=True)
class Segment:
    """One TCP segment: where from and to, its flags, sequence number and payload.

    ``missing`` counts payload bytes the capture did not keep (a snapshot
    length shorter than the packet).
    """

    time: float
    source: Endpoint
    destination: Endpoint
    seq: int
    flags: int
    payload: bytes
    missing: int = 0


class _Counted:
    """A file wrapper that notes a read cut short by the end of the input."""

    def __init__(self, raw: IO[bytes], first: bytes) -> None:
        self._raw = raw
        self._first = first
        self.cut_short = False

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            data, self._first = self._first + self._raw.read(), b""
            return data
        data, self._first = self._first[:size], self._first[size:]
        while len(data) < size:
            more = self._raw.read(size - len(data))
            if not more:
                break
            data += more
        if 0 < len(data) < size:
            self.cut_short = True
        return data


def read_packets(stream: IO[bytes], notes: list[str]) -> Iterator[Segment]:
    """Every TCP segment of the pcap or pcapng capture read from ``stream``.

    Raises CaptureError at once for input that is no capture; a capture that
    breaks off after some packets yields those, then adds what went wrong to
    ``notes``.  Packets that are not TCP over IPv4 or IPv6 are passed over.
    """
    import dpkt  # noqa: PLC0415 - only when a capture is read

    first = _read_exactly(stream, 4)
    if first == PCAPNG_MAGIC:
        yield from _pcapng_segments(stream, first, notes)
        return
    if not first:
        raise CaptureError("the capture is empty")
    if first not in PCAP_MAGICS:
        raise CaptureError(
            f"not a pcap or pcapng capture (it starts with {first.hex(' ')}, "
            "not a capture file's magic number)"
        )
    source = _Counted(stream, first)
    try:
        reader = dpkt.pcap.Reader(source)
    except (ValueError, dpkt.UnpackError, struct.error) as exc:
        raise CaptureError(f"the capture's header is damaged: {exc}") from None
    link = reader.datalink()
    decode_link = _LINKS.get(link)
    if decode_link is None:
        raise CaptureError(f"link type {link} is not one this tool reads")
    count = 0
    packets = iter(reader)
    while True:
        try:
            timestamp, frame = next(packets)
        except StopIteration:
            break
        except (ValueError, dpkt.UnpackError, struct.error) as exc:
            notes.append(
                f"the capture breaks off after packet {count}: {exc or type(exc).__name__}"
            )
            return
        count += 1
        segment = _segment(float(timestamp), frame, decode_link)
        if segment is not None:
            yield segment
    if source.cut_short:
        notes.append(f"the capture ends within a packet (after packet {count - 1})")


def _pcapng_segments(stream: IO[bytes], first: bytes, notes: list[str]) -> Iterator[Segment]:
    """Every TCP segment of a pcapng capture, each packet's frame read by its
    own interface's link type (a capture may have several: ``dumpcap -i lo -i
    eth0``)."""
    packets = read_pcapng(stream.read, first, notes, _LINKS.__contains__)
    try:
        for timestamp, frame, linktype in packets:
            segment = _segment(timestamp, frame, _LINKS[linktype])
            if segment is not None:
                yield segment
    except ValueError as exc:
        raise CaptureError(f"the capture's header is damaged: {exc}") from None


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    data = b""
    while len(data) < size:
        more = stream.read(size - len(data))
        if not more:
            break
        data += more
    return data


def _ethernet(frame: bytes) -> Any:
    import dpkt  # noqa: PLC0415

    return dpkt.ethernet.Ethernet(frame).data


def _linux_cooked(frame: bytes) -> Any:
    import dpkt  # noqa: PLC0415

    return dpkt.sll.SLL(frame).data


def _linux_cooked2(frame: bytes) -> Any:
    import dpkt  # noqa: PLC0415

    return dpkt.sll2.SLL2(frame).data


def _loopback(frame: bytes) -> Any:
    import dpkt  # noqa: PLC0415

    return dpkt.loopback.Loopback(frame).data


def _raw_ip(frame: bytes) -> Any:
    import dpkt  # noqa: PLC0415

    if frame and frame[0] >> 4 == 6:
        return dpkt.ip6.IP6(frame)
    return dpkt.ip.IP(frame)


#: Link-layer header types (tcpdump.org's LINKTYPE_ values) and how to get
#: the IP packet out of a frame.
_LINKS = {
    0: _loopback,  # BSD loopback
    1: _ethernet,
    12: _raw_ip,
    14: _raw_ip,
    101: _raw_ip,
    108: _loopback,  # OpenBSD loopback
    113: _linux_cooked,  # tcpdump -i any
    228: _raw_ip,  # IPv4
    229: _raw_ip,  # IPv6
    276: _linux_cooked2,
}


def _segment(timestamp: float, frame: bytes, decode_link: Any) -> Segment | None:
    """The TCP segment in ``frame``, or None if it holds none (or is garbled)."""
    import dpkt  # noqa: PLC0415

    try:
        ip = decode_link(frame)
    except (dpkt.UnpackError, struct.error, ValueError):
        return None
    if isinstance(ip, dpkt.ip.IP):
        if ip.mf or ip.offset:  # a fragment
            return None
        header = ip.hl * 4
        total = ip.len
    elif isinstance(ip, dpkt.ip6.IP6):
        header = 40 + sum(len(bytes(h)) for h in getattr(ip, "extension_hdrs", {}).values() if h)
        total = 40 + ip.plen
    else:
        return None
    tcp = ip.data
    if not isinstance(tcp, dpkt.tcp.TCP):
        return None
    payload = bytes(tcp.data)
    missing = max(total - header - tcp.off * 4 - len(payload), 0)
    return Segment(
        time=timestamp,
        source=Endpoint(str(ipaddress.ip_address(ip.src)), tcp.sport),
        destination=Endpoint(str(ipaddress.ip_address(ip.dst)), tcp.dport),
        seq=tcp.seq,
        flags=tcp.flags,
        payload=payload,
        missing=missing,
    )


# --------------------------------------------------------------------- reassembly


@dataclasses.dataclass(frozen=True)
class StreamData:
    """Bytes of a connection's stream, in order: ``from_client`` says which."""

    connection: Connection
    from_client: bool
    data: bytes
    time: float


@dataclasses.dataclass(frozen=True)
class StreamGap:
    """``size`` bytes of a connection's stream that the capture lacks."""

    connection: Connection
    from_client: bool
    size: int
    time: float


@dataclasses.dataclass(frozen=True)
class StreamClosed:
    """The connection ended (both FINs, a RST, a new SYN, or the capture's end)."""

    connection: Connection
    time: float | None


StreamEvent = StreamData | StreamGap | StreamClosed


class _Flow:
    """One direction of a connection: the next sequence number expected and
    the segments waiting for the bytes before them."""

    def __init__(self) -> None:
        self.next: int | None = None
        self.waiting: dict[int, bytes] = {}
        self.waiting_bytes = 0
        #: The sequence number just past the last byte, once a FIN came.
        self.fin_at: int | None = None

    @property
    def finished(self) -> bool:
        """Every byte up to the FIN is delivered."""
        return self.fin_at is not None and self.next == self.fin_at and not self.waiting

    def distance(self, seq: int) -> int:
        """How far ``seq`` is ahead of the next byte expected (negative: behind)."""
        assert self.next is not None
        return (seq - self.next + (_SEQ >> 1)) % _SEQ - (_SEQ >> 1)


@dataclasses.dataclass(eq=False)
class Connection:
    """One TCP connection: its client (the side that sent the SYN, or the
    guess when it was not captured) and server."""

    number: int
    client: Endpoint
    server: Endpoint
    #: True if its SYN was captured: the streams are seen from their start.
    from_start: bool
    started: float
    flows: dict[bool, _Flow] = dataclasses.field(
        default_factory=lambda: {True: _Flow(), False: _Flow()}
    )


class TcpReassembler:
    """The byte streams of the TCP connections in a sequence of segments.

    ``server_ports``: ports taken as the server's when a connection's SYN
    was not captured (else the lower port is).
    """

    def __init__(
        self, *, server_ports: frozenset[int] = frozenset(), max_pending: int = 1 << 24
    ) -> None:
        self.server_ports = server_ports
        self.max_pending = max_pending
        self._connections: dict[tuple[Endpoint, Endpoint], Connection] = {}
        self._count = 0

    def segment(self, segment: Segment) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        key = _key(segment.source, segment.destination)
        connection = self._connections.get(key)
        is_syn = segment.flags & _SYN and not segment.flags & _ACK
        if connection is not None and is_syn and self._fresh_syn(connection, segment):
            self._close(connection, segment.time, events)
            connection = None
        if connection is None:
            if not is_syn and not segment.payload:
                return events  # an ACK, FIN or RST after the end, or before the start
            connection = self._open(segment, bool(is_syn))
        from_client = segment.source == connection.client
        flow = connection.flows[from_client]
        if flow.next is None:
            flow.next = (segment.seq + (1 if segment.flags & _SYN else 0)) % _SEQ
        self._take(connection, from_client, flow, segment, events)
        if segment.flags & _RST or all(f.finished for f in connection.flows.values()):
            self._close(connection, segment.time, events)
        return events

    def close_all(self, time: float | None) -> list[StreamEvent]:
        """The capture ended: every connection still open, closed."""
        events: list[StreamEvent] = []
        for connection in sorted(self._connections.values(), key=lambda c: c.number):
            self._close(connection, time, events)
        return events

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    # ------------------------------------------------------------------

    def _fresh_syn(self, connection: Connection, segment: Segment) -> bool:
        """A SYN from the client with another sequence number: a new
        connection on the same ports (the old one's end not captured)."""
        flow = connection.flows[segment.source == connection.client]
        return flow.next is not None and (segment.seq + 1) % _SEQ != flow.next

    def _open(self, segment: Segment, is_syn: bool) -> Connection:
        self._count += 1
        source, destination = segment.source, segment.destination
        if (
            is_syn
            or destination.port in self.server_ports
            or (source.port not in self.server_ports and destination.port < source.port)
        ):
            client, server = source, destination
        else:
            client, server = destination, source
        connection = Connection(self._count, client, server, is_syn, segment.time)
        self._connections[_key(client, server)] = connection
        return connection

    def _take(
        self,
        connection: Connection,
        from_client: bool,
        flow: _Flow,
        segment: Segment,
        events: list[StreamEvent],
    ) -> None:
        payload = segment.payload
        seq = (segment.seq + (1 if segment.flags & _SYN else 0)) % _SEQ
        if payload or segment.missing:
            ahead = flow.distance(seq)
            if ahead > 0:
                held = len(flow.waiting.get(seq, b""))
                if len(payload) > held:
                    flow.waiting_bytes += len(payload) - held
                    flow.waiting[seq] = payload
                if flow.waiting_bytes > self.max_pending:
                    self._skip_to_waiting(connection, from_client, segment.time, events)
            else:
                self._deliver(connection, from_client, payload[-ahead:], segment.time, events)
                if segment.missing and -ahead <= len(payload):
                    flow.next = (seq + len(payload) + segment.missing) % _SEQ
                    events.append(
                        StreamGap(connection, from_client, segment.missing, segment.time)
                    )
                self._drain(connection, from_client, segment.time, events)
        if segment.flags & _FIN:
            flow.fin_at = (seq + len(payload) + segment.missing) % _SEQ

    @staticmethod
    def _deliver(
        connection: Connection,
        from_client: bool,
        data: bytes,
        time: float,
        events: list[StreamEvent],
    ) -> None:
        flow = connection.flows[from_client]
        if data:
            flow.next = (flow.next + len(data)) % _SEQ  # type: ignore[operator]
            events.append(StreamData(connection, from_client, data, time))

    def _drain(
        self, connection: Connection, from_client: bool, time: float, events: list[StreamEvent]
    ) -> None:
        """Deliver the waiting segments that the stream has now reached."""
        flow = connection.flows[from_client]
        while flow.waiting:
            ready = sorted(
                (seq for seq in flow.waiting if flow.distance(seq) <= 0), key=flow.distance
            )
            if not ready:
                return
            for seq in ready:
                payload = flow.waiting.pop(seq)
                flow.waiting_bytes -= len(payload)
                ahead = flow.distance(seq)
                if -ahead < len(payload):
                    self._deliver(connection, from_client, payload[-ahead:], time, events)

    def _skip_to_waiting(
        self,
        connection: Connection,
        from_client: bool,
        time: float | None,
        events: list[StreamEvent],
    ) -> None:
        """The bytes before the first waiting segment are not coming: a gap."""
        flow = connection.flows[from_client]
        first = min(flow.waiting, key=flow.distance)
        at = time if time is not None else 0.0
        events.append(StreamGap(connection, from_client, flow.distance(first), at))
        flow.next = first
        self._drain(connection, from_client, at, events)

    def _close(
        self, connection: Connection, time: float | None, events: list[StreamEvent]
    ) -> None:
        for from_client in (True, False):
            flow = connection.flows[from_client]
            while flow.waiting:
                self._skip_to_waiting(connection, from_client, time, events)
            if (
                flow.fin_at is not None
                and flow.next is not None
                and flow.distance(flow.fin_at) > 0
            ):
                # The FIN's sequence number says how many bytes never came.
                at = time if time is not None else 0.0
                events.append(StreamGap(connection, from_client, flow.distance(flow.fin_at), at))
                flow.next = flow.fin_at
        self._connections.pop(_key(connection.client, connection.server), None)
        events.append(StreamClosed(connection, time))


def _key(a: Endpoint, b: Endpoint) -> tuple[Endpoint, Endpoint]:
    return (a, b) if a <= b else (b, a)
