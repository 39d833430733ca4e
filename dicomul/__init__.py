"""dicomul: the DICOM Upper Layer protocol (PS3.8) and DIMSE (PS3.7), Sans-IO.

This package does no I/O: it turns received bytes into events and events into
bytes to send.  Adapters in ``dicomul_sync``, ``dicomul_asyncio`` and
``dicomul_trio`` bind it to sockets.  The PDU codec lives in
:mod:`dicomul.pdu`; hypothesis strategies for fuzzing in
:mod:`dicomul.testing.strategies`.
"""

from __future__ import annotations

from . import pdu
from ._buffer import DEFAULT_MAX_CONTROL_PDU_LENGTH, DEFAULT_MAX_PDATA_LENGTH, ReceiveBuffer
from ._enums import (
    AbortReason,
    AbortSource,
    ContextResult,
    ItemType,
    MessageControlHeader,
    PDUType,
    RejectReasonACSE,
    RejectReasonPresentation,
    RejectReasonUser,
    RejectResult,
    RejectSource,
    RoleValue,
    UserIdentityType,
    reject_reason_name,
)
from ._errors import (
    LocalProtocolError,
    PDUDecodeError,
    PDUTooLargeError,
    ProtocolError,
    RemoteProtocolError,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "DEFAULT_MAX_CONTROL_PDU_LENGTH",
    "DEFAULT_MAX_PDATA_LENGTH",
    "AbortReason",
    "AbortSource",
    "ContextResult",
    "ItemType",
    "LocalProtocolError",
    "MessageControlHeader",
    "PDUDecodeError",
    "PDUTooLargeError",
    "PDUType",
    "ProtocolError",
    "ReceiveBuffer",
    "RejectReasonACSE",
    "RejectReasonPresentation",
    "RejectReasonUser",
    "RejectResult",
    "RejectSource",
    "RemoteProtocolError",
    "RoleValue",
    "UserIdentityType",
    "__version__",
    "pdu",
    "reject_reason_name",
]
