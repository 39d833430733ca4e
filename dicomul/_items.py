"""Variable items and sub-items of the A-ASSOCIATE PDUs.

PS3.8 sections 9.3.2 and 9.3.3 define the items (application context,
presentation context, user information) and the abstract and transfer syntax
sub-items; PS3.8 Annex D and PS3.7 Annex D.3.3 define the user information
sub-items.

Conventions
-----------
* Every item is a frozen, slotted, keyword-only dataclass whose fields are the
  values on the wire: strings are ``bytes`` exactly as received (with whatever
  padding the peer used), coded fields are ``int`` (an ``IntEnum`` member when
  the value is one the standard names).  A read-only property beside each
  string gives the normalised ``str`` (for example :attr:`AbstractSyntaxItem.uid`).
* Reserved fields are kept too (``header_reserved`` and ``reserved_*`` named by
  the standard's byte numbers), so decoding then encoding any accepted input
  gives back the same bytes.
* Unknown user-information sub-items are kept as :class:`UnknownSubItem`.

Decoders take a ``memoryview`` of the whole PDU and absolute offsets, so a
:class:`~dicomul.PDUDecodeError` names the byte at which the PDU is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import ClassVar, TypeAlias, TypeVar

from ._enums import AbortReason, ContextResult, ItemType, RoleValue, UserIdentityType
from ._errors import LocalProtocolError
from ._record import dataclass
from ._wire import (
    ITEM_HEADER,
    U16,
    U32,
    check_bytes,
    check_uints,
    fail,
    is_valid_uid,
    text,
)

__all__ = [
    "AbstractSyntaxItem",
    "ApplicationContextItem",
    "AsynchronousOperationsWindowSubItem",
    "ImplementationClassUIDSubItem",
    "ImplementationVersionNameSubItem",
    "MaximumLengthSubItem",
    "PresentationContextACItem",
    "PresentationContextRQItem",
    "RoleSelectionSubItem",
    "SOPClassCommonExtendedNegotiationSubItem",
    "SOPClassExtendedNegotiationSubItem",
    "SubItem",
    "TransferSyntaxItem",
    "UnknownSubItem",
    "UserIdentityACSubItem",
    "UserIdentityRQSubItem",
    "UserInformationItem",
]

_MAX_ITEM = 0xFFFF  # item-length is two bytes (PS3.8 Table 9-12)

_T = TypeVar("_T")


def _item(item_type: int, reserved: int, body: bytes) -> bytes:
    """Prefix ``body`` with an item header, refusing a body the length cannot hold."""
    if len(body) > _MAX_ITEM:
        raise LocalProtocolError(
            f"item 0x{item_type:02X} would be {len(body)} bytes long, "
            f"more than the two-byte item-length allows ({_MAX_ITEM})"
        )
    return ITEM_HEADER.pack(item_type, reserved, len(body)) + body


def _known(enum: type[ContextResult | RoleValue | UserIdentityType], value: int) -> int:
    """Return the enum member for ``value`` if the standard names it, else ``value``."""
    return enum._value2member_map_.get(value, value)  # type: ignore[return-value]


def iter_items(buf: memoryview, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """Split ``buf[start:end]`` into items: yield (type, reserved, value start, value end).

    Raises PDUDecodeError for a truncated header or an item-length that overruns
    its container.
    """
    pos = start
    while pos < end:
        if end - pos < ITEM_HEADER.size:
            raise fail(f"{end - pos} trailing bytes, too few for an item header", pos)
        item_type, reserved, length = ITEM_HEADER.unpack_from(buf, pos)
        value_end = pos + ITEM_HEADER.size + length
        if value_end > end:
            raise fail(
                f"item 0x{item_type:02X} announces {length} bytes but only "
                f"{end - pos - ITEM_HEADER.size} remain",
                pos + 2,
            )
        yield item_type, reserved, pos + ITEM_HEADER.size, value_end
        pos = value_end


def _check_strict_uid(raw: bytes, what: str, offset: int, strict: bool) -> None:
    if strict and not is_valid_uid(raw):
        raise fail(f"{what} {raw!r} is not a UID as PS3.8 Annex F requires", offset)


# ---------------------------------------------------------------- UID-only items


class _Typed:
    """Declares ``item_type``, the item-type (byte 1) of every item class
    but :class:`UnknownSubItem` (whose item-type is a field).

    Each class sets it once defined (``ApplicationContextItem.item_type =
    ...``), not in its body: mypyc, the optional compiler of the core
    (bench/README.md), takes every name annotated or assigned in a dataclass
    body for a field, ClassVar or not (mypyc issue 1122), and the instance
    would then refuse it.
    """

    __slots__ = ()

    item_type: ClassVar[ItemType]


@dataclass(frozen=True, slots=True, kw_only=True)
class _UIDItem(_Typed):
    """Base of the items whose value is a single UID (or name)."""

    #: The UID as on the wire (normally unpadded; some peers add a NUL).
    name: bytes
    #: Byte 2 of the item header, reserved (PS3.8: sent as 00H, not tested).
    header_reserved: int = 0

    def __post_init__(self) -> None:
        check_bytes("name", self.name, maximum=_MAX_ITEM)
        check_uints(self, header_reserved=8)

    @property
    def uid(self) -> str:
        """The UID without padding."""
        return text(self.name)

    def encode(self) -> bytes:
        """Encode the item with its header."""
        return _item(self.item_type, self.header_reserved, bytes(self.name))


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplicationContextItem(_UIDItem):
    """Application Context Item, PS3.8 Table 9-12 (item-type 10H).

    Bytes 5-xxx: Application-context-name, a UID (PS3.8 Annex F); DICOM has
    one, 1.2.840.10008.3.1.1.1 (PS3.7 Annex A.2.1).
    """


ApplicationContextItem.item_type = ItemType.APPLICATION_CONTEXT


@dataclass(frozen=True, slots=True, kw_only=True)
class AbstractSyntaxItem(_UIDItem):
    """Abstract Syntax Sub-Item, PS3.8 Table 9-14 (item-type 30H).

    Bytes 5-xxx: Abstract-syntax-name, the SOP class UID proposed.
    """


AbstractSyntaxItem.item_type = ItemType.ABSTRACT_SYNTAX


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferSyntaxItem(_UIDItem):
    """Transfer Syntax Sub-Item, PS3.8 Tables 9-15 and 9-19 (item-type 40H).

    Bytes 5-xxx: Transfer-syntax-name, a transfer syntax UID (PS3.5 Annex A).
    """


TransferSyntaxItem.item_type = ItemType.TRANSFER_SYNTAX


@dataclass(frozen=True, slots=True, kw_only=True)
class ImplementationClassUIDSubItem(_UIDItem):
    """Implementation Class UID Sub-Item, PS3.7 Tables D.3-1 and D.3-2 (52H).

    Bytes 5-xxx: Implementation-class-uid of the sender.
    """


ImplementationClassUIDSubItem.item_type = ItemType.IMPLEMENTATION_CLASS_UID


@dataclass(frozen=True, slots=True, kw_only=True)
class ImplementationVersionNameSubItem(_UIDItem):
    """Implementation Version Name Sub-Item, PS3.7 Tables D.3-3 and D.3-4 (55H).

    Bytes 5-xxx: Implementation-version-name, 1 to 16 ISO 646 characters.
    """

    @property
    def version_name(self) -> str:
        """The version name without padding."""
        return text(self.name)


ImplementationVersionNameSubItem.item_type = ItemType.IMPLEMENTATION_VERSION_NAME


def _decode_uid_item(
    cls: type[_UIDItem],
) -> Callable[[memoryview, int, int, int, bool], _UIDItem]:
    def decode(buf: memoryview, reserved: int, start: int, end: int, strict: bool) -> _UIDItem:
        raw = bytes(buf[start:end])
        if cls is ImplementationVersionNameSubItem:
            if strict and not 1 <= len(raw) <= 16:
                raise fail(f"implementation version name of {len(raw)} bytes (1 to 16)", start)
        else:
            _check_strict_uid(raw, cls.__name__, start, strict)
        return cls(name=raw, header_reserved=reserved)

    return decode


# ---------------------------------------------------------- presentation context


@dataclass(frozen=True, slots=True, kw_only=True)
class PresentationContextRQItem(_Typed):
    """Presentation Context Item of an A-ASSOCIATE-RQ, PS3.8 Table 9-13 (20H).

    | 5     Presentation-context-ID (odd, 1 to 255)
    | 6-8   Reserved
    | 9-xxx one Abstract Syntax Sub-Item, then one or more Transfer Syntax Sub-Items
    """

    context_id: int
    abstract_syntax: AbstractSyntaxItem
    transfer_syntaxes: tuple[TransferSyntaxItem, ...]
    header_reserved: int = 0
    #: Bytes 6-8, reserved.
    reserved_6_8: bytes = b"\x00\x00\x00"

    def __post_init__(self) -> None:
        check_uints(self, context_id=8, header_reserved=8)
        check_bytes("reserved_6_8", self.reserved_6_8, maximum=3, exact=3)
        if not isinstance(self.abstract_syntax, AbstractSyntaxItem):
            raise LocalProtocolError("abstract_syntax must be an AbstractSyntaxItem")
        if not isinstance(self.transfer_syntaxes, tuple) or not all(
            isinstance(ts, TransferSyntaxItem) for ts in self.transfer_syntaxes
        ):
            raise LocalProtocolError("transfer_syntaxes must be a tuple of TransferSyntaxItem")

    @property
    def abstract_syntax_uid(self) -> str:
        """The proposed abstract syntax (SOP class) UID, normalised."""
        return self.abstract_syntax.uid

    @property
    def transfer_syntax_uids(self) -> tuple[str, ...]:
        """The proposed transfer syntax UIDs, normalised, in the proposer's order."""
        return tuple(ts.uid for ts in self.transfer_syntaxes)

    def encode(self) -> bytes:
        """Encode the item with its header and sub-items."""
        body = [bytes([self.context_id]), self.reserved_6_8, self.abstract_syntax.encode()]
        body.extend(ts.encode() for ts in self.transfer_syntaxes)
        return _item(self.item_type, self.header_reserved, b"".join(body))


PresentationContextRQItem.item_type = ItemType.PRESENTATION_CONTEXT_RQ


def decode_pc_rq(
    buf: memoryview, reserved: int, start: int, end: int, strict: bool
) -> PresentationContextRQItem:
    if end - start < 4:
        raise fail("presentation context item shorter than its 4 fixed bytes", start)
    context_id = buf[start]
    if strict and context_id % 2 == 0:
        raise fail(f"presentation context ID {context_id} is even (PS3.8 9.3.2.2)", start)
    abstract: AbstractSyntaxItem | None = None
    transfers: list[TransferSyntaxItem] = []
    for sub_type, sub_reserved, vstart, vend in iter_items(buf, start + 4, end):
        if sub_type == ItemType.ABSTRACT_SYNTAX and abstract is None and not transfers:
            raw = bytes(buf[vstart:vend])
            _check_strict_uid(raw, "abstract syntax", vstart, strict)
            abstract = AbstractSyntaxItem(name=raw, header_reserved=sub_reserved)
        elif sub_type == ItemType.TRANSFER_SYNTAX and abstract is not None:
            raw = bytes(buf[vstart:vend])
            _check_strict_uid(raw, "transfer syntax", vstart, strict)
            transfers.append(TransferSyntaxItem(name=raw, header_reserved=sub_reserved))
        else:
            raise misplaced(sub_type, "presentation context (RQ) item", vstart - 4)
    if abstract is None:
        raise fail(
            f"presentation context {context_id} has no abstract syntax sub-item",
            start,
            AbortReason.INVALID_PDU_PARAMETER_VALUE,
        )
    if strict and not transfers:
        raise fail(f"presentation context {context_id} proposes no transfer syntax", start)
    return PresentationContextRQItem(
        context_id=context_id,
        abstract_syntax=abstract,
        transfer_syntaxes=tuple(transfers),
        header_reserved=reserved,
        reserved_6_8=bytes(buf[start + 1 : start + 4]),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class PresentationContextACItem(_Typed):
    """Presentation Context Item of an A-ASSOCIATE-AC, PS3.8 Table 9-18 (21H).

    | 5     Presentation-context-ID
    | 6     Reserved
    | 7     Result/Reason (:class:`~dicomul.ContextResult`)
    | 8     Reserved
    | 9-xxx one Transfer Syntax Sub-Item (not significant unless accepted)

    ``transfer_syntax`` is None when a peer leaves the sub-item out of a
    rejected context, which some do.
    """

    context_id: int
    result: int
    transfer_syntax: TransferSyntaxItem | None
    header_reserved: int = 0
    reserved_6: int = 0
    reserved_8: int = 0

    def __post_init__(self) -> None:
        check_uints(self, context_id=8, result=8, header_reserved=8, reserved_6=8, reserved_8=8)
        if self.transfer_syntax is not None and not isinstance(
            self.transfer_syntax, TransferSyntaxItem
        ):
            raise LocalProtocolError("transfer_syntax must be a TransferSyntaxItem or None")

    @property
    def transfer_syntax_uid(self) -> str | None:
        """The accepted transfer syntax UID, normalised, or None without the sub-item."""
        return None if self.transfer_syntax is None else self.transfer_syntax.uid

    def encode(self) -> bytes:
        """Encode the item with its header and sub-item."""
        body = bytes((self.context_id, self.reserved_6, self.result, self.reserved_8))
        if self.transfer_syntax is not None:
            body += self.transfer_syntax.encode()
        return _item(self.item_type, self.header_reserved, body)


PresentationContextACItem.item_type = ItemType.PRESENTATION_CONTEXT_AC


def decode_pc_ac(
    buf: memoryview, reserved: int, start: int, end: int, strict: bool
) -> PresentationContextACItem:
    if end - start < 4:
        raise fail("presentation context item shorter than its 4 fixed bytes", start)
    result = buf[start + 2]
    if strict and result not in ContextResult._value2member_map_:
        raise fail(f"presentation context result {result} is reserved", start + 2)
    transfer: TransferSyntaxItem | None = None
    for sub_type, sub_reserved, vstart, vend in iter_items(buf, start + 4, end):
        if sub_type != ItemType.TRANSFER_SYNTAX or transfer is not None:
            raise misplaced(sub_type, "presentation context (AC) item", vstart - 4)
        raw = bytes(buf[vstart:vend])
        if result == ContextResult.ACCEPTANCE:
            _check_strict_uid(raw, "transfer syntax", vstart, strict)
        transfer = TransferSyntaxItem(name=raw, header_reserved=sub_reserved)
    if strict and transfer is None and result == ContextResult.ACCEPTANCE:
        raise fail("accepted presentation context without a transfer syntax", start)
    return PresentationContextACItem(
        context_id=buf[start],
        result=_known(ContextResult, result),
        transfer_syntax=transfer,
        header_reserved=reserved,
        reserved_6=buf[start + 1],
        reserved_8=buf[start + 3],
    )


# ------------------------------------------------------ user information sub-items


@dataclass(frozen=True, slots=True, kw_only=True)
class MaximumLengthSubItem(_Typed):
    """Maximum Length Sub-Item, PS3.8 Annex D.1, Tables D.1-1 and D.1-2 (51H).

    | 5-8   Maximum-length-received: the largest P-DATA-TF variable field the
    |       sender will receive; 0 means no limit.
    """

    maximum_length: int
    header_reserved: int = 0

    def __post_init__(self) -> None:
        check_uints(self, maximum_length=32, header_reserved=8)

    def encode(self) -> bytes:
        """Encode the sub-item with its header."""
        return _item(self.item_type, self.header_reserved, U32.pack(self.maximum_length))


MaximumLengthSubItem.item_type = ItemType.MAXIMUM_LENGTH


def _decode_max_length(
    buf: memoryview, reserved: int, start: int, end: int, strict: bool
) -> MaximumLengthSubItem:
    if end - start != 4:
        raise fail(f"maximum length sub-item of {end - start} bytes (must be 4)", start - 2)
    return MaximumLengthSubItem(
        maximum_length=U32.unpack_from(buf, start)[0], header_reserved=reserved
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AsynchronousOperationsWindowSubItem(_Typed):
    """Asynchronous Operations Window Sub-Item, PS3.7 Tables D.3-7 and D.3-8 (53H).

    | 5-6   Maximum-number-operations-invoked (0 means unlimited)
    | 7-8   Maximum-number-operations-performed (0 means unlimited)
    """

    max_operations_invoked: int
    max_operations_performed: int
    header_reserved: int = 0

    def __post_init__(self) -> None:
        check_uints(
            self, max_operations_invoked=16, max_operations_performed=16, header_reserved=8
        )

    def encode(self) -> bytes:
        """Encode the sub-item with its header."""
        body = U16.pack(self.max_operations_invoked) + U16.pack(self.max_operations_performed)
        return _item(self.item_type, self.header_reserved, body)


AsynchronousOperationsWindowSubItem.item_type = ItemType.ASYNCHRONOUS_OPERATIONS_WINDOW


def _decode_async_window(
    buf: memoryview, reserved: int, start: int, end: int, strict: bool
) -> AsynchronousOperationsWindowSubItem:
    if end - start != 4:
        raise fail(f"asynchronous operations window of {end - start} bytes (must be 4)", start - 2)
    return AsynchronousOperationsWindowSubItem(
        max_operations_invoked=U16.unpack_from(buf, start)[0],
        max_operations_performed=U16.unpack_from(buf, start + 2)[0],
        header_reserved=reserved,
    )


def _read_uid_field(buf: memoryview, pos: int, end: int, what: str) -> tuple[bytes, int]:
    """Read a two-byte length then that many bytes; return (value, next offset)."""
    if end - pos < 2:
        raise fail(f"{what} length field is truncated", pos)
    (length,) = U16.unpack_from(buf, pos)
    if pos + 2 + length > end:
        raise fail(f"{what} length {length} overruns its sub-item", pos)
    return bytes(buf[pos + 2 : pos + 2 + length]), pos + 2 + length


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleSelectionSubItem(_Typed):
    """SCP/SCU Role Selection Sub-Item, PS3.7 Tables D.3-9 and D.3-10 (54H).

    | 5-6   UID-length
    | 7-xxx SOP-class-uid
    | xxx   SCU-role (:class:`~dicomul.RoleValue`)
    | xxx   SCP-role
    """

    sop_class_uid: bytes
    scu_role: int
    scp_role: int
    header_reserved: int = 0

    def __post_init__(self) -> None:
        check_bytes("sop_class_uid", self.sop_class_uid, maximum=_MAX_ITEM - 4)
        check_uints(self, scu_role=8, scp_role=8, header_reserved=8)

    @property
    def sop_class(self) -> str:
        """The SOP class UID, normalised."""
        return text(self.sop_class_uid)

    def encode(self) -> bytes:
        """Encode the sub-item with its header."""
        body = (
            U16.pack(len(self.sop_class_uid))
            + self.sop_class_uid
            + bytes((self.scu_role, self.scp_role))
        )
        return _item(self.item_type, self.header_reserved, body)


RoleSelectionSubItem.item_type = ItemType.ROLE_SELECTION


def _decode_role(
    buf: memoryview, reserved: int, start: int, end: int, strict: bool
) -> RoleSelectionSubItem:
    uid, pos = _read_uid_field(buf, start, end, "role selection SOP class UID")
    if end - pos != 2:
        raise fail(f"role selection sub-item has {end - pos} bytes after its UID (must be 2)", pos)
    _check_strict_uid(uid, "role selection SOP class", start + 2, strict)
    scu, scp = buf[pos], buf[pos + 1]
    if strict and (scu > 1 or scp > 1):
        raise fail(f"role values {scu}/{scp} are not 0 or 1", pos)
    return RoleSelectionSubItem(
        sop_class_uid=uid,
        scu_role=_known(RoleValue, scu),
        scp_role=_known(RoleValue, scp),
        header_reserved=reserved,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SOPClassExtendedNegotiationSubItem(_Typed):
    """SOP Class Extended Negotiation Sub-Item, PS3.7 Table D.3-11 (56H).

    | 5-6   SOP-class-uid-length
    | 7-xxx SOP-class-uid
    | xxx   Service-class-application-information (PS3.4 defines it per class)
    """

    sop_class_uid: bytes
    service_class_application_information: bytes
    header_reserved: int = 0

    def __post_init__(self) -> None:
        check_bytes("sop_class_uid", self.sop_class_uid, maximum=_MAX_ITEM - 2)
        check_bytes(
            "service_class_application_information",
            self.service_class_application_information,
            maximum=_MAX_ITEM - 2,
        )
        check_uints(self, header_reserved=8)

    @property
    def sop_class(self) -> str:
        """The SOP class UID, normalised."""
        return text(self.sop_class_uid)

    def encode(self) -> bytes:
        """Encode the sub-item with its header."""
        body = (
            U16.pack(len(self.sop_class_uid))
            + self.sop_class_uid
            + self.service_class_application_information
        )
        return _item(self.item_type, self.header_reserved, body)


SOPClassExtendedNegotiationSubItem.item_type = ItemType.SOP_CLASS_EXTENDED_NEGOTIATION


def _decode_ext_neg(
    buf: memoryview, reserved: int, start: int, end: int, strict: bool
) -> SOPClassExtendedNegotiationSubItem:
    uid, pos = _read_uid_field(buf, start, end, "extended negotiation SOP class UID")
    _check_strict_uid(uid, "extended negotiation SOP class", start + 2, strict)
    return SOPClassExtendedNegotiationSubItem(
        sop_class_uid=uid,
        service_class_application_information=bytes(buf[pos:end]),
        header_reserved=reserved,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SOPClassCommonExtendedNegotiationSubItem(_Typed):
    """SOP Class Common Extended Negotiation Sub-Item, PS3.7 Table D.3-12 (57H).

    | 2     Sub-item-version (kept in ``header_reserved``; 00H)
    | 5-6   SOP-class-uid-length, then SOP-class-uid
    | xxx   Service-class-uid-length, then Service-class-uid
    | xxx   Related-general-sop-class-identification-length, then that many
    |       bytes of (2-byte length, related general SOP class UID) pairs
    """

    sop_class_uid: bytes
    service_class_uid: bytes
    related_general_sop_class_uids: tuple[bytes, ...] = ()
    header_reserved: int = 0

    def __post_init__(self) -> None:
        check_bytes("sop_class_uid", self.sop_class_uid, maximum=_MAX_ITEM)
        check_bytes("service_class_uid", self.service_class_uid, maximum=_MAX_ITEM)
        if not isinstance(self.related_general_sop_class_uids, tuple):
            raise LocalProtocolError("related_general_sop_class_uids must be a tuple of bytes")
        for related in self.related_general_sop_class_uids:
            check_bytes("related general SOP class UID", related, maximum=_MAX_ITEM)
        check_uints(self, header_reserved=8)

    @property
    def sop_class(self) -> str:
        """The SOP class UID, normalised."""
        return text(self.sop_class_uid)

    @property
    def service_class(self) -> str:
        """The service class UID, normalised."""
        return text(self.service_class_uid)

    @property
    def related_general_sop_classes(self) -> tuple[str, ...]:
        """The related general SOP class UIDs, normalised."""
        return tuple(text(raw) for raw in self.related_general_sop_class_uids)

    def encode(self) -> bytes:
        """Encode the sub-item with its header."""
        related = b"".join(U16.pack(len(r)) + r for r in self.related_general_sop_class_uids)
        if len(related) > _MAX_ITEM:
            raise LocalProtocolError("related general SOP class identification is too long")
        body = b"".join(
            (
                U16.pack(len(self.sop_class_uid)),
                self.sop_class_uid,
                U16.pack(len(self.service_class_uid)),
                self.service_class_uid,
                U16.pack(len(related)),
                related,
            )
        )
        return _item(self.item_type, self.header_reserved, body)


SOPClassCommonExtendedNegotiationSubItem.item_type = ItemType.SOP_CLASS_COMMON_EXTENDED_NEGOTIATION


def _decode_common_ext_neg(
    buf: memoryview, reserved: int, start: int, end: int, strict: bool
) -> SOPClassCommonExtendedNegotiationSubItem:
    what = "common extended negotiation"
    sop_class, pos = _read_uid_field(buf, start, end, f"{what} SOP class UID")
    _check_strict_uid(sop_class, f"{what} SOP class", start + 2, strict)
    service_start = pos
    service_class, pos = _read_uid_field(buf, pos, end, f"{what} service class UID")
    _check_strict_uid(service_class, f"{what} service class", service_start + 2, strict)
    related_block, pos = _read_uid_field(buf, pos, end, f"{what} related SOP classes")
    if pos != end:
        raise fail(f"{end - pos} bytes after the related general SOP classes of a {what}", pos)
    related: list[bytes] = []
    block_end = pos
    rpos = block_end - len(related_block)
    while rpos < block_end:
        value, next_pos = _read_uid_field(buf, rpos, block_end, "related general SOP class UID")
        _check_strict_uid(value, "related general SOP class", rpos + 2, strict)
        related.append(value)
        rpos = next_pos
    return SOPClassCommonExtendedNegotiationSubItem(
        sop_class_uid=sop_class,
        service_class_uid=service_class,
        related_general_sop_class_uids=tuple(related),
        header_reserved=reserved,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class UserIdentityRQSubItem(_Typed):
    """User Identity Negotiation Sub-Item (A-ASSOCIATE-RQ), PS3.7 Table D.3-14 (58H).

    | 5     User-Identity-Type (:class:`~dicomul.UserIdentityType`)
    | 6     Positive-response-requested (1 asks for a server response)
    | 7-8   Primary-field-length, then Primary-field (username, Kerberos
    |       ticket, SAML assertion or JSON web token)
    | xxx   Secondary-field-length, then Secondary-field (passcode, type 2 only)
    """

    identity_type: int
    positive_response_requested: int
    primary_field: bytes
    secondary_field: bytes = b""
    header_reserved: int = 0

    def __post_init__(self) -> None:
        check_uints(self, identity_type=8, positive_response_requested=8)
        check_bytes("primary_field", self.primary_field, maximum=_MAX_ITEM - 6)
        check_bytes("secondary_field", self.secondary_field, maximum=_MAX_ITEM - 6)
        check_uints(self, header_reserved=8)

    def encode(self) -> bytes:
        """Encode the sub-item with its header."""
        body = b"".join(
            (
                bytes((self.identity_type, self.positive_response_requested)),
                U16.pack(len(self.primary_field)),
                self.primary_field,
                U16.pack(len(self.secondary_field)),
                self.secondary_field,
            )
        )
        return _item(self.item_type, self.header_reserved, body)


UserIdentityRQSubItem.item_type = ItemType.USER_IDENTITY_RQ


def _decode_user_identity_rq(
    buf: memoryview, reserved: int, start: int, end: int, strict: bool
) -> UserIdentityRQSubItem:
    if end - start < 2:
        raise fail("user identity sub-item shorter than its fixed fields", start)
    identity_type, positive = buf[start], buf[start + 1]
    if strict and identity_type not in UserIdentityType._value2member_map_:
        raise fail(f"user identity type {identity_type} is reserved", start)
    primary, pos = _read_uid_field(buf, start + 2, end, "user identity primary field")
    secondary, pos = _read_uid_field(buf, pos, end, "user identity secondary field")
    if pos != end:
        raise fail(f"{end - pos} bytes after the user identity secondary field", pos)
    return UserIdentityRQSubItem(
        identity_type=_known(UserIdentityType, identity_type),
        positive_response_requested=positive,
        primary_field=primary,
        secondary_field=secondary,
        header_reserved=reserved,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class UserIdentityACSubItem(_Typed):
    """User Identity Negotiation Sub-Item (A-ASSOCIATE-AC), PS3.7 Table D.3-15 (59H).

    | 5-6   Server-response-length, then Server-response (a Kerberos server
    |       ticket, a SAML response or a JSON web token; empty otherwise)
    """

    server_response: bytes
    header_reserved: int = 0

    def __post_init__(self) -> None:
        check_bytes("server_response", self.server_response, maximum=_MAX_ITEM - 2)
        check_uints(self, header_reserved=8)

    def encode(self) -> bytes:
        """Encode the sub-item with its header."""
        body = U16.pack(len(self.server_response)) + self.server_response
        return _item(self.item_type, self.header_reserved, body)


UserIdentityACSubItem.item_type = ItemType.USER_IDENTITY_AC


def _decode_user_identity_ac(
    buf: memoryview, reserved: int, start: int, end: int, strict: bool
) -> UserIdentityACSubItem:
    response, pos = _read_uid_field(buf, start, end, "user identity server response")
    if pos != end:
        raise fail(f"{end - pos} bytes after the user identity server response", pos)
    return UserIdentityACSubItem(server_response=response, header_reserved=reserved)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownSubItem:
    """A user information sub-item of a type dicomul does not know, kept verbatim.

    PS3.7 D.3.3 lets later editions and private implementations add
    sub-items; a receiver keeps them so that nothing is lost on re-encoding.
    """

    item_type: int
    data: bytes
    header_reserved: int = 0

    def __post_init__(self) -> None:
        check_uints(self, item_type=8)
        if self.item_type in _SUB_ITEM_DECODERS:
            raise LocalProtocolError(
                f"sub-item type 0x{self.item_type:02X} is known; use its own class"
            )
        check_bytes("data", self.data, maximum=_MAX_ITEM)
        check_uints(self, header_reserved=8)

    def encode(self) -> bytes:
        """Encode the sub-item with its header."""
        return _item(self.item_type, self.header_reserved, self.data)


SubItem: TypeAlias = (
    MaximumLengthSubItem
    | ImplementationClassUIDSubItem
    | AsynchronousOperationsWindowSubItem
    | RoleSelectionSubItem
    | ImplementationVersionNameSubItem
    | SOPClassExtendedNegotiationSubItem
    | SOPClassCommonExtendedNegotiationSubItem
    | UserIdentityRQSubItem
    | UserIdentityACSubItem
    | UnknownSubItem
)

_SUB_ITEM_DECODERS: dict[int, Callable[[memoryview, int, int, int, bool], SubItem]] = {
    ItemType.MAXIMUM_LENGTH: _decode_max_length,
    ItemType.IMPLEMENTATION_CLASS_UID: _decode_uid_item(ImplementationClassUIDSubItem),  # type: ignore[dict-item]
    ItemType.ASYNCHRONOUS_OPERATIONS_WINDOW: _decode_async_window,
    ItemType.ROLE_SELECTION: _decode_role,
    ItemType.IMPLEMENTATION_VERSION_NAME: _decode_uid_item(ImplementationVersionNameSubItem),  # type: ignore[dict-item]
    ItemType.SOP_CLASS_EXTENDED_NEGOTIATION: _decode_ext_neg,
    ItemType.SOP_CLASS_COMMON_EXTENDED_NEGOTIATION: _decode_common_ext_neg,
    ItemType.USER_IDENTITY_RQ: _decode_user_identity_rq,
    ItemType.USER_IDENTITY_AC: _decode_user_identity_ac,
}

_SUB_ITEM_CLASSES = (
    MaximumLengthSubItem,
    ImplementationClassUIDSubItem,
    AsynchronousOperationsWindowSubItem,
    RoleSelectionSubItem,
    ImplementationVersionNameSubItem,
    SOPClassExtendedNegotiationSubItem,
    SOPClassCommonExtendedNegotiationSubItem,
    UserIdentityRQSubItem,
    UserIdentityACSubItem,
    UnknownSubItem,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class UserInformationItem(_Typed):
    """User Information Item, PS3.8 Table 9-16 and Annex D (50H).

    Holds its sub-items in the order received.  The properties pick out the
    ones PS3.7 Annex D defines; unknown sub-items stay in :attr:`sub_items`.
    """

    sub_items: tuple[SubItem, ...]
    header_reserved: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.sub_items, tuple) or not all(
            isinstance(sub, _SUB_ITEM_CLASSES) for sub in self.sub_items
        ):
            raise LocalProtocolError("sub_items must be a tuple of user information sub-items")
        check_uints(self, header_reserved=8)

    def _first(self, cls: type[_T]) -> _T | None:
        for sub in self.sub_items:
            if isinstance(sub, cls):
                return sub
        return None

    def _all(self, cls: type[_T]) -> tuple[_T, ...]:
        return tuple(sub for sub in self.sub_items if isinstance(sub, cls))

    @property
    def maximum_length(self) -> int | None:
        """Maximum-length-received (0 means unlimited), or None if absent."""
        sub = self._first(MaximumLengthSubItem)
        return None if sub is None else sub.maximum_length

    @property
    def implementation_class_uid(self) -> str | None:
        """The sender's implementation class UID, normalised, or None."""
        sub = self._first(ImplementationClassUIDSubItem)
        return None if sub is None else sub.uid

    @property
    def implementation_version_name(self) -> str | None:
        """The sender's implementation version name, normalised, or None."""
        sub = self._first(ImplementationVersionNameSubItem)
        return None if sub is None else sub.version_name

    @property
    def asynchronous_operations_window(self) -> AsynchronousOperationsWindowSubItem | None:
        """The asynchronous operations window sub-item, or None."""
        return self._first(AsynchronousOperationsWindowSubItem)

    @property
    def role_selections(self) -> tuple[RoleSelectionSubItem, ...]:
        """Every SCP/SCU role selection sub-item, in order."""
        return self._all(RoleSelectionSubItem)

    @property
    def extended_negotiations(self) -> tuple[SOPClassExtendedNegotiationSubItem, ...]:
        """Every SOP class extended negotiation sub-item, in order."""
        return self._all(SOPClassExtendedNegotiationSubItem)

    @property
    def common_extended_negotiations(
        self,
    ) -> tuple[SOPClassCommonExtendedNegotiationSubItem, ...]:
        """Every SOP class common extended negotiation sub-item, in order."""
        return self._all(SOPClassCommonExtendedNegotiationSubItem)

    @property
    def user_identity(self) -> UserIdentityRQSubItem | UserIdentityACSubItem | None:
        """The user identity sub-item (RQ or AC form), or None."""
        return self._first(UserIdentityRQSubItem) or self._first(UserIdentityACSubItem)

    def encode(self) -> bytes:
        """Encode the item with its header and sub-items."""
        body = b"".join(sub.encode() for sub in self.sub_items)
        return _item(self.item_type, self.header_reserved, body)


UserInformationItem.item_type = ItemType.USER_INFORMATION


def decode_user_info(
    buf: memoryview, reserved: int, start: int, end: int, strict: bool
) -> UserInformationItem:
    subs: list[SubItem] = []
    for sub_type, sub_reserved, vstart, vend in iter_items(buf, start, end):
        decoder = _SUB_ITEM_DECODERS.get(sub_type)
        if decoder is None:
            subs.append(
                UnknownSubItem(
                    item_type=sub_type, data=bytes(buf[vstart:vend]), header_reserved=sub_reserved
                )
            )
        else:
            subs.append(decoder(buf, sub_reserved, vstart, vend, strict))
    return UserInformationItem(sub_items=tuple(subs), header_reserved=reserved)


def misplaced(item_type: int, container: str, offset: int) -> Exception:
    """The error for an item that is unknown, repeated or out of order in ``container``."""
    if item_type in ItemType._value2member_map_:
        return fail(
            f"{ItemType(item_type).name} item (0x{item_type:02X}) not allowed here in {container}",
            offset,
            AbortReason.UNEXPECTED_PDU_PARAMETER,
        )
    return fail(
        f"unrecognised item type 0x{item_type:02X} in {container}",
        offset,
        AbortReason.UNRECOGNIZED_PDU_PARAMETER,
    )


decode_application_context = _decode_uid_item(ApplicationContextItem)
