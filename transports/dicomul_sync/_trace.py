"""Every PDU sent and received, logged at DEBUG in DCMTK's ``-d`` layout.

Off unless the ``dicomul.pdu`` logger is enabled for DEBUG: then each
connection gets a :class:`PduTrace` that frames both byte streams again (the
core's :class:`dicomul.ReceiveBuffer`) and logs each whole PDU with
:func:`dicomul.describe_frame` and :func:`dicomul.describe_association`.
"""

from __future__ import annotations

import logging

from dicomul import (
    BytesLike,
    ProtocolError,
    ReceiveBuffer,
    describe_association,
    describe_frame,
)

__all__ = ["PduTrace", "debug_logger", "trace_if_debugging"]

LOGGER = logging.getLogger("dicomul.pdu")


class PduTrace:
    """Frames the bytes of one connection, both ways, and logs each PDU."""

    def __init__(self) -> None:
        self._streams = {"sent": ReceiveBuffer(), "received": ReceiveBuffer()}

    def sent(self, data: BytesLike) -> None:
        self._log("sent", data)

    def received(self, data: BytesLike) -> None:
        self._log("received", data)

    def _log(self, direction: str, data: BytesLike) -> None:
        stream = self._streams[direction]
        stream.feed(data)
        while True:
            try:
                frame = stream.next_frame()
            except ProtocolError as exc:
                LOGGER.debug("PDU %s could not be framed: %s", direction, exc)
                return
            if frame is None:
                return
            lines = [f"PDU {direction}:", *describe_frame(frame), *describe_association(frame)]
            LOGGER.debug("\n".join(lines))


def trace_if_debugging() -> PduTrace | None:
    """A trace for a new connection if PDU debugging is on, else None (no cost)."""
    return PduTrace() if LOGGER.isEnabledFor(logging.DEBUG) else None


def debug_logger() -> None:
    """Log everything dicomul does to stderr at DEBUG (each PDU too), as
    pynetdicom's ``debug_logger()``: for trying things out, not production."""
    logger = logging.getLogger("dicomul")
    logger.setLevel(logging.DEBUG)
    if not any(getattr(h, "_dicomul_debug", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname).1s: %(message)s"))
        handler._dicomul_debug = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
