"""dicomul.pdu: (bytes, object) tables, errors with offsets and reasons,
round-trip and robustness properties (PS3.8 section 9.3, PS3.7 Annex D)."""

from __future__ import annotations

import inspect
import struct

import pytest
from compiled import COMPILED, WRONG_TYPE
from hypothesis import given
from hypothesis import strategies as st

from dicomul import (
    AbortReason,
    ContextResult,
    LocalProtocolError,
    PDUDecodeError,
    ProtocolError,
    RejectReasonPresentation,
    RejectSource,
    RemoteProtocolError,
    pdu,
)
from dicomul.pdu import (
    AbortRQ,
    AbstractSyntaxItem,
    ApplicationContextItem,
    AssociateAC,
    AssociateRJ,
    AssociateRQ,
    AsynchronousOperationsWindowSubItem,
    ImplementationClassUIDSubItem,
    ImplementationVersionNameSubItem,
    MaximumLengthSubItem,
    PDataTF,
    PresentationContextACItem,
    PresentationContextRQItem,
    PresentationDataValue,
    ReleaseRP,
    ReleaseRQ,
    RoleSelectionSubItem,
    SOPClassCommonExtendedNegotiationSubItem,
    SOPClassExtendedNegotiationSubItem,
    TransferSyntaxItem,
    UnknownSubItem,
    UserIdentityACSubItem,
    UserIdentityRQSubItem,
    UserInformationItem,
    ae_title,
    decode,
    encode,
    uid,
)
from dicomul.testing import strategies

# An A-ASSOCIATE-RQ as an SCU proposing Verification would send it, field by field.
ASSOCIATE_RQ_HEX = " ".join(
    [
        "01 00 000000c7",  # PDU-type 01H, reserved, PDU-length 199
        "0001 0000",  # protocol version (bit 0: version 1), reserved
        "414e592d534350202020202020202020",  # called AE title "ANY-SCP", space padded
        "4543484f534355202020202020202020",  # calling AE title "ECHOSCU"
        "00" * 32,  # reserved
        "10 00 0015 312e322e3834302e31303030382e332e312e312e31",  # application context
        "20 00 002e 01 000000",  # presentation context ID 1, reserved x3
        "30 00 0011 312e322e3834302e31303030382e312e31",  # abstract syntax 1.2.840.10008.1.1
        "40 00 0011 312e322e3834302e31303030382e312e32",  # transfer syntax 1.2.840.10008.1.2
        "50 00 0034",  # user information, 52 bytes of sub-items
        "51 00 0004 00004000",  # maximum length received 16384
        "52 00 0019 312e322e3832362e302e312e333638303034332e392e333831",  # implementation UID
        "53 00 0004 0001 0002",  # asynchronous operations window: 1 invoked, 2 performed
        "ff 00 0003 616263",  # a sub-item type unknown to dicomul: kept verbatim
    ]
)
ASSOCIATE_RQ_BYTES = bytes.fromhex(ASSOCIATE_RQ_HEX.replace(" ", ""))

ASSOCIATE_RQ_OBJECT = AssociateRQ(
    called_ae_title=b"ANY-SCP         ",
    calling_ae_title=b"ECHOSCU         ",
    application_context=ApplicationContextItem(name=b"1.2.840.10008.3.1.1.1"),
    presentation_contexts=(
        PresentationContextRQItem(
            context_id=1,
            abstract_syntax=AbstractSyntaxItem(name=b"1.2.840.10008.1.1"),
            transfer_syntaxes=(TransferSyntaxItem(name=b"1.2.840.10008.1.2"),),
        ),
    ),
    user_information=UserInformationItem(
        sub_items=(
            MaximumLengthSubItem(maximum_length=16384),
            ImplementationClassUIDSubItem(name=b"1.2.826.0.1.3680043.9.381"),
            AsynchronousOperationsWindowSubItem(
                max_operations_invoked=1, max_operations_performed=2
            ),
            UnknownSubItem(item_type=0xFF, data=b"abc"),
        )
    ),
)

# (bytes, object) pairs: each decodes to its object and encodes back to its bytes.
TABLE = [
    pytest.param(ASSOCIATE_RQ_BYTES, ASSOCIATE_RQ_OBJECT, id="associate-rq"),
    pytest.param(
        bytes.fromhex("03 00 00000004 00 01 01 07".replace(" ", "")),
        AssociateRJ(result=1, source=1, reason=7),
        id="associate-rj-called-ae",
    ),
    pytest.param(
        bytes.fromhex("04 00 00000009 00000005 01 03 616263".replace(" ", "")),
        PDataTF(pdvs=(PresentationDataValue(context_id=1, control_header=3, data=b"abc"),)),
        id="p-data-tf",
    ),
    pytest.param(
        bytes.fromhex("04 00 0000000e 00000002 01 00 00000004 03 02 6869".replace(" ", "")),
        PDataTF(
            pdvs=(
                PresentationDataValue(context_id=1, control_header=0, data=b""),
                PresentationDataValue(context_id=3, control_header=2, data=b"hi"),
            )
        ),
        id="p-data-tf-two-pdvs-one-empty",
    ),
    pytest.param(bytes.fromhex("05000000000400000000"), ReleaseRQ(), id="release-rq"),
    pytest.param(bytes.fromhex("06000000000400000000"), ReleaseRP(), id="release-rp"),
    pytest.param(bytes.fromhex("07000000000400000206"), AbortRQ(source=2, reason=6), id="abort"),
    pytest.param(
        # reserved fields that a sloppy peer filled in survive the round trip
        bytes.fromhex("07ab00000004cdef0000"),
        AbortRQ(source=0, reason=0, header_reserved=0xAB, reserved_7_8=0xCDEF),
        id="abort-reserved-nonzero",
    ),
]


@pytest.mark.parametrize(("data", "obj"), TABLE)
def test_table_decodes(data: bytes, obj: pdu.PDU) -> None:
    assert decode(data) == obj


@pytest.mark.parametrize(("data", "obj"), TABLE)
def test_table_encodes(data: bytes, obj: pdu.PDU) -> None:
    assert encode(obj) == data


def test_normalised_values_beside_raw() -> None:
    rq = decode(ASSOCIATE_RQ_BYTES)
    assert isinstance(rq, AssociateRQ)
    assert rq.called_aet == "ANY-SCP"
    assert rq.calling_aet == "ECHOSCU"
    assert rq.application_context.uid == pdu.DICOM_APPLICATION_CONTEXT
    assert rq.presentation_contexts[0].abstract_syntax_uid == "1.2.840.10008.1.1"
    assert rq.presentation_contexts[0].transfer_syntax_uids == ("1.2.840.10008.1.2",)
    info = rq.user_information
    assert info is not None
    assert info.maximum_length == 16384
    assert info.implementation_class_uid == "1.2.826.0.1.3680043.9.381"
    assert info.implementation_version_name is None
    assert info.asynchronous_operations_window == AsynchronousOperationsWindowSubItem(
        max_operations_invoked=1, max_operations_performed=2
    )


def test_nul_padded_uid_keeps_raw_and_normalises() -> None:
    item = TransferSyntaxItem(name=b"1.2.840.10008.1.2\x00")
    data = encode(
        AssociateAC(
            called_ae_title=ae_title("A"),
            calling_ae_title=ae_title("B"),
            application_context=ApplicationContextItem(name=b"1.2.840.10008.3.1.1.1"),
            presentation_contexts=(
                PresentationContextACItem(context_id=1, result=0, transfer_syntax=item),
            ),
            user_information=None,
        )
    )
    ac = decode(data)
    assert isinstance(ac, AssociateAC)
    assert ac.presentation_contexts[0].transfer_syntax == item
    assert ac.presentation_contexts[0].transfer_syntax_uid == "1.2.840.10008.1.2"
    assert encode(ac) == data
    with pytest.raises(PDUDecodeError, match="Annex F"):
        decode(data, strict=True)


def test_user_information_accessors() -> None:
    role = RoleSelectionSubItem(sop_class_uid=b"1.2.3", scu_role=1, scp_role=0)
    ext = SOPClassExtendedNegotiationSubItem(
        sop_class_uid=b"1.2.4", service_class_application_information=b"\x01\x00"
    )
    common = SOPClassCommonExtendedNegotiationSubItem(
        sop_class_uid=b"1.2.5", service_class_uid=b"1.2.6", related_general_sop_class_uids=(b"7",)
    )
    identity = UserIdentityRQSubItem(
        identity_type=2, positive_response_requested=1, primary_field=b"u", secondary_field=b"p"
    )
    version = ImplementationVersionNameSubItem(name=b"DICOMUL_010 ")
    info = UserInformationItem(sub_items=(role, ext, common, identity, version))
    assert info.role_selections == (role,)
    assert info.extended_negotiations == (ext,)
    assert info.common_extended_negotiations == (common,)
    assert common.related_general_sop_classes == ("7",)
    assert info.user_identity == identity
    assert info.implementation_version_name == "DICOMUL_010"
    assert info.maximum_length is None


# ------------------------------------------------------------------- errors


def _rq_with_variable(items_hex: str) -> bytes:
    fixed = bytes.fromhex("00010000") + ae_title("A") + ae_title("B") + bytes(32)
    body = fixed + bytes.fromhex(items_hex.replace(" ", ""))
    return struct.pack(">BBL", 1, 0, len(body)) + body


APP = "10 00 0003 312e32"
PC = "20 00 000e 01 000000 30 00 0001 31 40 00 0001 32"
UI = "50 00 0008 51 00 0004 00004000"

BAD = [
    pytest.param(b"", 0, AbortReason.INVALID_PDU_PARAMETER_VALUE, id="empty"),
    pytest.param(b"\x01\x00\x00", 3, AbortReason.INVALID_PDU_PARAMETER_VALUE, id="short-header"),
    pytest.param(
        bytes.fromhex("08000000000400000000"), 0, AbortReason.UNRECOGNIZED_PDU, id="unknown-type"
    ),
    pytest.param(
        bytes.fromhex("050000000004000000"),
        9,
        AbortReason.INVALID_PDU_PARAMETER_VALUE,
        id="truncated",
    ),
    pytest.param(
        bytes.fromhex("0500000000040000000000"),
        10,
        AbortReason.INVALID_PDU_PARAMETER_VALUE,
        id="trailing-bytes",
    ),
    pytest.param(
        bytes.fromhex("0500000000050000000000"),
        2,
        AbortReason.INVALID_PDU_PARAMETER_VALUE,
        id="release-wrong-length",
    ),
    pytest.param(
        bytes.fromhex("040000000000"), 2, AbortReason.INVALID_PDU_PARAMETER_VALUE, id="no-pdv"
    ),
    pytest.param(
        bytes.fromhex("04000000000600000001 01 00".replace(" ", "")),
        6,
        AbortReason.INVALID_PDU_PARAMETER_VALUE,
        id="pdv-length-below-2",
    ),
    pytest.param(
        bytes.fromhex("04000000000700000009 0100 61".replace(" ", "")),
        6,
        AbortReason.INVALID_PDU_PARAMETER_VALUE,
        id="pdv-overruns",
    ),
    pytest.param(
        _rq_with_variable(PC + APP + UI),
        74,
        AbortReason.UNEXPECTED_PDU_PARAMETER,
        id="context-before-application-context",
    ),
    pytest.param(
        _rq_with_variable(APP + UI + PC),
        81,
        AbortReason.UNEXPECTED_PDU_PARAMETER,
        id="user-info-before-context",
    ),
    pytest.param(
        _rq_with_variable(APP + APP + PC + UI),
        81,
        AbortReason.UNEXPECTED_PDU_PARAMETER,
        id="two-application-contexts",
    ),
    pytest.param(
        _rq_with_variable(APP + "21 00 0004 01000000" + UI),
        81,
        AbortReason.UNEXPECTED_PDU_PARAMETER,
        id="ac-context-in-rq",
    ),
    pytest.param(
        _rq_with_variable(APP + "77 00 0000" + PC + UI),
        81,
        AbortReason.UNRECOGNIZED_PDU_PARAMETER,
        id="unknown-variable-item",
    ),
    pytest.param(
        _rq_with_variable(APP + "20 00 0009 01 000000 40 00 0001 32" + UI),
        89,
        AbortReason.UNEXPECTED_PDU_PARAMETER,
        id="transfer-before-abstract-syntax",
    ),
    pytest.param(
        _rq_with_variable(APP + "20 00 0004 01 000000" + UI),
        85,
        AbortReason.INVALID_PDU_PARAMETER_VALUE,
        id="context-without-abstract-syntax",
    ),
    pytest.param(
        _rq_with_variable(APP + PC + "50 00 0006 51 00 0002 4000"),
        105,
        AbortReason.INVALID_PDU_PARAMETER_VALUE,
        id="max-length-of-two-bytes",
    ),
    pytest.param(
        _rq_with_variable(APP + PC + "50 00 000b 54 00 0007 0009 312e32 0100"),
        107,
        AbortReason.INVALID_PDU_PARAMETER_VALUE,
        id="role-uid-length-overruns",
    ),
    pytest.param(
        _rq_with_variable(APP + "20 00 00ff 01 000000"),
        83,
        AbortReason.INVALID_PDU_PARAMETER_VALUE,
        id="item-overruns-pdu",
    ),
    pytest.param(
        _rq_with_variable(APP + "2000"),
        81,
        AbortReason.INVALID_PDU_PARAMETER_VALUE,
        id="half-an-item-header",
    ),
    pytest.param(
        struct.pack(">BBL", 1, 0, 10) + bytes(10),
        2,
        AbortReason.INVALID_PDU_PARAMETER_VALUE,
        id="associate-shorter-than-fixed-fields",
    ),
    pytest.param(
        _rq_with_variable(""),
        74,
        AbortReason.INVALID_PDU_PARAMETER_VALUE,
        id="associate-without-application-context",
    ),
]


@pytest.mark.parametrize(("data", "offset", "reason"), BAD)
def test_malformed_input_names_offset_and_abort_reason(
    data: bytes, offset: int, reason: AbortReason
) -> None:
    with pytest.raises(PDUDecodeError) as info:
        decode(data)
    assert info.value.offset == offset
    assert info.value.abort_reason == reason
    assert info.value.abort_source == 2  # service provider, PS3.8 Table 9-26
    assert f"at byte offset {offset}" in str(info.value)
    assert isinstance(info.value, RemoteProtocolError)


def test_well_formed_variants_of_the_bad_table_decode() -> None:
    """The error table's builder makes valid PDUs too, so the errors above come
    from the one defect each, not from the helper."""
    rq = decode(_rq_with_variable(APP + PC + UI), strict=False)
    assert isinstance(rq, AssociateRQ)
    assert rq.presentation_contexts[0].transfer_syntax_uids == ("2",)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: AbortRQ(source=256), "source"),
        (lambda: ReleaseRQ(reserved_7_10=-1), "reserved_7_10"),
        (lambda: AssociateRJ(result=1, source=1, reason=1000), "reason"),
        (lambda: MaximumLengthSubItem(maximum_length=1 << 32), "maximum_length"),
        (lambda: PresentationDataValue(context_id=300, control_header=0, data=b""), "context_id"),
        (lambda: PresentationDataValue(context_id=1, control_header=0, data="x"), "bytes"),
        (lambda: PDataTF(pdvs=()), "non-empty"),
        (lambda: TransferSyntaxItem(name="1.2"), "bytes"),
        (lambda: UnknownSubItem(item_type=0x51, data=b""), "known"),
        (lambda: ae_title("MUCH-TOO-LONG-AE-TITLE"), "longer than 16"),
        (lambda: ae_title("   "), "empty"),
        (lambda: ae_title("BACK\\SLASH"), "not allowed"),
        (lambda: uid("1.02.3"), "not a valid UID"),
        (
            lambda: AssociateRQ(
                called_ae_title=b"SHORT",
                calling_ae_title=ae_title("B"),
                application_context=ApplicationContextItem(name=b"1"),
                presentation_contexts=(),
                user_information=None,
            ),
            "exactly 16",
        ),
        (
            lambda: encode(
                UserInformationItem(
                    sub_items=(UnknownSubItem(item_type=0x70, data=bytes(0xFFFF)),)
                )  # type: ignore[arg-type]
            ),
            "not a PDU",
        ),
        (
            lambda: UserInformationItem(
                sub_items=(UnknownSubItem(item_type=0x70, data=bytes(0xFFFF)),)
            ).encode(),
            "two-byte item-length",
        ),
    ],
)
def test_local_misuse_is_a_local_protocol_error(build: object, match: str) -> None:
    if COMPILED and match in ("bytes", "not a PDU"):
        # A value of the wrong Python type (str for bytes, an item for a PDU):
        # compiled, a class or function whose parameter is of one type (not
        # a union) refuses it itself.
        with pytest.raises((LocalProtocolError, TypeError), match=f"{match}|{WRONG_TYPE}"):
            build()  # type: ignore[operator]
        return
    with pytest.raises(LocalProtocolError, match=match):
        build()  # type: ignore[operator]


def test_local_and_remote_errors_are_distinct_types() -> None:
    assert not issubclass(LocalProtocolError, RemoteProtocolError)
    assert not issubclass(PDUDecodeError, LocalProtocolError)
    assert issubclass(LocalProtocolError, ProtocolError)
    assert issubclass(PDUDecodeError, ProtocolError)


def test_strict_mode_checks_what_a_receiver_may_skip() -> None:
    even_context = _rq_with_variable(APP + PC.replace("01 000000", "02 000000") + UI)
    assert decode(even_context).presentation_contexts[0].context_id == 2  # type: ignore[union-attr]
    with pytest.raises(PDUDecodeError, match="even"):
        decode(even_context, strict=True)
    reserved_abort = bytes.fromhex("07000000000400000103")
    assert decode(reserved_abort) == AbortRQ(source=1, reason=3)
    with pytest.raises(PDUDecodeError, match="reserved"):
        decode(reserved_abort, strict=True)
    no_user_info = _rq_with_variable(APP + PC)
    assert decode(no_user_info).user_information is None  # type: ignore[union-attr]
    with pytest.raises(PDUDecodeError, match="no user information"):
        decode(no_user_info, strict=True)


def test_rejected_context_may_omit_its_transfer_syntax() -> None:
    ac = AssociateAC(
        called_ae_title=ae_title("A"),
        calling_ae_title=ae_title("B"),
        application_context=ApplicationContextItem(name=b"1.2.840.10008.3.1.1.1"),
        presentation_contexts=(
            PresentationContextACItem(
                context_id=3,
                result=ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED,
                transfer_syntax=None,
            ),
        ),
        user_information=UserInformationItem(
            sub_items=(UserIdentityACSubItem(server_response=b""),)
        ),
    )
    data = encode(ac)
    assert decode(data, strict=True) == ac
    assert decode(data).presentation_contexts[0].transfer_syntax_uid is None  # type: ignore[union-attr]


def test_decoded_enums_are_named_and_reserved_values_stay_ints() -> None:
    rj = decode(bytes.fromhex("03000000000400020302"))
    assert isinstance(rj, AssociateRJ)
    assert (rj.source, rj.reason) == (
        RejectSource.SERVICE_PROVIDER_PRESENTATION,
        RejectReasonPresentation.LOCAL_LIMIT_EXCEEDED,
    )
    if not COMPILED:  # compiled, an int field holds a plain int (bench/README.md)
        assert rj.source.name == "SERVICE_PROVIDER_PRESENTATION"  # type: ignore[attr-defined]
        assert rj.reason.name == "LOCAL_LIMIT_EXCEEDED"  # type: ignore[attr-defined]
    odd = decode(bytes.fromhex("03000000000400090909"))
    assert isinstance(odd, AssociateRJ)
    assert (odd.result, odd.source, odd.reason) == (9, 9, 9)


def test_pdata_payload_is_a_view_not_a_copy() -> None:
    payload = bytes(range(256)) * 512  # 128 KiB
    data = encode(
        PDataTF(pdvs=(PresentationDataValue(context_id=1, control_header=2, data=payload),))
    )
    decoded = decode(data)
    assert isinstance(decoded, PDataTF)
    view = decoded.pdvs[0].data
    assert isinstance(view, memoryview)
    assert view.obj is data  # sliced out of the input, no copy
    assert view == payload
    assert decoded.pdvs[0].is_last
    assert not decoded.pdvs[0].is_command


# --------------------------------------------------------------- properties

# Each public strategy and the class it builds ("sub_items" builds any sub-item).
STRATEGY_CLASSES: dict[str, type] = {
    "abort_pdus": AbortRQ,
    "abstract_syntax_items": AbstractSyntaxItem,
    "application_context_items": ApplicationContextItem,
    "associate_ac_pdus": AssociateAC,
    "associate_rj_pdus": AssociateRJ,
    "associate_rq_pdus": AssociateRQ,
    "asynchronous_operations_window_sub_items": AsynchronousOperationsWindowSubItem,
    "implementation_class_uid_sub_items": ImplementationClassUIDSubItem,
    "implementation_version_name_sub_items": ImplementationVersionNameSubItem,
    "maximum_length_sub_items": MaximumLengthSubItem,
    "p_data_tf_pdus": PDataTF,
    "pdus": object,
    "pdvs": PresentationDataValue,
    "presentation_context_ac_items": PresentationContextACItem,
    "presentation_context_rq_items": PresentationContextRQItem,
    "release_rp_pdus": ReleaseRP,
    "release_rq_pdus": ReleaseRQ,
    "role_selection_sub_items": RoleSelectionSubItem,
    "sop_class_common_extended_negotiation_sub_items": SOPClassCommonExtendedNegotiationSubItem,
    "sop_class_extended_negotiation_sub_items": SOPClassExtendedNegotiationSubItem,
    "transfer_syntax_items": TransferSyntaxItem,
    "unknown_sub_items": UnknownSubItem,
    "user_identity_ac_sub_items": UserIdentityACSubItem,
    "user_identity_rq_sub_items": UserIdentityRQSubItem,
    "user_information_items": UserInformationItem,
    "user_information_sub_items": object,
}


def test_every_pdu_and_item_class_has_a_strategy() -> None:
    classes = {
        obj
        for name, obj in inspect.getmembers(pdu, inspect.isclass)
        if obj.__module__.startswith("dicomul") and name in pdu.__all__
    }
    assert classes - set(STRATEGY_CLASSES.values()) == set()
    others = {"uids", "ae_titles", "pdu_streams", "commands"}  # tested in their own modules
    assert set(strategies.__all__) - others == set(STRATEGY_CLASSES)


@pytest.mark.parametrize("name", sorted(STRATEGY_CLASSES))
@given(data=st.data())
def test_roundtrip_every_strategy(name: str, data: st.DataObject) -> None:
    """encode then decode gives an equal object, for every item and PDU."""
    value = data.draw(getattr(strategies, name)())
    assert isinstance(value, STRATEGY_CLASSES[name])
    if isinstance(value, pdu._PDU_CLASSES):
        assert decode(encode(value)) == value
    else:  # an item: decode it inside a PDU that carries it
        assert _decode_item_via_pdu(value) == value


@given(strategies.uids(quirks=False))
def test_uids_follow_annex_f(raw: bytes) -> None:
    assert uid(raw.decode()) == raw


@given(strategies.ae_titles())
def test_ae_titles_are_valid_sixteen_byte_fields(raw: bytes) -> None:
    assert len(raw) == 16
    assert ae_title(raw.decode().strip(" ")).strip(b" ") == raw.strip(b" ")


def _decode_item_via_pdu(item: object) -> object:
    app = ApplicationContextItem(name=b"1.2.840.10008.3.1.1.1")
    pc = PresentationContextRQItem(
        context_id=1,
        abstract_syntax=AbstractSyntaxItem(name=b"1.2"),
        transfer_syntaxes=(TransferSyntaxItem(name=b"1.2.3"),),
    )
    fields = {
        "called_ae_title": ae_title("A"),
        "calling_ae_title": ae_title("B"),
        "application_context": app,
        "presentation_contexts": (pc,),
        "user_information": None,
    }
    if isinstance(item, ApplicationContextItem):
        fields["application_context"] = item
        return decode(AssociateRQ(**fields).encode()).application_context  # type: ignore[arg-type, union-attr]
    if isinstance(item, PresentationContextRQItem):
        fields["presentation_contexts"] = (item,)
        return decode(AssociateRQ(**fields).encode()).presentation_contexts[0]  # type: ignore[arg-type, union-attr]
    if isinstance(item, PresentationContextACItem):
        fields["presentation_contexts"] = (item,)
        return decode(AssociateAC(**fields).encode()).presentation_contexts[0]  # type: ignore[arg-type, union-attr]
    if isinstance(item, AbstractSyntaxItem):
        fields["presentation_contexts"] = (PresentationContextRQItem(
            context_id=1, abstract_syntax=item, transfer_syntaxes=pc.transfer_syntaxes
        ),)  # fmt: skip
        return decode(AssociateRQ(**fields).encode()).presentation_contexts[0].abstract_syntax  # type: ignore[arg-type, union-attr]
    if isinstance(item, TransferSyntaxItem):
        fields["presentation_contexts"] = (PresentationContextRQItem(
            context_id=1, abstract_syntax=pc.abstract_syntax, transfer_syntaxes=(item,)
        ),)  # fmt: skip
        return decode(AssociateRQ(**fields).encode()).presentation_contexts[0].transfer_syntaxes[0]  # type: ignore[arg-type, union-attr]
    if isinstance(item, PresentationDataValue):
        return decode(PDataTF(pdvs=(item,)).encode()).pdvs[0]  # type: ignore[union-attr]
    info = (
        item if isinstance(item, UserInformationItem) else UserInformationItem(sub_items=(item,))
    )  # type: ignore[arg-type]
    fields["user_information"] = info
    decoded = decode(AssociateRQ(**fields).encode()).user_information  # type: ignore[arg-type, union-attr]
    return decoded if isinstance(item, UserInformationItem) else decoded.sub_items[0]  # type: ignore[union-attr]


@given(strategies.pdus(quirks=False))
def test_strategies_without_quirks_pass_strict_decoding(value: pdu.PDU) -> None:
    assert decode(encode(value), strict=True) == value


@given(strategies.pdus())
def test_encode_of_decode_is_identity(value: pdu.PDU) -> None:
    data = encode(value)
    assert encode(decode(data)) == data


@given(st.binary(max_size=512))
def test_arbitrary_bytes_raise_only_protocol_error(data: bytes) -> None:
    try:
        result = decode(data)
    except ProtocolError:
        return
    assert encode(result) == data  # whatever decodes re-encodes identically


@st.composite
def mutated_pdus(draw: st.DrawFn) -> bytes:
    """A valid PDU damaged the ways a stream gets damaged."""
    data = bytearray(encode(draw(strategies.pdus())))
    kind = draw(st.sampled_from(["truncate", "flip", "length", "item-length", "extend"]))
    if kind == "truncate":
        del data[draw(st.integers(0, len(data) - 1)) :]
    elif kind == "flip":
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
    elif kind == "length":
        struct.pack_into(">L", data, 2, draw(st.integers(0, 0xFFFFFFFF)))
    elif kind == "item-length" and len(data) > 8:
        pos = draw(st.integers(6, len(data) - 2))
        struct.pack_into(">H", data, pos, draw(st.integers(0, 0xFFFF)))
    else:
        data += draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


@given(mutated_pdus())
def test_mutated_pdus_raise_only_protocol_error(data: bytes) -> None:
    try:
        result = decode(data)
    except ProtocolError as exc:
        assert isinstance(exc, PDUDecodeError)
        assert 0 <= exc.offset <= len(data)
        return
    assert encode(result) == data
