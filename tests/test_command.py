"""DIMSE command sets (dicomul._command): PS3.7 group 0000 in Implicit VR LE."""

from __future__ import annotations

import json
import pathlib
import re
import struct
from dataclasses import fields

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dicomul import LocalProtocolError, ProtocolError, RemoteProtocolError, pdu
from dicomul._command import (
    _ELEMENTS,
    _VR,
    NO_DATA_SET,
    REQUIRED_FIELDS,
    Command,
    CommandField,
    decode_command,
    encode_command,
    quick_command,
    response_for,
)
from dicomul.testing.strategies import commands

# C-ECHO-RQ, message ID 1, element by element (tag group/element LE, length LE, value).
C_ECHO_RQ = bytes.fromhex(
    "".join(
        [
            "0000 0000 04000000 38000000",  # (0000,0000) Command Group Length = 56
            # (0000,0002) Affected SOP Class UID, padded with a NUL to even length
            "0000 0200 12000000 312e322e3834302e31303030382e312e3100",
            "0000 0001 02000000 3000",  # (0000,0100) Command Field = 0x0030 C-ECHO-RQ
            "0000 1001 02000000 0100",  # (0000,0110) Message ID = 1
            "0000 0008 02000000 0101",  # (0000,0800) Command Data Set Type = 0x0101 (none)
        ]
    ).replace(" ", "")
)


def test_c_echo_rq_bytes() -> None:
    command = Command(
        command_field=CommandField.C_ECHO_RQ,
        message_id=1,
        affected_sop_class_uid="1.2.840.10008.1.1",
    )
    assert encode_command(command) == C_ECHO_RQ
    assert decode_command(C_ECHO_RQ) == command
    assert not command.has_data_set
    assert not command.is_response


def _captured_commands() -> list[tuple[str, bytes]]:
    """Every command set DCMTK and pynetdicom sent in the recorded sessions."""
    records = json.loads(
        (pathlib.Path(__file__).parent / "data" / "captured_pdus.json").read_text()
    )
    found: dict[bytes, str] = {}
    for record in sorted(records, key=lambda r: (r["scenario"], r["direction"], r["index"])):
        data = bytes.fromhex(record["hex"])
        if data[0] != 4:
            continue
        fragments = b""
        for pdv in pdu.decode(data).pdvs:  # type: ignore[union-attr]
            if pdv.is_command:
                fragments += bytes(pdv.data)
                if pdv.is_last:
                    found.setdefault(fragments, record["peer"])
                    fragments = b""
    return [(peer, raw) for raw, peer in found.items()]


CAPTURED = _captured_commands()


def test_peers_sent_echo_and_store_commands_both_ways() -> None:
    fields = {decode_command(raw).command_field for _, raw in CAPTURED}
    assert fields >= {0x0030, 0x8030, 0x0001, 0x8001}


@pytest.mark.parametrize(("peer", "raw"), CAPTURED, ids=[p for p, _ in CAPTURED])
def test_real_peers_commands_reencode_byte_for_byte(peer: str, raw: bytes) -> None:
    assert encode_command(decode_command(raw)) == raw


def test_c_store_rq_carries_a_data_set() -> None:
    command = next(
        decode_command(raw) for _, raw in CAPTURED if decode_command(raw).command_field == 0x0001
    )
    assert command.has_data_set
    assert command.priority == 0
    assert command.affected_sop_instance_uid


@pytest.mark.parametrize("field", sorted(REQUIRED_FIELDS), ids=lambda f: CommandField(f).name)
def test_each_required_field_is_enforced(field: int) -> None:
    for name in REQUIRED_FIELDS[field]:
        with pytest.raises(LocalProtocolError, match=name):
            Command(command_field=field, command_data_set_type=0)


def test_data_set_is_required_where_ps37_says_m() -> None:
    with pytest.raises(LocalProtocolError, match="command_data_set_type"):
        Command(
            command_field=CommandField.C_FIND_RQ,
            message_id=1,
            affected_sop_class_uid="1.2.840.10008.5.1.4.1.2.1.1",
            priority=0,
            command_data_set_type=NO_DATA_SET,
        )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"command_field": 0x1234}, "not a DIMSE command field"),
        (
            {
                "command_field": CommandField.C_ECHO_RSP,
                "message_id_being_responded_to": 1,
                "status": 70000,
            },
            "status",
        ),
        (
            {
                "command_field": CommandField.C_ECHO_RSP,
                "message_id_being_responded_to": 1,
                "status": 0,
                "extra_elements": ((0x0110, b"\x01\x00"),),
            },
            "extra element",
        ),
    ],
)
def test_bad_values_are_local_misuse(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(LocalProtocolError, match=match):
        Command(**kwargs)  # type: ignore[arg-type]


def test_unknown_elements_are_kept_in_order() -> None:
    extra = (
        C_ECHO_RQ[:8]
        + struct.pack("<L", 56 + 10)
        + C_ECHO_RQ[12:]
        + bytes.fromhex("0000 0099 02000000 abcd".replace(" ", ""))
    )
    command = decode_command(extra)
    assert command.extra_elements == ((0x9900, b"\xab\xcd"),)
    assert encode_command(command) == extra


def _element(element: int, value: bytes) -> bytes:
    return struct.pack("<HHL", 0, element, len(value)) + value


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (C_ECHO_RQ[:-1], "overruns"),
        (C_ECHO_RQ + b"\x00\x00", "stray bytes"),
        (C_ECHO_RQ + struct.pack("<HHL", 8, 0x10, 0), "not in group 0000"),
        (_element(0x0100, b"\x30"), "not 2"),
        (_element(0x0800, b"\x01\x01"), "no Command Field"),
        (_element(0x0100, b"\x30\x00"), "no Command Data Set Type"),
        (_element(0x0100, b"\x30\x00") + _element(0x0800, b"\x01\x01"), "message_id"),
    ],
)
def test_malformed_commands_from_a_peer(data: bytes, match: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match) as info:
        decode_command(data)
    assert info.value.abort_reason == 6


@given(commands())
def test_roundtrip(command: Command) -> None:
    assert decode_command(encode_command(command)) == command


@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_protocol_error(data: bytes) -> None:
    try:
        command = decode_command(data)
    except ProtocolError:
        return
    assert decode_command(encode_command(command)) == command


def _split(encoded: bytes) -> list[tuple[int, bytes]]:
    """(element number, value) of each element of an encoded command set."""
    elements, pos = [], 0
    while pos < len(encoded):
        _, element, length = struct.unpack_from("<HHL", encoded, pos)
        elements.append((element, encoded[pos + 8 : pos + 8 + length]))
        pos += 8 + length
    return elements


_KNOWN_ELEMENTS = sorted(tag & 0xFFFF for tag, _, _ in _ELEMENTS)
#: Values a peer may put in any element: short binary, and text (non-ASCII,
#: over-long AE titles, padding).
_PEER_VALUES = st.binary(max_size=20) | st.text(max_size=20).map(lambda text: text.encode("utf-8"))


@st.composite
def peer_command_sets(draw: st.DrawFn) -> bytes:
    """A valid command set changed as a careless peer might: values
    replaced by any bytes, elements added (known or not), dropped or
    repeated; so that decoding reaches every value check, not only the
    framing ones."""
    elements = _split(encode_command(draw(commands())))
    for _ in range(draw(st.integers(0, 4))):
        action = draw(st.sampled_from(["replace", "add", "drop", "repeat"]))
        where = draw(st.integers(0, len(elements)))
        if action == "add" or not elements:
            number = draw(st.sampled_from(_KNOWN_ELEMENTS) | st.integers(0, 0xFFFF))
            elements.insert(where, (number, draw(_PEER_VALUES)))
            continue
        where = min(where, len(elements) - 1)
        if action == "replace":
            elements[where] = (elements[where][0], draw(_PEER_VALUES))
        elif action == "drop":
            del elements[where]
        else:
            elements.insert(where, elements[where])
    return b"".join(_element(number, value) for number, value in elements)


@given(peer_command_sets())
def test_a_decoded_command_is_one_the_constructor_accepts(data: bytes) -> None:
    """The decoder builds commands without the constructor's checks of every
    field (issue 16): what it returns must still pass them, and re-encode."""
    try:
        command = decode_command(data)
    except RemoteProtocolError as exc:
        assert exc.abort_reason == 6
        return
    rebuilt = Command(**{field.name: getattr(command, field.name) for field in fields(Command)})
    assert rebuilt == command
    assert decode_command(encode_command(command)).command_field == command.command_field


@given(peer_command_sets())
def test_a_command_the_decoder_refuses_the_constructor_refuses(data: bytes) -> None:
    """What the decoder refuses for its values (not its framing), the
    constructor refuses too: the decoder checks no more and no less."""
    try:
        decode_command(data)
    except RemoteProtocolError as exc:
        if "incomplete command" not in str(exc):
            return  # framing: not a command set at all
        values = {
            name: _value_of(vr, value)
            for number, value in _split(data)
            for tag, name, vr in _ELEMENTS
            if tag & 0xFFFF == number
        }
        with pytest.raises(LocalProtocolError):
            Command(**values)  # type: ignore[arg-type]


def _value_of(vr: _VR, value: bytes) -> object:
    """A value as the old decoder read it: the reference for the test above."""
    if vr is _VR.US:
        return struct.unpack("<H", value)[0]
    if vr is _VR.AT:
        pairs = struct.unpack(f"<{len(value) // 2}H", value)
        return tuple((pairs[i] << 16) | pairs[i + 1] for i in range(0, len(pairs), 2))
    return value.decode("latin-1").rstrip("\x00 ").lstrip(" ")


def _response_the_general_way(
    request: Command, status: object, *, with_data_set: bool = False, **extra: object
) -> Command:
    """response_for as the constructor builds it, every field checked."""
    values: dict[str, object] = {
        "command_field": request.command_field | 0x8000,
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
    values.update(extra)
    return Command(**values)  # type: ignore[arg-type]


_ODD_VALUES = st.one_of(
    st.none(),
    st.integers(-2, 0x1_0000_0001),
    st.booleans(),
    st.text(max_size=20),
    st.tuples(st.integers(-1, 0x1_0000_0000)),
    st.just("x" * 17),
)


@given(
    commands().filter(lambda c: not c.is_response and c.command_field != CommandField.C_CANCEL_RQ),
    st.one_of(st.integers(0, 0xFFFF), _ODD_VALUES),
    st.booleans(),
    st.dictionaries(
        st.sampled_from([f.name for f in fields(Command) if f.name != "status"] + ["bogus"]),
        _ODD_VALUES,
        max_size=3,
    ),
)
def test_response_for_is_the_constructor_s_response(
    request: Command, status: object, with_data_set: bool, extra: dict[str, object]
) -> None:
    """response_for builds a response from a (checked) request without
    re-checking what it copies: the same Command as the constructor makes,
    or the same error for a caller's value that does not fit."""
    try:
        expected: Command | Exception = _response_the_general_way(
            request, status, with_data_set=with_data_set, **extra
        )
    except Exception as exc:  # any error: compared below
        expected = exc
    try:
        got: Command | Exception = response_for(
            request,
            status,  # type: ignore[arg-type]
            with_data_set=with_data_set,
            **extra,
        )
    except Exception as exc:  # any error: compared below
        got = exc
    if isinstance(expected, Exception):
        assert type(got) is type(expected)
        assert str(got) == str(expected)
    else:
        assert got == expected
        assert [type(getattr(got, f.name)) for f in fields(Command)] == [
            type(getattr(expected, f.name)) for f in fields(Command)
        ]


@given(
    st.one_of(
        st.sampled_from(sorted(REQUIRED_FIELDS)),
        st.sampled_from([0x30, 0x0001, 48.0, True, None, "48"]),
    ),
    st.dictionaries(
        st.sampled_from(
            [f.name for f in fields(Command) if f.name != "command_field"] + ["bogus"]
        ),
        st.one_of(_ODD_VALUES, st.integers(0, 0xFFFF), st.just("1.2.840.10008.1.1")),
        max_size=8,
    ),
)
def test_quick_command_is_the_constructor_s(
    command_field: object, values: dict[str, object]
) -> None:
    """quick_command checks only the fields given: the same Command as the
    constructor makes of them, or the same error."""
    values = {"command_field": command_field, **values}
    try:
        expected: Command | Exception = Command(**values)  # type: ignore[arg-type]
    except Exception as exc:  # any error: compared below
        expected = exc
    try:
        got: Command | Exception = quick_command(values)
    except Exception as exc:  # any error: compared below
        got = exc
    if isinstance(expected, Exception):
        assert type(got) is type(expected)
        assert str(got) == str(expected)
    else:
        assert got == expected
        assert [type(getattr(got, f.name)) for f in fields(Command)] == [
            type(getattr(expected, f.name)) for f in fields(Command)
        ]


def test_request_builders_give_what_the_constructor_gives() -> None:
    from dicomul import c_echo_rq, c_store_rq

    assert c_echo_rq(7) == Command(
        command_field=CommandField.C_ECHO_RQ,
        message_id=7,
        affected_sop_class_uid="1.2.840.10008.1.1",
    )
    assert type(c_echo_rq(7).command_field) is CommandField
    with pytest.raises(LocalProtocolError, match="message_id"):
        c_echo_rq(0x10000)
    for field in (48.0, "48"):  # equal to, or not, a command field: never one
        odd = {"command_field": field, "message_id": 1, "affected_sop_class_uid": "1.2"}
        with pytest.raises((LocalProtocolError, ValueError)) as by_constructor:
            Command(**odd)  # type: ignore[arg-type]
        with pytest.raises(by_constructor.type, match=re.escape(str(by_constructor.value))):
            quick_command(odd)
    with pytest.raises(LocalProtocolError, match="lacks required field"):
        c_store_rq(1, "1.2.3", None)  # type: ignore[arg-type]
    assert c_store_rq(1, "1.2.3", "4.5", move_originator=("AE", 3)) == Command(
        command_field=CommandField.C_STORE_RQ,
        message_id=1,
        affected_sop_class_uid="1.2.3",
        affected_sop_instance_uid="4.5",
        priority=0,
        command_data_set_type=0,
        move_originator_application_entity_title="AE",
        move_originator_message_id=3,
    )
