"""The two socket operations both sides of the blocking transport need.

Reading waits no longer than the engine's next deadline, then lets its
timers fire; a failed read or write is the peer closing the connection
(Evt17) as far as the engine is concerned.
"""

from __future__ import annotations

import socket
import time

from dicomul import Connection

__all__ = ["RECEIVE_SIZE", "read_into", "write_to"]

#: Bytes asked of each recv().
RECEIVE_SIZE = 65536


def read_into(conn: Connection, sock: socket.socket) -> bytes:
    """Read once from ``sock`` into ``conn`` and return what was read, or fire
    its timers if a deadline passes first (then return nothing)."""
    deadline = conn.next_deadline
    sock.settimeout(None if deadline is None else max(0.0, deadline - time.monotonic()))
    try:
        data = sock.recv(RECEIVE_SIZE)
    except TimeoutError:
        conn.handle_timeout(now=time.monotonic())
        return b""
    except OSError:
        data = b""
    conn.receive_data(data, now=time.monotonic())
    return data


def write_to(conn: Connection, sock: socket.socket, data: bytes) -> None:
    """Write ``data``; a connection that fails under the write is a closed one."""
    if not data:
        return
    try:
        sock.sendall(data)
    except OSError:
        conn.receive_data(b"", now=time.monotonic())
