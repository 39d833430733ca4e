"""The two socket operations both sides of the blocking transport need.

Reading waits no longer than the engine's next deadline, then lets its
timers fire; a failed read or write is the peer closing the connection
(Evt17) as far as the engine is concerned.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time

from dicomul import Connection

__all__ = ["RECEIVE_SIZE", "read_into", "write_to"]

LOGGER = logging.getLogger("dicomul.sync")

#: Bytes asked of each recv().
RECEIVE_SIZE = 65536
#: Seconds a write may block on a peer that does not read before the
#: connection is given up (a write half done cannot be resumed: PDUs would
#: interleave).
WRITE_TIMEOUT = 60.0


def read_into(conn: Connection, sock: socket.socket, *, wait: bool = True) -> bytes:
    """Read once from ``sock`` into ``conn`` and return what was read, or fire
    its timers if a deadline passes first (then return nothing).

    With ``wait`` false, take only what is there: a TLS record half arrived
    (the socket readable, the record not whole) returns nothing at once
    instead of blocking until the rest comes."""
    deadline = conn.next_deadline
    if deadline is not None and deadline <= time.monotonic():
        conn.handle_timeout(now=time.monotonic())  # due already: no read at all
        return b""
    if wait:
        sock.settimeout(None if deadline is None else deadline - time.monotonic())
    else:
        sock.settimeout(0.0)
    try:
        data = sock.recv(RECEIVE_SIZE)
    except (TimeoutError, BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
        if wait:
            conn.handle_timeout(now=time.monotonic())
        return b""
    except ssl.SSLError as exc:
        # A TLS alert (a refused certificate, say): the engine sees the
        # connection close; the reason is only here, so it is logged.
        LOGGER.error("TLS error: %s", exc.reason or exc)
        data = b""
    except OSError:
        data = b""
    conn.receive_data(data, now=time.monotonic())
    return data


def write_to(
    conn: Connection, sock: socket.socket, data: bytes, timeout: float | None = WRITE_TIMEOUT
) -> bool:
    """Write ``data`` within ``timeout`` seconds; False (and the connection
    closed, as far as the engine is concerned) if the write fails, as when
    a peer stops reading for that long."""
    if not data:
        return True
    sock.settimeout(timeout)
    try:
        sock.sendall(data)
    except OSError:
        conn.receive_data(b"", now=time.monotonic())
        return False
    return True
