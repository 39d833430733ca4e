"""DIMSE command sets: group 0000 in Implicit VR Little Endian (PS3.7 6.3, 9.3, 10.3).

Theory of operation
-------------------
A DIMSE message is a command set, optionally followed by a data set.  The
command set is a small, flat list of group 0000 elements, always in Implicit
VR Little Endian (PS3.7 section 6.3.1) and headed by Command Group Length
(0000,0000).  It is on the hot path of every operation (a C-ECHO is nothing
else), so it has its own codec here instead of a pydicom Dataset: encoding a
C-ECHO-RQ is a handful of ``struct.pack`` calls.

:class:`Command` holds every command field PS3.7 defines, as a typed
attribute (None when absent).  Which fields a message must carry is data:
:data:`REQUIRED_FIELDS` transcribes the "M" (mandatory) and "U(=)"/"="
entries of PS3.7 Tables 9.3-1 to 9.3-12 and 10.3-1 to 10.3-12 that do not
depend on a condition.  A command missing one is refused: by
:class:`~dicomul.LocalProtocolError` when built locally, and by
:class:`~dicomul.RemoteProtocolError` when decoded from a peer.  Elements of
group 0000 that this module does not know are kept raw in
:attr:`Command.extra_elements` and written back unchanged.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import MISSING, fields
from enum import IntEnum
from operator import attrgetter
from typing import Any, Final

from ._enums import AbortReason
from ._errors import LocalProtocolError, RemoteProtocolError
from ._record import dataclass
from ._wire import BytesLike

__all__ = [
    "NO_DATA_SET",
    "REQUIRED_FIELDS",
    "Command",
    "CommandField",
    "Priority",
    "check_priority",
    "decode_command",
    "encode_command",
    "response_for",
]

#: Command Data Set Type (0000,0800) value meaning "no data set" (PS3.7 E.1);
#: any other value means a data set follows.
NO_DATA_SET: Final = 0x0101

#: Bit 15 of the Command Field marks a response (PS3.7 Table E.1-1).
_RESPONSE_BIT: Final = 0x8000

_ELEMENT_HEADER: Final = struct.Struct("<HHL")


class CommandField(IntEnum):
    """Command Field (0000,0100) values, PS3.7 Annex E, Table E.1-1."""

    C_STORE_RQ = 0x0001
    C_STORE_RSP = 0x8001
    C_GET_RQ = 0x0010
    C_GET_RSP = 0x8010
    C_FIND_RQ = 0x0020
    C_FIND_RSP = 0x8020
    C_MOVE_RQ = 0x0021
    C_MOVE_RSP = 0x8021
    C_ECHO_RQ = 0x0030
    C_ECHO_RSP = 0x8030
    N_EVENT_REPORT_RQ = 0x0100
    N_EVENT_REPORT_RSP = 0x8100
    N_GET_RQ = 0x0110
    N_GET_RSP = 0x8110
    N_SET_RQ = 0x0120
    N_SET_RSP = 0x8120
    N_ACTION_RQ = 0x0130
    N_ACTION_RSP = 0x8130
    N_CREATE_RQ = 0x0140
    N_CREATE_RSP = 0x8140
    N_DELETE_RQ = 0x0150
    N_DELETE_RSP = 0x8150
    C_CANCEL_RQ = 0x0FFF

    @property
    def is_response(self) -> bool:
        """True for the -RSP command fields (bit 15 set)."""
        return bool(self & _RESPONSE_BIT)


class Priority(IntEnum):
    """Priority (0000,0700), PS3.7 Annex E."""

    MEDIUM = 0x0000
    HIGH = 0x0001
    LOW = 0x0002


def check_priority(value: object) -> Priority:
    """``value`` as a :class:`Priority` (PS3.7 9.1: a DIMSE-C request's
    Priority, 0000,0700, is LOW 2, MEDIUM 0 or HIGH 1); a name ('LOW',
    'medium', 'HIGH') is taken too.  Anything else raises ValueError
    (TypeError for what is neither an int nor a str).

    >>> check_priority("high"), check_priority(2)
    (<Priority.HIGH: 1>, <Priority.LOW: 2>)
    """
    if type(value) is Priority:  # the usual case, on every request: at once
        return value
    if isinstance(value, str):
        try:
            return Priority[value.upper()]
        except KeyError:
            pass
    elif not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"a priority is an int or a name, not {type(value).__name__}")
    else:
        try:
            return Priority(value)
        except ValueError:
            pass
    raise ValueError(
        f"priority {value!r} is not LOW (2), MEDIUM (0) or HIGH (1) (PS3.7 9.1, Annex E)"
    )


class _VR(IntEnum):
    """How a known command element's value is encoded (PS3.5 6.2)."""

    US = 1  # unsigned short
    UL = 2  # unsigned long
    UI = 3  # UID, NUL padded to even length
    AE = 4  # application entity title, space padded
    LO = 5  # long string, space padded
    AT = 6  # one or more attribute tags


#: (tag, attribute name, VR) of every command element PS3.7 Annex E defines,
#: in tag order (the order they are encoded in).
_ELEMENTS: Final[tuple[tuple[int, str, _VR], ...]] = (
    (0x00000002, "affected_sop_class_uid", _VR.UI),
    (0x00000003, "requested_sop_class_uid", _VR.UI),
    (0x00000100, "command_field", _VR.US),
    (0x00000110, "message_id", _VR.US),
    (0x00000120, "message_id_being_responded_to", _VR.US),
    (0x00000600, "move_destination", _VR.AE),
    (0x00000700, "priority", _VR.US),
    (0x00000800, "command_data_set_type", _VR.US),
    (0x00000900, "status", _VR.US),
    (0x00000901, "offending_element", _VR.AT),
    (0x00000902, "error_comment", _VR.LO),
    (0x00000903, "error_id", _VR.US),
    (0x00001000, "affected_sop_instance_uid", _VR.UI),
    (0x00001001, "requested_sop_instance_uid", _VR.UI),
    (0x00001002, "event_type_id", _VR.US),
    (0x00001005, "attribute_identifier_list", _VR.AT),
    (0x00001008, "action_type_id", _VR.US),
    (0x00001020, "number_of_remaining_suboperations", _VR.US),
    (0x00001021, "number_of_completed_suboperations", _VR.US),
    (0x00001022, "number_of_failed_suboperations", _VR.US),
    (0x00001023, "number_of_warning_suboperations", _VR.US),
    (0x00001030, "move_originator_application_entity_title", _VR.AE),
    (0x00001031, "move_originator_message_id", _VR.US),
)
_BY_TAG: Final = {tag: (name, vr) for tag, name, vr in _ELEMENTS}

_RQ = ("message_id",)
_RSP = ("message_id_being_responded_to", "status")

#: Fields each message must carry, whatever the conditions: PS3.7 Tables
#: 9.3-1 to 9.3-12 (DIMSE-C) and 10.3-1 to 10.3-12 (DIMSE-N).  Conditional
#: fields (C, U) are the service user's business.
REQUIRED_FIELDS: Final[dict[int, tuple[str, ...]]] = {
    CommandField.C_STORE_RQ: (
        *_RQ,
        "affected_sop_class_uid",
        "priority",
        "affected_sop_instance_uid",
    ),
    CommandField.C_STORE_RSP: _RSP,
    CommandField.C_FIND_RQ: (*_RQ, "affected_sop_class_uid", "priority"),
    CommandField.C_FIND_RSP: _RSP,
    CommandField.C_GET_RQ: (*_RQ, "affected_sop_class_uid", "priority"),
    CommandField.C_GET_RSP: _RSP,
    CommandField.C_MOVE_RQ: (*_RQ, "affected_sop_class_uid", "priority", "move_destination"),
    CommandField.C_MOVE_RSP: _RSP,
    CommandField.C_ECHO_RQ: (*_RQ, "affected_sop_class_uid"),
    CommandField.C_ECHO_RSP: _RSP,
    CommandField.C_CANCEL_RQ: ("message_id_being_responded_to",),
    CommandField.N_EVENT_REPORT_RQ: (
        *_RQ,
        "affected_sop_class_uid",
        "affected_sop_instance_uid",
        "event_type_id",
    ),
    CommandField.N_EVENT_REPORT_RSP: _RSP,
    CommandField.N_GET_RQ: (*_RQ, "requested_sop_class_uid", "requested_sop_instance_uid"),
    CommandField.N_GET_RSP: _RSP,
    CommandField.N_SET_RQ: (*_RQ, "requested_sop_class_uid", "requested_sop_instance_uid"),
    CommandField.N_SET_RSP: _RSP,
    CommandField.N_ACTION_RQ: (
        *_RQ,
        "requested_sop_class_uid",
        "requested_sop_instance_uid",
        "action_type_id",
    ),
    CommandField.N_ACTION_RSP: _RSP,
    CommandField.N_CREATE_RQ: (*_RQ, "affected_sop_class_uid"),
    CommandField.N_CREATE_RSP: _RSP,
    CommandField.N_DELETE_RQ: (*_RQ, "requested_sop_class_uid", "requested_sop_instance_uid"),
    CommandField.N_DELETE_RSP: _RSP,
}

#: Messages that always carry a data set (PS3.7: the data set is "M").
_DATA_SET_REQUIRED: Final = frozenset(
    {
        CommandField.C_STORE_RQ,
        CommandField.C_FIND_RQ,
        CommandField.C_GET_RQ,
        CommandField.C_MOVE_RQ,
        CommandField.N_SET_RQ,
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """A DIMSE command set (PS3.7 Annex E): every field, typed, None when absent.

    ``command_data_set_type`` is :data:`NO_DATA_SET` (0x0101) when no data set
    follows; :attr:`has_data_set` says so plainly.  Build one with the
    keyword arguments of the fields the message needs; the constructor checks
    the fields :data:`REQUIRED_FIELDS` lists for its command field.

    Examples
    --------
    >>> rq = Command(command_field=CommandField.C_ECHO_RQ, message_id=1,
    ...              affected_sop_class_uid="1.2.840.10008.1.1")
    >>> decode_command(encode_command(rq)) == rq
    True
    """

    command_field: int
    command_data_set_type: int = NO_DATA_SET
    message_id: int | None = None
    message_id_being_responded_to: int | None = None
    affected_sop_class_uid: str | None = None
    requested_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    requested_sop_instance_uid: str | None = None
    move_destination: str | None = None
    priority: int | None = None
    status: int | None = None
    offending_element: tuple[int, ...] | None = None
    error_comment: str | None = None
    error_id: int | None = None
    event_type_id: int | None = None
    attribute_identifier_list: tuple[int, ...] | None = None
    action_type_id: int | None = None
    number_of_remaining_suboperations: int | None = None
    number_of_completed_suboperations: int | None = None
    number_of_failed_suboperations: int | None = None
    number_of_warning_suboperations: int | None = None
    move_originator_application_entity_title: str | None = None
    move_originator_message_id: int | None = None
    #: Group 0000 elements not defined above, as (element number, raw value),
    #: kept verbatim.
    extra_elements: tuple[tuple[int, bytes], ...] = ()

    def __post_init__(self) -> None:
        missing = self.missing_fields()
        if missing:
            raise LocalProtocolError(_missing_message(self.command_field, missing))
        for tag, _ in self.extra_elements:
            if not 0 < tag <= 0xFFFF or tag in _BY_TAG:
                raise LocalProtocolError(
                    f"extra element (0000,{tag:04X}) must be a group 0000 element "
                    "that Command has no field for"
                )
        for value, fits, element in zip(_element_values(self), _FITS, _ELEMENTS, strict=True):
            if value is not None and not fits(value):
                raise LocalProtocolError(_cannot_hold(element, value))

    @property
    def has_data_set(self) -> bool:
        """True if a data set follows the command (PS3.7 E.1, (0000,0800))."""
        return self.command_data_set_type != NO_DATA_SET

    @property
    def is_response(self) -> bool:
        """True for a -RSP message."""
        return bool(self.command_field & _RESPONSE_BIT)

    def missing_fields(self) -> tuple[str, ...]:
        """The required fields this command lacks (empty if complete)."""
        if self.command_field not in REQUIRED_FIELDS:
            return ("command_field",)
        missing = tuple(
            name for name in REQUIRED_FIELDS[self.command_field] if getattr(self, name) is None
        )
        if self.command_field in _DATA_SET_REQUIRED and not self.has_data_set:
            missing += ("command_data_set_type",)
        return missing


def response_for(
    request: Command, status: int, *, with_data_set: bool = False, **fields: object
) -> Command:
    """The response to ``request`` with ``status``: the -RSP command field,
    the message ID responded to, and the fields PS3.7 has a response echo.

    PS3.7 Tables 9.3-2 to 9.3-12 and 10.3-1 to 10.3-12: a response carries
    the Affected SOP Class/Instance UID of its request (a DIMSE-N response
    names the requested SOP class and instance as affected), and an
    N-EVENT-REPORT or N-ACTION response its Event/Action Type ID.
    ``fields`` set or override any other field (sub-operation counts, an
    error comment, the instance UID an N-CREATE SCP assigned).

    >>> rq = Command(command_field=CommandField.N_DELETE_RQ, message_id=7,
    ...              requested_sop_class_uid="1.2.3", requested_sop_instance_uid="4.5")
    >>> rsp = response_for(rq, 0x0000)
    >>> (CommandField(rsp.command_field).name, rsp.message_id_being_responded_to,
    ...  rsp.affected_sop_instance_uid)
    ('N_DELETE_RSP', 7, '4.5')
    """
    if request.is_response or request.command_field == CommandField.C_CANCEL_RQ:
        raise LocalProtocolError(f"{request.command_field:#06x} is not a request to respond to")
    values: dict[str, object] = {
        "command_field": request.command_field | _RESPONSE_BIT,
        "message_id_being_responded_to": request.message_id,
        "status": status,
        "command_data_set_type": 0 if with_data_set else NO_DATA_SET,
        "affected_sop_class_uid": request.affected_sop_class_uid
        or request.requested_sop_class_uid,
        "affected_sop_instance_uid": request.affected_sop_instance_uid
        or request.requested_sop_instance_uid,
        "event_type_id": request.event_type_id,
        "action_type_id": request.action_type_id,
    }
    if fields:
        values.update(fields)
    if _fits_response(status, fields):
        return _unchecked_command(values)
    return Command(**values)  # type: ignore[arg-type]  # raises what is wrong


def _fits_response(status: object, fields: dict[str, object]) -> bool:
    """Whether the response :func:`response_for` builds needs none of the
    constructor's checks.  What it takes from ``request`` fits by
    construction (every Command was checked when built or decoded: a
    request's message ID is a US, and so is the one responded to; its UIDs
    are ASCII text, as the response's are; the -RSP of a request's command
    field is a command field, whose required fields are the two a response
    always has).  So only the caller's values are checked here: ``status``
    and each of ``fields``, none of them None (a required field missing),
    each a field :data:`_FITS_BY_NAME` knows, fitting its VR.  Anything else
    goes through the constructor, which raises what is wrong."""
    if not _fits_us(status):
        return False
    for name, value in fields.items():
        fits = _FITS_BY_NAME.get(name)
        if fits is None or value is None or not fits(value):
            return False
    return True


def quick_command(values: dict[str, object]) -> Command:
    """``Command(**values)``, checking only the fields given.

    The constructor checks all 23 elements whether set or not; a request
    builder (:func:`dicomul.c_echo_rq`, :func:`dicomul.c_store_rq`) sets a
    handful.  Each value given is checked as the constructor would, then
    the required fields; anything that does not pass (or a name that is no
    such field) goes through the constructor, which raises what is wrong.
    """
    field = values.get("command_field")
    if not _fits_us(field) or field not in REQUIRED_FIELDS:
        return Command(**values)  # type: ignore[arg-type]
    for name, value in values.items():
        if value is None or name == "command_field":
            continue
        fits = _FITS_BY_NAME.get(name)
        if fits is None or not fits(value):
            return Command(**values)  # type: ignore[arg-type]
    for name in REQUIRED_FIELDS[field]:
        if values.get(name) is None:
            return Command(**values)  # type: ignore[arg-type]
    if field in _DATA_SET_REQUIRED and values.get("command_data_set_type") in (None, NO_DATA_SET):
        return Command(**values)  # type: ignore[arg-type]
    return _unchecked_command(values)


def _unchecked_command(values: dict[str, object]) -> Command:
    """A Command of ``values`` (field names) without the constructor's
    checks: for values known to pass them (see :func:`_fits_response`)."""
    command = _new_command(Command)
    get = values.get
    for name, default in _FIELD_DEFAULTS:
        _set(command, name, get(name, default))
    _set(command, "extra_elements", ())
    return command


def _fits_us(value: object) -> bool:
    return isinstance(value, int) and 0 <= value <= 0xFFFF


def _fits_ul(value: object) -> bool:
    return isinstance(value, int) and 0 <= value <= 0xFFFFFFFF


def _fits_at(value: object) -> bool:
    return isinstance(value, tuple) and all(
        isinstance(tag, int) and 0 <= tag <= 0xFFFFFFFF for tag in value
    )


def _fits_ae(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 16 and value.isascii()


def _fits_text(value: object) -> bool:
    return isinstance(value, str) and value.isascii()


_FITS_BY_VR: Final = {
    _VR.US: _fits_us,
    _VR.UL: _fits_ul,
    _VR.AT: _fits_at,
    _VR.AE: _fits_ae,
    _VR.UI: _fits_text,
    _VR.LO: _fits_text,
}
#: What each element of :data:`_ELEMENTS` may hold, in the same order.
_FITS: Final = tuple(_FITS_BY_VR[vr] for _, _, vr in _ELEMENTS)
#: The fields a caller of :func:`response_for` may set without the
#: constructor's checks, with the check each needs (command_field is the
#: request's to decide, extra_elements the constructor's to check).
_FITS_BY_NAME: Final = {
    name: fits
    for (_, name, _), fits in zip(_ELEMENTS, _FITS, strict=True)
    if name != "command_field"
}
#: The values of every element of :data:`_ELEMENTS` of a Command, as a tuple
#: (one C call instead of a getattr per field).
_element_values: Final = attrgetter(*(name for _, name, _ in _ELEMENTS))


def _cannot_hold(element: tuple[int, str, _VR], value: object) -> str:
    tag, name, vr = element
    return f"{name} ({_tag_text(tag)}) cannot hold {value!r} as {vr.name}"


def _tag_text(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _missing_message(command_field: int, missing: tuple[str, ...]) -> str:
    try:
        name = CommandField(command_field).name
    except ValueError:
        name = f"command field 0x{command_field:04X}"
    if missing == ("command_field",):
        return f"{name} is not a DIMSE command field (PS3.7 Table E.1-1)"
    return f"{name} lacks required field(s): {', '.join(missing)} (PS3.7 sections 9.3, 10.3)"


# ------------------------------------------------------------------ encoding
#
# A command is encoded for every message sent, so each known element has its
# own encoder producing the whole element (header and value), looked up once
# per element by position in _ELEMENTS.

_US_ELEMENT: Final = struct.Struct("<HHLH")
_UL_ELEMENT: Final = struct.Struct("<HHLL")
_GROUP_LENGTH: Final = struct.Struct("<HHLL")


def _encode_us(element: int, value: int) -> bytes:
    return _US_ELEMENT.pack(0x0000, element, 2, value)


def _encode_ul(element: int, value: int) -> bytes:
    return _UL_ELEMENT.pack(0x0000, element, 4, value)


def _encode_at(element: int, value: tuple[int, ...]) -> bytes:
    raw = b"".join(struct.pack("<HH", tag >> 16, tag & 0xFFFF) for tag in value)
    return _ELEMENT_HEADER.pack(0x0000, element, len(raw)) + raw


def _encode_uid(element: int, value: str) -> bytes:
    raw = value.encode("ascii")
    if len(raw) % 2:
        raw += b"\x00"  # UI: padded with NUL (PS3.5 6.2)
    return _ELEMENT_HEADER.pack(0x0000, element, len(raw)) + raw


def _encode_text(element: int, value: str) -> bytes:
    raw = value.encode("ascii")
    if len(raw) % 2:
        raw += b" "  # AE, LO: padded with a space (PS3.5 6.2)
    return _ELEMENT_HEADER.pack(0x0000, element, len(raw)) + raw


_ENCODE_BY_VR: Final[dict[_VR, Callable[[int, Any], bytes]]] = {
    _VR.US: _encode_us,
    _VR.UL: _encode_ul,
    _VR.AT: _encode_at,
    _VR.UI: _encode_uid,
    _VR.AE: _encode_text,
    _VR.LO: _encode_text,
}
#: (element number, encoder) of every element of :data:`_ELEMENTS`, in order.
_ENCODERS: Final = tuple((tag & 0xFFFF, _ENCODE_BY_VR[vr]) for tag, _, vr in _ELEMENTS)


def encode_command(command: Command) -> bytes:
    """Encode a command set in Implicit VR Little Endian with its group length.

    Elements are written in ascending tag order, the extra ones merged in.
    """
    parts = [
        encode(element, value)
        for (element, encode), value in zip(_ENCODERS, _element_values(command), strict=True)
        if value is not None
    ]
    if command.extra_elements:
        parts = _merge_extra(parts, command.extra_elements)
    body = b"".join(parts)
    return _GROUP_LENGTH.pack(0x0000, 0x0000, 4, len(body)) + body


def _merge_extra(known: list[bytes], extra: tuple[tuple[int, bytes], ...]) -> list[bytes]:
    """Known and extra elements in ascending tag order (then by value)."""
    elements = [(_ELEMENT_HEADER.unpack_from(e)[1], e[8:], e) for e in known]
    elements += [
        (tag, raw, _ELEMENT_HEADER.pack(0x0000, tag, len(raw)) + raw) for tag, raw in extra
    ]
    return [encoded for _, _, encoded in sorted(elements)]


# ------------------------------------------------------------------ decoding


def _bad(message: str, offset: int) -> RemoteProtocolError:
    # A command set the peer garbled: PS3.7 gives no finer answer than an
    # abort; invalid-PDU-parameter value is the nearest reason of Table 9-26.
    return RemoteProtocolError(
        f"malformed DIMSE command set: {message} (at byte {offset})",
        abort_reason=AbortReason.INVALID_PDU_PARAMETER_VALUE,
    )


def _incomplete(problem: str) -> RemoteProtocolError:
    return RemoteProtocolError(
        f"peer sent an incomplete command: {problem}",
        abort_reason=AbortReason.INVALID_PDU_PARAMETER_VALUE,
    )


# Each decoder takes (data, start, stop, element, offset) and returns the value
# read, which fits its field by construction (two bytes are a US), except
# text: a peer's bytes may be anything, checked by decode_command.


def _decode_us(data: bytes, start: int, stop: int, element: int, offset: int) -> int:
    if stop - start != 2:
        raise _bad(f"{_tag_text(element)} is {stop - start} bytes, not 2 (US)", offset)
    return data[start] | data[start + 1] << 8


def _decode_ul(data: bytes, start: int, stop: int, element: int, offset: int) -> int:
    if stop - start != 4:
        raise _bad(f"{_tag_text(element)} is {stop - start} bytes, not 4 (UL)", offset)
    return int.from_bytes(data[start:stop], "little")


def _decode_at(data: bytes, start: int, stop: int, element: int, offset: int) -> tuple[int, ...]:
    length = stop - start
    if length % 4:
        raise _bad(f"{_tag_text(element)} is {length} bytes, not a multiple of 4 (AT)", offset)
    pairs = struct.unpack_from(f"<{length // 2}H", data, start)
    return tuple((pairs[i] << 16) | pairs[i + 1] for i in range(0, len(pairs), 2))


def _decode_text(data: bytes, start: int, stop: int, element: int, offset: int) -> str:
    return data[start:stop].decode("latin-1").rstrip("\x00 ").lstrip(" ")


_DECODE_BY_VR: Final[dict[_VR, Callable[[bytes, int, int, int, int], object]]] = {
    _VR.US: _decode_us,
    _VR.UL: _decode_ul,
    _VR.AT: _decode_at,
    _VR.UI: _decode_text,
    _VR.AE: _decode_text,
    _VR.LO: _decode_text,
}
#: Element number -> (field name, decoder, the element's row of _ELEMENTS,
#: and for text the check its value must pass).
_DECODERS: Final = {
    tag & 0xFFFF: (
        name,
        _DECODE_BY_VR[vr],
        (tag, name, vr),
        _FITS_BY_VR[vr] if vr in (_VR.UI, _VR.AE, _VR.LO) else None,
    )
    for tag, name, vr in _ELEMENTS
}
# Each class's own allocator, for building without the constructor's
# checks: object.__new__ itself in Python; compiled by mypyc (the optional
# build, bench/README.md), the native class's, which object.__new__ refuses.
_new_command = Command.__new__
_set = object.__setattr__
#: Every field of Command but extra_elements, with its default, for building
#: a decoded command.
_FIELD_DEFAULTS: Final = tuple(
    (field.name, None if field.default is MISSING else field.default)
    for field in fields(Command)
    if field.name != "extra_elements"
)


def decode_command(data: BytesLike) -> Command:
    """Decode an Implicit VR Little Endian command set (all its fragments joined).

    The decoded command is built without the constructor's checks of every
    field: a value read from two bytes fits a US by construction, so only
    what the bytes cannot guarantee is checked here (text that must be
    ASCII, an AE title of at most 16 characters, the required fields),
    raising what the constructor would.

    Raises
    ------
    RemoteProtocolError
        If the bytes are not a command set, or the command lacks a field
        PS3.7 requires; the error carries the A-ABORT reason to answer with.
    """
    if not isinstance(data, bytes):
        data = bytes(data)
    values: dict[str, object] = {}
    extra: list[tuple[int, bytes]] = []
    # Text fields read, to check once the last of any duplicate is known.
    texts: list[tuple[str, tuple[int, str, _VR], Callable[[object], bool]]] = []
    unpack_header = _ELEMENT_HEADER.unpack_from
    decoders = _DECODERS
    end = len(data)
    pos = 0
    while pos < end:
        if end - pos < 8:
            raise _bad(f"{end - pos} stray bytes after the last element", pos)
        group, element, length = unpack_header(data, pos)
        if group != 0x0000:
            raise _bad(f"element ({group:04X},{element:04X}) is not in group 0000", pos)
        start = pos + 8
        stop = start + length
        if stop > end:
            raise _bad(f"element (0000,{element:04X}) length {length} overruns the command", pos)
        if element:  # (0000,0000), Command Group Length, is recomputed on encoding
            known = decoders.get(element)
            if known is None:
                extra.append((element, data[start:stop]))
            else:
                name, decode, row, fits = known
                values[name] = decode(data, start, stop, element, pos)
                if fits is not None:
                    texts.append((name, row, fits))
        pos = stop
    if "command_field" not in values:
        raise _bad("no Command Field (0000,0100)", 0)
    if "command_data_set_type" not in values:
        raise _bad("no Command Data Set Type (0000,0800)", 0)
    command = _new_command(Command)
    get = values.get
    for name, default in _FIELD_DEFAULTS:
        _set(command, name, get(name, default))
    _set(command, "extra_elements", tuple(extra))
    missing = command.missing_fields()
    if missing:
        raise _incomplete(_missing_message(command.command_field, missing))
    for name, row, check in texts:
        if not check(values[name]):
            raise _incomplete(_cannot_hold(row, values[name]))
    return command
