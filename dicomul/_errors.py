"""The exceptions of dicomul.

``ProtocolError`` is the base of every error the protocol raises.  Two kinds
sit below it, in the manner of h11:

* :class:`RemoteProtocolError`: the peer sent something the standard forbids.
  It says how to answer: the A-ABORT source and reason of PS3.8 Table 9-26.
  (Table 9-10 answers every malformed PDU with an A-ABORT; the one
  A-ASSOCIATE-RJ the service provider sends itself, for a protocol version
  it does not support, comes from a well-formed PDU and is the engine's.)
  :class:`PDUDecodeError` adds the byte offset in the PDU at which decoding
  failed.
* :class:`LocalProtocolError`: the local caller misused the API, for example
  by asking to encode a value that does not fit its field.  Nothing was sent.
"""

from __future__ import annotations

from ._enums import AbortReason, AbortSource

__all__ = [
    "LocalProtocolError",
    "PDUDecodeError",
    "PDUTooLargeError",
    "ProtocolError",
    "RemoteProtocolError",
]


class ProtocolError(Exception):
    """Base class of every protocol error raised by dicomul."""


class LocalProtocolError(ProtocolError):
    """The local caller asked for something the protocol does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol.

    Attributes
    ----------
    abort_source : AbortSource
        Source field of the A-ABORT to send in answer (PS3.8 Table 9-26).
    abort_reason : AbortReason
        Reason/Diag. field of that A-ABORT.
    """

    def __init__(
        self,
        message: str,
        *,
        abort_reason: AbortReason = AbortReason.NOT_SPECIFIED,
        abort_source: AbortSource = AbortSource.SERVICE_PROVIDER,
    ) -> None:
        super().__init__(message)
        self.abort_source = abort_source
        self.abort_reason = abort_reason


class PDUDecodeError(RemoteProtocolError):
    """Bytes that are not a valid PDU.

    Attributes
    ----------
    offset : int
        Byte offset, from the first byte of the PDU, of the field that is wrong.
    """

    def __init__(
        self,
        message: str,
        *,
        offset: int,
        abort_reason: AbortReason = AbortReason.INVALID_PDU_PARAMETER_VALUE,
    ) -> None:
        super().__init__(f"{message} (at byte offset {offset})", abort_reason=abort_reason)
        self.offset = offset


class PDUTooLargeError(PDUDecodeError):
    """A PDU header announced more bytes than the receiver's configured maximum.

    Attributes
    ----------
    length : int
        The PDU-length the header announced.
    maximum : int
        The largest PDU-length the receiver accepts for that PDU type.
    """

    def __init__(self, pdu_type: int, length: int, maximum: int) -> None:
        if pdu_type not in _PDU_TYPES:
            # Most likely not DICOM at all (an HTTP or TLS answer): say so,
            # with the A-ABORT reason of an unrecognised PDU (PS3.8 9.3.8).
            hint = " (a TLS handshake: is TLS on at one end only?)" if pdu_type == 0x16 else ""
            super().__init__(
                f"unrecognised PDU type 0x{pdu_type:02X} announcing {length} bytes: "
                f"the peer does not speak the DICOM upper layer protocol here{hint}",
                offset=0,
                abort_reason=AbortReason.UNRECOGNIZED_PDU,
            )
        else:
            super().__init__(
                f"PDU of type 0x{pdu_type:02X} announces {length} bytes, "
                f"more than the maximum of {maximum}",
                offset=2,
            )
        self.length = length
        self.maximum = maximum


#: The PDU types of PS3.8 9.3.1 (A-ASSOCIATE-RQ to A-ABORT).
_PDU_TYPES = frozenset(range(0x01, 0x08))
