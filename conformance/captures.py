"""Packet captures of real traffic on loopback, for ``dicomul dump``'s tests.

:class:`TcpdumpRecorder` runs tcpdump on the loopback interface (it needs
root, or the capture capability, which CI has); :class:`ProxyRecorder` is
the fallback where it cannot run: a forwarding proxy in front of each
server that notes every chunk each side sent, with its time, and writes
them as a pcap of the TCP segments (SYN, data, FIN) a capture would hold.
Either way the clients connect to ``recorder.front(server_port)``.

:func:`read_packets` and :func:`write_pcap` read a capture's Ethernet/IPv4/
TCP packets and write them back (pcap or pcapng), so that a test can
reorder, repeat or drop them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import re
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import dpkt

HOST = "127.0.0.1"

__all__ = [
    "Packet",
    "ProxyRecorder",
    "TcpdumpRecorder",
    "can_run_tcpdump",
    "read_packets",
    "recorder",
    "write_pcap",
]

#: Largest TCP payload the proxy's pcap puts in one packet.
_MSS = 32768
_FIN, _SYN, _PSH, _ACK = dpkt.tcp.TH_FIN, dpkt.tcp.TH_SYN, dpkt.tcp.TH_PUSH, dpkt.tcp.TH_ACK


@dataclasses.dataclass(frozen=True)
class Packet:
    """One IPv4 TCP packet of a capture."""

    time: float
    source: tuple[str, int]
    destination: tuple[str, int]
    seq: int
    ack: int
    flags: int
    payload: bytes = b""

    def frame(self) -> bytes:
        """The packet as an Ethernet frame."""
        tcp = dpkt.tcp.TCP(
            sport=self.source[1],
            dport=self.destination[1],
            seq=self.seq % (1 << 32),
            ack=self.ack % (1 << 32),
            flags=self.flags,
            win=65535,
            data=self.payload,
        )
        ip = dpkt.ip.IP(
            src=socket.inet_aton(self.source[0]),
            dst=socket.inet_aton(self.destination[0]),
            p=dpkt.ip.IP_PROTO_TCP,
            data=tcp,
        )
        ip.len = len(bytes(ip))
        return bytes(dpkt.ethernet.Ethernet(data=ip, type=dpkt.ethernet.ETH_TYPE_IP))


def read_packets(path: pathlib.Path) -> list[Packet]:
    """The TCP packets of a pcap file of Ethernet frames."""
    packets = []
    with path.open("rb") as f:
        for timestamp, frame in dpkt.pcap.Reader(f):
            ip = dpkt.ethernet.Ethernet(frame).data
            if not isinstance(ip, dpkt.ip.IP) or not isinstance(ip.data, dpkt.tcp.TCP):
                continue
            tcp = ip.data
            packets.append(
                Packet(
                    float(timestamp),
                    (socket.inet_ntoa(ip.src), tcp.sport),
                    (socket.inet_ntoa(ip.dst), tcp.dport),
                    tcp.seq,
                    tcp.ack,
                    tcp.flags,
                    bytes(tcp.data),
                )
            )
    return packets


def write_pcap(path: pathlib.Path, packets: Iterable[Packet], *, pcapng: bool = False) -> None:
    with path.open("wb") as f:
        writer: Any = dpkt.pcapng.Writer(f) if pcapng else dpkt.pcap.Writer(f, snaplen=262144)
        for packet in packets:
            writer.writepkt(packet.frame(), ts=packet.time)


# ----------------------------------------------------------------- recorders


def can_run_tcpdump() -> bool:
    """tcpdump is installed and this process may capture (root)."""
    return shutil.which("tcpdump") is not None and os.geteuid() == 0


class TcpdumpRecorder:
    """tcpdump on the loopback interface (or ``interface``), for the TCP ports given."""

    def __init__(self, path: pathlib.Path, ports: Iterable[int], interface: str = "lo") -> None:
        self.path = path
        self.ports = sorted(ports)
        self.interface = interface
        self._proc: subprocess.Popen[str] | None = None

    def front(self, port: int) -> int:
        return port

    def __enter__(self) -> TcpdumpRecorder:
        # tcpdump has been seen to exit at start on a loaded machine running
        # several captures: one more try, then the error with all it said.
        said = ""
        for _ in range(2):
            said = self._start()
            if not said:
                return self
            time.sleep(0.5)
        raise RuntimeError(f"tcpdump did not start: {said!r}")

    def _start(self) -> str:
        """Start tcpdump; "" once it listens, else what it said."""
        expression = "tcp and (" + " or ".join(f"port {p}" for p in self.ports) + ")"
        self._proc = subprocess.Popen(
            [
                *("tcpdump", "-i", self.interface, "--immediate-mode", "-U", "-s", "0"),
                *("-B", "16384", "-Z", "root", "-w", str(self.path), expression),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stderr is not None
        # Read the pipe itself, not through readline: "-i any" first says
        # which link type it picked, and both lines may come in one read,
        # the second then waiting in Python's buffer where select() cannot
        # see it (this waited 20 s, or failed, under load).
        fd = self._proc.stderr.fileno()
        said = b""
        deadline = time.monotonic() + 20
        while b"listening on" not in said:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(fd, 4096) if ready else b""
            if not chunk:  # exited, or silent for 20 s
                self._proc.kill()
                self._proc.wait(timeout=20)
                return said.decode(errors="replace") + f" (exit status {self._proc.returncode})"
            said += chunk
        return ""

    def __exit__(self, *exc_info: object) -> None:
        assert self._proc is not None
        time.sleep(0.2)  # the last packets through the kernel's buffer
        self._proc.send_signal(signal.SIGINT)
        _, errors = self._proc.communicate(timeout=20)
        assert re.search(r"^0 packets dropped by kernel", errors, re.MULTILINE), errors


class ProxyRecorder:
    """A recording proxy in front of each server; writes the pcap on exit."""

    def __init__(self, path: pathlib.Path, ports: Iterable[int] = ()) -> None:
        self.path = path
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listeners: list[socket.socket] = []
        self._lock = threading.Lock()
        #: (client, server, [(time, from_client, bytes or None for FIN)]) per connection.
        self._connections: list[tuple[tuple[str, int], tuple[str, int], list[Any]]] = []

    def __enter__(self) -> ProxyRecorder:
        return self

    def front(self, port: int) -> int:
        listener = socket.create_server((HOST, 0))
        listener.settimeout(0.05)
        self._listeners.append(listener)
        thread = threading.Thread(target=self._accept, args=(listener, port), daemon=True)
        thread.start()
        self._threads.append(thread)
        return int(listener.getsockname()[1])

    def _accept(self, listener: socket.socket, port: int) -> None:
        while not self._stop.is_set():
            try:
                client, address = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            record: list[Any] = [(time.time(), True, "SYN")]
            upstream = socket.create_connection((HOST, port))
            with self._lock:
                self._connections.append(((HOST, address[1]), (HOST, port), record))
            thread = threading.Thread(
                target=self._forward, args=(client, upstream, record), daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _forward(self, client: socket.socket, upstream: socket.socket, record: list[Any]) -> None:
        ends = {client: upstream, upstream: client}
        open_ = {client, upstream}
        with client, upstream:
            while open_ and not self._stop.is_set():
                ready, _, _ = select.select(list(open_), [], [], 0.05)
                for sock in ready:
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        data = b""
                    with self._lock:
                        record.append((time.time(), sock is client, data or None))
                    if data:
                        ends[sock].sendall(data)
                    else:
                        open_.discard(sock)
                        with contextlib.suppress(OSError):
                            ends[sock].shutdown(socket.SHUT_WR)

    def __exit__(self, *exc_info: object) -> None:
        time.sleep(0.2)
        self._stop.set()
        for listener in self._listeners:
            listener.close()
        for thread in self._threads:
            thread.join(10)
        packets: list[Packet] = []
        for client, server, record in self._connections:
            packets += _packets(client, server, record)
        write_pcap(self.path, sorted(packets, key=lambda p: p.time))


def _packets(client: tuple[str, int], server: tuple[str, int], record: list[Any]) -> list[Packet]:
    """The TCP packets a capture of the recorded connection would hold."""
    seq = {True: 1000, False: 5000}
    start = record[0][0]
    packets = [
        Packet(start, client, server, seq[True], 0, _SYN),
        Packet(start, server, client, seq[False], seq[True] + 1, _SYN | _ACK),
        Packet(start, client, server, seq[True] + 1, seq[False] + 1, _ACK),
    ]
    seq = {True: seq[True] + 1, False: seq[False] + 1}
    for moment, from_client, data in record[1:]:
        source, destination = (client, server) if from_client else (server, client)
        # A chunk read is cut into segments an IPv4 packet can carry.
        for piece in (
            [data[at : at + _MSS] for at in range(0, len(data), _MSS)] if data else [None]
        ):
            flags = _ACK | (_PSH if piece else _FIN)
            packets.append(
                Packet(
                    moment,
                    source,
                    destination,
                    seq[from_client],
                    seq[not from_client],
                    flags,
                    piece or b"",
                )
            )
            seq[from_client] += len(piece) if piece else 1
    return packets


def recorder(path: pathlib.Path, ports: Iterable[int]) -> TcpdumpRecorder | ProxyRecorder:
    """tcpdump where it can run, else (or with DICOMUL_CAPTURE=proxy) the
    recording proxy."""
    if can_run_tcpdump() and os.environ.get("DICOMUL_CAPTURE") != "proxy":
        return TcpdumpRecorder(path, ports)
    return ProxyRecorder(path, ports)


@contextlib.contextmanager
def listening_thread(port: int, answer: bytes) -> Iterator[None]:
    """Something on ``port`` that is no DICOM: it reads a line and sends ``answer``."""
    server = socket.create_server((HOST, port))
    server.settimeout(10)

    def serve() -> None:
        with server:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(1024)
                conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join(15)
