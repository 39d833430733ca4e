"""The seven PDUs of the DICOM Upper Layer protocol and their codec (PS3.8 9.3).

:func:`decode` turns the bytes of exactly one whole PDU into a frozen
dataclass; :func:`encode` turns one back into bytes.  Both are pure.

Theory of operation
-------------------
*Lossless.*  Fields hold what is on the wire, reserved fields included, and
strings keep the padding the sender used; normalised ``str`` values are
offered beside them as properties (``called_aet``, ``uid``).  So for any
``data`` that :func:`decode` accepts, ``encode(decode(data)) == data``: a
packet analyser or proxy can decode and re-encode a real peer's PDUs without
changing one byte.

*Errors.*  Input that is not a PDU raises :class:`~dicomul.PDUDecodeError`
(a :class:`~dicomul.ProtocolError`) naming the offending byte offset and the
A-ABORT reason of PS3.8 Table 9-26 to answer with; never ``IndexError``,
``struct.error`` or ``UnicodeDecodeError``.  ``strict=True`` adds the checks
a receiver may skip: UID syntax (Annex F), AE title characters, odd context
IDs, reserved code values.  Building a PDU with a value that does not fit its
field raises :class:`~dicomul.LocalProtocolError`.

*Cost.*  A P-DATA-TF decodes in Python work proportional to its number of
PDVs, not its size: payloads are ``memoryview`` slices of the input, not
copies.  Encoding copies each payload once, into the output ``bytes``.
"""

from __future__ import annotations

import struct
from typing import ClassVar, TypeAlias

from ._enums import (
    REJECT_REASONS,
    AbortReason,
    AbortSource,
    ItemType,
    MessageControlHeader,
    PDUType,
    RejectResult,
    RejectSource,
)
from ._errors import LocalProtocolError
from ._items import (
    AbstractSyntaxItem,
    ApplicationContextItem,
    AsynchronousOperationsWindowSubItem,
    ImplementationClassUIDSubItem,
    ImplementationVersionNameSubItem,
    MaximumLengthSubItem,
    PresentationContextACItem,
    PresentationContextRQItem,
    RoleSelectionSubItem,
    SOPClassCommonExtendedNegotiationSubItem,
    SOPClassExtendedNegotiationSubItem,
    SubItem,
    TransferSyntaxItem,
    UnknownSubItem,
    UserIdentityACSubItem,
    UserIdentityRQSubItem,
    UserInformationItem,
    decode_application_context,
    decode_pc_ac,
    decode_pc_rq,
    decode_user_info,
    iter_items,
    misplaced,
)
from ._record import dataclass
from ._wire import (
    PDU_HEADER,
    U32,
    BytesLike,
    ae_title,
    check_bytes,
    check_uints,
    fail,
    is_valid_ae_title,
    text,
    uid,
)

__all__ = [
    "DICOM_APPLICATION_CONTEXT",
    "PDU",
    "PDU_HEADER_SIZE",
    "AbortRQ",
    "AbstractSyntaxItem",
    "ApplicationContextItem",
    "AssociateAC",
    "AssociateRJ",
    "AssociateRQ",
    "AsynchronousOperationsWindowSubItem",
    "ImplementationClassUIDSubItem",
    "ImplementationVersionNameSubItem",
    "MaximumLengthSubItem",
    "PDataTF",
    "PresentationContextACItem",
    "PresentationContextRQItem",
    "PresentationDataValue",
    "ReleaseRP",
    "ReleaseRQ",
    "RoleSelectionSubItem",
    "SOPClassCommonExtendedNegotiationSubItem",
    "SOPClassExtendedNegotiationSubItem",
    "SubItem",
    "TransferSyntaxItem",
    "UnknownSubItem",
    "UserIdentityACSubItem",
    "UserIdentityRQSubItem",
    "UserInformationItem",
    "ae_title",
    "decode",
    "encode",
    "peek_header",
    "uid",
]

#: Bytes of the PDU-type, reserved and PDU-length fields (PS3.8 9.3.1).
PDU_HEADER_SIZE = PDU_HEADER.size
#: The DICOM Application Context Name, PS3.7 Annex A.2.1.
DICOM_APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
#: Fixed fields of an A-ASSOCIATE-RQ/AC after the header (bytes 7-74).
_ASSOCIATE_FIXED = 68
#: PDV item header: Item-length (4), Presentation-context-ID (1), control header (1).
_PDV_OVERHEAD = 6
#: The Message Control Header bits as plain ints: ``int & IntFlag`` runs
#: ``IntFlag.__rand__`` in Python, on every PDV.
_COMMAND_BIT = int(MessageControlHeader.COMMAND)
_LAST_BIT = int(MessageControlHeader.LAST)


def _header(pdu_type: int, reserved: int, length: int) -> bytes:
    if length > 0xFFFFFFFF:
        raise LocalProtocolError(f"PDU of {length} bytes does not fit the four-byte PDU-length")
    return PDU_HEADER.pack(pdu_type, reserved, length)


# ------------------------------------------------------------------ A-ASSOCIATE


class _Typed:
    """Declares ``pdu_type``, the PDU-type (byte 1) of every PDU class.

    Each class sets it once defined (``AbortRQ.pdu_type = ...``), not in its
    body: mypyc, the optional compiler of the core (bench/README.md), takes
    every name annotated or assigned in a dataclass body for a field, ClassVar
    or not (mypyc issue 1122), and the instance would then refuse it.
    """

    __slots__ = ()

    pdu_type: ClassVar[PDUType]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Associate(_Typed):
    """Fields common to A-ASSOCIATE-RQ and -AC, PS3.8 Tables 9-11 and 9-17."""

    #: Bytes 11-26, Called-AE-title: 16 bytes, space padded (use :func:`ae_title`).
    called_ae_title: bytes
    #: Bytes 27-42, Calling-AE-title.
    calling_ae_title: bytes
    #: Bytes 7-8, Protocol-version: bit 0 set for version 1.
    protocol_version: int = 1
    #: Byte 2, reserved.
    header_reserved: int = 0
    #: Bytes 9-10, reserved.
    reserved_9_10: int = 0
    #: Bytes 43-74, reserved (an AC echoes the RQ's value).
    reserved_43_74: bytes = bytes(32)

    def _check_fixed(self) -> None:
        check_bytes("called_ae_title", self.called_ae_title, maximum=16, exact=16)
        check_bytes("calling_ae_title", self.calling_ae_title, maximum=16, exact=16)
        check_uints(self, protocol_version=16, header_reserved=8, reserved_9_10=16)
        check_bytes("reserved_43_74", self.reserved_43_74, maximum=32, exact=32)

    @property
    def called_aet(self) -> str:
        """Called AE title without its padding (PS3.8: spaces not significant)."""
        return text(self.called_ae_title)

    @property
    def calling_aet(self) -> str:
        """Calling AE title without its padding."""
        return text(self.calling_ae_title)

    def _encode(self, items: list[bytes]) -> bytes:
        body = b"".join(items)
        fixed = b"".join(
            (
                self.protocol_version.to_bytes(2, "big"),
                self.reserved_9_10.to_bytes(2, "big"),
                self.called_ae_title,
                self.calling_ae_title,
                self.reserved_43_74,
            )
        )
        return _header(self.pdu_type, self.header_reserved, len(fixed) + len(body)) + fixed + body


@dataclass(frozen=True, slots=True, kw_only=True)
class AssociateRQ(_Associate):
    """A-ASSOCIATE-RQ PDU, PS3.8 section 9.3.2, Table 9-11 (type 01H).

    Variable items (bytes 75-xxx): one Application Context Item, one or more
    Presentation Context Items, one User Information Item, in that order.
    """

    application_context: ApplicationContextItem
    presentation_contexts: tuple[PresentationContextRQItem, ...]
    #: None only when a peer left the item out (PS3.8 requires it).
    user_information: UserInformationItem | None

    def __post_init__(self) -> None:
        self._check_fixed()
        _check_variable(self, PresentationContextRQItem)

    def encode(self) -> bytes:
        """Encode the PDU (see :func:`encode`)."""
        return self._encode(_variable_items(self))


AssociateRQ.pdu_type = PDUType.A_ASSOCIATE_RQ


@dataclass(frozen=True, slots=True, kw_only=True)
class AssociateAC(_Associate):
    """A-ASSOCIATE-AC PDU, PS3.8 section 9.3.3, Table 9-17 (type 02H).

    Bytes 11-42 are reserved in the AC and carry back the RQ's AE titles;
    they keep the RQ's field names here.
    """

    application_context: ApplicationContextItem
    presentation_contexts: tuple[PresentationContextACItem, ...]
    user_information: UserInformationItem | None

    def __post_init__(self) -> None:
        self._check_fixed()
        _check_variable(self, PresentationContextACItem)

    def encode(self) -> bytes:
        """Encode the PDU (see :func:`encode`)."""
        return self._encode(_variable_items(self))


AssociateAC.pdu_type = PDUType.A_ASSOCIATE_AC


def _check_variable(
    pdu: AssociateRQ | AssociateAC,
    context_cls: type[PresentationContextRQItem | PresentationContextACItem],
) -> None:
    if not isinstance(pdu.application_context, ApplicationContextItem):
        raise LocalProtocolError("application_context must be an ApplicationContextItem")
    if not isinstance(pdu.presentation_contexts, tuple) or not all(
        isinstance(pc, context_cls) for pc in pdu.presentation_contexts
    ):
        raise LocalProtocolError(
            f"presentation_contexts must be a tuple of {context_cls.__name__}"
        )
    if pdu.user_information is not None and not isinstance(
        pdu.user_information, UserInformationItem
    ):
        raise LocalProtocolError("user_information must be a UserInformationItem or None")


def _variable_items(pdu: AssociateRQ | AssociateAC) -> list[bytes]:
    items = [pdu.application_context.encode()]
    items.extend(pc.encode() for pc in pdu.presentation_contexts)
    if pdu.user_information is not None:
        items.append(pdu.user_information.encode())
    return items


def _decode_associate(buf: memoryview, length: int, strict: bool) -> AssociateRQ | AssociateAC:
    if length < _ASSOCIATE_FIXED:
        raise fail(f"A-ASSOCIATE PDU-length {length} is less than its 68 fixed bytes", 2)
    pdu_type = buf[0]
    is_rq = pdu_type == PDUType.A_ASSOCIATE_RQ
    called, calling = bytes(buf[10:26]), bytes(buf[26:42])
    if strict and is_rq:
        for raw, offset in ((called, 10), (calling, 26)):
            if not is_valid_ae_title(raw):
                raise fail(f"AE title {raw!r} is empty or holds characters not allowed", offset)
    context_type = ItemType.PRESENTATION_CONTEXT_RQ if is_rq else ItemType.PRESENTATION_CONTEXT_AC
    decode_context = decode_pc_rq if is_rq else decode_pc_ac
    container = "A-ASSOCIATE-RQ" if is_rq else "A-ASSOCIATE-AC"

    # The items must come in the order of PS3.8 9.3.2: stage 0 expects the
    # application context, stage 1 presentation contexts, stage 2 nothing more.
    application_context: ApplicationContextItem | None = None
    contexts: list[PresentationContextRQItem | PresentationContextACItem] = []
    user_information: UserInformationItem | None = None
    for item_type, reserved, start, end in iter_items(buf, 6 + _ASSOCIATE_FIXED, 6 + length):
        if item_type == ItemType.APPLICATION_CONTEXT and application_context is None:
            application_context = decode_application_context(buf, reserved, start, end, strict)  # type: ignore[assignment]
        elif (
            item_type == context_type
            and application_context is not None
            and user_information is None
        ):
            contexts.append(decode_context(buf, reserved, start, end, strict))
        elif item_type == ItemType.USER_INFORMATION and contexts and user_information is None:
            user_information = decode_user_info(buf, reserved, start, end, strict)
        else:
            raise misplaced(item_type, container, start - 4)
    if application_context is None:
        raise fail(f"{container} has no application context item", 6 + _ASSOCIATE_FIXED)
    if strict and user_information is None:
        raise fail(f"{container} has no user information item", 6 + length)
    fields = {
        "called_ae_title": called,
        "calling_ae_title": calling,
        "protocol_version": int.from_bytes(buf[6:8], "big"),
        "header_reserved": buf[1],
        "reserved_9_10": int.from_bytes(buf[8:10], "big"),
        "reserved_43_74": bytes(buf[42:74]),
        "application_context": application_context,
        "presentation_contexts": tuple(contexts),
        "user_information": user_information,
    }
    return AssociateRQ(**fields) if is_rq else AssociateAC(**fields)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class AssociateRJ(_Typed):
    """A-ASSOCIATE-RJ PDU, PS3.8 section 9.3.4, Table 9-21 (type 03H).

    | 7     Reserved
    | 8     Result (:class:`~dicomul.RejectResult`)
    | 9     Source (:class:`~dicomul.RejectSource`)
    | 10    Reason/Diag. (meaning depends on the source; see
    |       :func:`~dicomul.reject_reason_name`)
    """

    result: int
    source: int
    reason: int
    header_reserved: int = 0
    reserved_7: int = 0

    def __post_init__(self) -> None:
        check_uints(self, result=8, source=8, reason=8, header_reserved=8, reserved_7=8)

    def encode(self) -> bytes:
        """Encode the PDU (see :func:`encode`)."""
        return _header(self.pdu_type, self.header_reserved, 4) + bytes(
            (self.reserved_7, self.result, self.source, self.reason)
        )


AssociateRJ.pdu_type = PDUType.A_ASSOCIATE_RJ


def _decode_rj(buf: memoryview, length: int, strict: bool) -> AssociateRJ:
    _expect_length(length, 4, "A-ASSOCIATE-RJ")
    result, source, reason = buf[7], buf[8], buf[9]
    reasons = REJECT_REASONS.get(source)
    if strict and (
        result not in RejectResult._value2member_map_
        or reasons is None
        or reason not in reasons._value2member_map_
    ):
        raise fail(
            f"A-ASSOCIATE-RJ result/source/reason {result}/{source}/{reason} is reserved", 7
        )
    return AssociateRJ(
        result=RejectResult._value2member_map_.get(result, result),  # type: ignore[arg-type]
        source=RejectSource._value2member_map_.get(source, source),  # type: ignore[arg-type]
        reason=reasons._value2member_map_.get(reason, reason) if reasons else reason,  # type: ignore[arg-type]
        header_reserved=buf[1],
        reserved_7=buf[6],
    )


# -------------------------------------------------------------------- P-DATA-TF


@dataclass(frozen=True, slots=True, kw_only=True)
class PresentationDataValue:
    """One PDV item of a P-DATA-TF, PS3.8 Table 9-23 and Annex E.

    | 1-4   Item-length (2 + the length of ``data``)
    | 5     Presentation-context-ID
    | 6     Message Control Header (:class:`~dicomul.MessageControlHeader`):
    |       bit 0 command (1) or data set (0), bit 1 last fragment
    | 7-xxx Presentation-data-value: a fragment of a command or data set
    """

    context_id: int
    control_header: int
    #: The fragment: ``bytes``, or a ``memoryview`` into the decoded PDU.
    data: BytesLike

    def __post_init__(self) -> None:
        if not 0 <= self.context_id <= 0xFF or not 0 <= self.control_header <= 0xFF:
            raise LocalProtocolError(
                f"context_id {self.context_id} and control_header {self.control_header} "
                "must each fit one byte"
            )
        if not isinstance(self.data, bytes | memoryview):
            raise LocalProtocolError(
                f"data must be bytes or memoryview, not {type(self.data).__name__}"
            )

    @property
    def is_command(self) -> bool:
        """True if the fragment holds command information (bit 0 set)."""
        return bool(self.control_header & _COMMAND_BIT)

    @property
    def is_last(self) -> bool:
        """True if the fragment is the last of its command or data set (bit 1 set)."""
        return bool(self.control_header & _LAST_BIT)

    def __repr__(self) -> str:
        return (
            f"PresentationDataValue(context_id={self.context_id}, "
            f"control_header=0x{self.control_header:02X}, data=<{len(self.data)} bytes>)"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PDataTF(_Typed):
    """P-DATA-TF PDU, PS3.8 section 9.3.5, Table 9-22 (type 04H).

    Bytes 7-xxx: one or more PDV items.
    """

    pdvs: tuple[PresentationDataValue, ...]
    header_reserved: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.pdvs, tuple) or not self.pdvs:
            raise LocalProtocolError("pdvs must be a non-empty tuple (PS3.8 9.3.5)")
        check_uints(self, header_reserved=8)

    def encode(self) -> bytes:
        """Encode the PDU, copying each payload once into the result."""
        if len(self.pdvs) == 1 and not self.header_reserved:
            (pdv,) = self.pdvs
            return pdata_header(pdv.context_id, pdv.control_header, len(pdv.data)) + pdv.data
        parts: list[BytesLike] = [b""]
        total = 0
        for pdv in self.pdvs:
            size = len(pdv.data)
            parts.append(U32.pack(size + 2) + bytes((pdv.context_id, pdv.control_header)))
            parts.append(pdv.data)
            total += size + _PDV_OVERHEAD
        parts[0] = _header(self.pdu_type, self.header_reserved, total)
        return b"".join(parts)


PDataTF.pdu_type = PDUType.P_DATA_TF


#: The header of a P-DATA-TF of one PDV: PDU-type, reserved, PDU-length,
#: then the PDV's Item-length, Presentation-context-ID and Message Control
#: Header (PS3.8 Tables 9-22 and 9-23).
_ONE_PDV_HEADER = struct.Struct(">BBLLBB")


def pdata_header(context_id: int, control_header: int, length: int) -> bytes:
    """The 12 bytes that precede ``length`` bytes of fragment in a P-DATA-TF
    of one PDV (PS3.8 9.3.5): for a sender that writes the header and the
    fragment apart, never joining them."""
    if length > 0xFFFFFFFF - _PDV_OVERHEAD:
        raise LocalProtocolError(f"PDU of {length} bytes does not fit the four-byte PDU-length")
    return _ONE_PDV_HEADER.pack(
        PDUType.P_DATA_TF, 0, length + _PDV_OVERHEAD, length + 2, context_id, control_header
    )


# Each class's own allocator, for building without the constructor's
# checks: object.__new__ itself in Python; compiled by mypyc (the optional
# build, bench/README.md), the native class's, which object.__new__ refuses.
_new_pdv = PresentationDataValue.__new__
_new_pdata = PDataTF.__new__
_set = object.__setattr__


def decode_pdata(buf: memoryview, length: int, strict: bool) -> PDataTF:
    """The P-DATA-TF whose whole PDU (header included, its PDU-length
    ``length`` already checked against ``buf``) is ``buf``, a flat memoryview:
    :func:`decode` without its checks of the header, for a framer that made
    them."""
    end = 6 + length
    if length == 0:
        raise fail("P-DATA-TF holds no PDV item (PS3.8 9.3.5 requires one or more)", 2)
    pdvs = []
    pos = 6
    while pos < end:
        if end - pos < _PDV_OVERHEAD:
            raise fail(f"{end - pos} bytes left, too few for a PDV item header", pos)
        (item_length,) = U32.unpack_from(buf, pos)
        if item_length < 2:
            raise fail(f"PDV item-length {item_length} is less than 2", pos)
        item_end = pos + 4 + item_length
        if item_end > end:
            raise fail(f"PDV item-length {item_length} overruns the PDU", pos)
        context_id = buf[pos + 4]
        if strict and context_id % 2 == 0:
            raise fail(f"PDV presentation context ID {context_id} is even", pos + 4)
        # Fields read from single bytes fit by construction: skip the
        # constructor's checks on this hot path (about half the decode time).
        pdv = _new_pdv(PresentationDataValue)
        _set(pdv, "context_id", context_id)
        _set(pdv, "control_header", buf[pos + 5])
        _set(pdv, "data", buf[pos + 6 : item_end])
        pdvs.append(pdv)
        pos = item_end
    pdata = _new_pdata(PDataTF)
    _set(pdata, "pdvs", tuple(pdvs))
    _set(pdata, "header_reserved", buf[1])
    return pdata


# ------------------------------------------------------------ release and abort


@dataclass(frozen=True, slots=True, kw_only=True)
class _Release(_Typed):
    """Fields of A-RELEASE-RQ and -RP: bytes 7-10 are reserved."""

    header_reserved: int = 0
    reserved_7_10: int = 0

    def __post_init__(self) -> None:
        check_uints(self, header_reserved=8, reserved_7_10=32)

    def encode(self) -> bytes:
        """Encode the PDU (see :func:`encode`)."""
        return _header(self.pdu_type, self.header_reserved, 4) + U32.pack(self.reserved_7_10)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseRQ(_Release):
    """A-RELEASE-RQ PDU, PS3.8 section 9.3.6, Table 9-24 (type 05H)."""


ReleaseRQ.pdu_type = PDUType.A_RELEASE_RQ


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseRP(_Release):
    """A-RELEASE-RP PDU, PS3.8 section 9.3.7, Table 9-25 (type 06H)."""


ReleaseRP.pdu_type = PDUType.A_RELEASE_RP


def _decode_release(buf: memoryview, length: int, strict: bool) -> ReleaseRQ | ReleaseRP:
    _expect_length(length, 4, "A-RELEASE")
    cls = ReleaseRQ if buf[0] == PDUType.A_RELEASE_RQ else ReleaseRP
    return cls(header_reserved=buf[1], reserved_7_10=U32.unpack_from(buf, 6)[0])


@dataclass(frozen=True, slots=True, kw_only=True)
class AbortRQ(_Typed):
    """A-ABORT PDU, PS3.8 section 9.3.8, Table 9-26 (type 07H).

    | 7-8   Reserved
    | 9     Source (:class:`~dicomul.AbortSource`)
    | 10    Reason/Diag. (:class:`~dicomul.AbortReason`; significant only
    |       when the source is the service provider)
    """

    source: int = AbortSource.SERVICE_USER
    reason: int = AbortReason.NOT_SPECIFIED
    header_reserved: int = 0
    reserved_7_8: int = 0

    def __post_init__(self) -> None:
        check_uints(self, source=8, reason=8, header_reserved=8, reserved_7_8=16)

    def encode(self) -> bytes:
        """Encode the PDU (see :func:`encode`)."""
        return (
            _header(self.pdu_type, self.header_reserved, 4)
            + self.reserved_7_8.to_bytes(2, "big")
            + bytes((self.source, self.reason))
        )


AbortRQ.pdu_type = PDUType.A_ABORT


def _decode_abort(buf: memoryview, length: int, strict: bool) -> AbortRQ:
    _expect_length(length, 4, "A-ABORT")
    source, reason = buf[8], buf[9]
    defined_sources = (AbortSource.SERVICE_USER, AbortSource.SERVICE_PROVIDER)
    if strict and (source not in defined_sources or reason not in AbortReason._value2member_map_):
        raise fail(f"A-ABORT source/reason {source}/{reason} is reserved", 8)
    return AbortRQ(
        source=AbortSource._value2member_map_.get(source, source),  # type: ignore[arg-type]
        reason=AbortReason._value2member_map_.get(reason, reason),  # type: ignore[arg-type]
        header_reserved=buf[1],
        reserved_7_8=int.from_bytes(buf[6:8], "big"),
    )


# ------------------------------------------------------------------------ codec

PDU: TypeAlias = (
    AssociateRQ | AssociateAC | AssociateRJ | PDataTF | ReleaseRQ | ReleaseRP | AbortRQ
)

_DECODERS = {
    PDUType.A_ASSOCIATE_RQ: _decode_associate,
    PDUType.A_ASSOCIATE_AC: _decode_associate,
    PDUType.A_ASSOCIATE_RJ: _decode_rj,
    PDUType.P_DATA_TF: decode_pdata,
    PDUType.A_RELEASE_RQ: _decode_release,
    PDUType.A_RELEASE_RP: _decode_release,
    PDUType.A_ABORT: _decode_abort,
}


def _expect_length(length: int, expected: int, name: str) -> None:
    if length != expected:
        raise fail(f"{name} PDU-length is {length}, not {expected}", 2)


def peek_header(data: BytesLike) -> tuple[int, int] | None:
    """Return (PDU-type, PDU-length) from the first six bytes, or None if fewer.

    Reads only the header; useful to a framer or packet analyser that must
    know how many bytes the PDU spans before it has them all.
    """
    if len(data) < PDU_HEADER_SIZE:
        return None
    pdu_type, _, length = PDU_HEADER.unpack_from(data, 0)
    return pdu_type, length


def decode(data: BytesLike, *, strict: bool = False) -> PDU:
    """Decode exactly one whole PDU.

    Parameters
    ----------
    data : bytes or memoryview
        The PDU from its PDU-type byte to its last byte, nothing more.
    strict : bool
        Also check what PS3.8 lets a receiver skip (UID and AE title syntax,
        odd context IDs, reserved codes).

    Returns
    -------
    AssociateRQ, AssociateAC, AssociateRJ, PDataTF, ReleaseRQ, ReleaseRP or AbortRQ
        A P-DATA-TF's payloads are ``memoryview`` slices of ``data``.

    Raises
    ------
    PDUDecodeError
        If ``data`` is not one valid PDU; it carries the byte offset and the
        A-ABORT reason (PS3.8 Table 9-26) to answer with.

    Examples
    --------
    >>> decode(bytes.fromhex("0500000000040000 0000"))
    ReleaseRQ(header_reserved=0, reserved_7_10=0)
    """
    if isinstance(data, memoryview):
        buf = data if data.ndim == 1 and data.itemsize == 1 else data.cast("B")
    else:
        buf = memoryview(data)
    header = peek_header(buf)
    if header is None:
        raise fail(f"{len(buf)} bytes, fewer than a PDU header", len(buf))
    pdu_type, length = header
    decoder = _DECODERS.get(pdu_type)  # type: ignore[call-overload]
    if decoder is None:
        raise fail(f"unrecognised PDU type 0x{pdu_type:02X}", 0, AbortReason.UNRECOGNIZED_PDU)
    if len(buf) != PDU_HEADER_SIZE + length:
        what = "truncated" if len(buf) < PDU_HEADER_SIZE + length else "followed by trailing bytes"
        raise fail(
            f"PDU-length says {length} bytes but {len(buf) - PDU_HEADER_SIZE} are given ({what})",
            min(len(buf), PDU_HEADER_SIZE + length),
        )
    return decoder(buf, length, strict)  # type: ignore[no-any-return]


def encode(pdu: PDU) -> bytes:
    """Encode a PDU to bytes (PS3.8 9.3).

    Raises
    ------
    LocalProtocolError
        If ``pdu`` is not a PDU, or a length does not fit its field.

    Examples
    --------
    >>> encode(AbortRQ(source=2, reason=6)).hex()
    '07000000000400000206'
    """
    if not isinstance(pdu, _PDU_CLASSES):
        raise LocalProtocolError(f"cannot encode {type(pdu).__name__}: not a PDU")
    return pdu.encode()


_PDU_CLASSES = (AssociateRQ, AssociateAC, AssociateRJ, PDataTF, ReleaseRQ, ReleaseRP, AbortRQ)
