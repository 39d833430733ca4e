"""Hypothesis strategies for every PDU, item and sub-item of dicomul.

Every strategy builds values that are valid by construction: they encode
without error and decode back to an equal object.  They reach the corners
real peers reach: odd-length UIDs, AE titles with leading and trailing
spaces, and the largest sizes the length fields allow (a 64-character UID, a
user identity token that fills its item to the last byte).  With
``quirks=True`` (the default) they also produce what real peers send although
PS3.8 Annex F forbids it: UIDs padded with a trailing NUL to an even length.
``quirks=False`` gives values that pass ``decode(..., strict=True)`` too.

This is the only module of dicomul that imports hypothesis; install the
``testing`` extra (``pip install dicomul[testing]``) to use it.

Examples
--------
Fuzz your own PDU handling::

    from hypothesis import given
    from dicomul import pdu
    from dicomul.testing.strategies import pdus

    @given(pdus())
    def test_my_proxy_forwards_every_pdu(p):
        assert my_proxy_roundtrip(pdu.encode(p)) == pdu.encode(p)
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import strategies as st

from dicomul import pdu as _pdu
from dicomul._command import _DATA_SET_REQUIRED as _DATA_SET_MESSAGES
from dicomul._command import _ELEMENTS as _COMMAND_ELEMENTS
from dicomul._command import NO_DATA_SET, REQUIRED_FIELDS, Command, Priority
from dicomul._enums import (
    REJECT_REASONS,
    AbortReason,
    AbortSource,
    ContextResult,
    MessageControlHeader,
    RejectResult,
    RoleValue,
    UserIdentityType,
)
from dicomul.pdu import (
    PDU,
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
    SubItem,
    TransferSyntaxItem,
    UnknownSubItem,
    UserIdentityACSubItem,
    UserIdentityRQSubItem,
    UserInformationItem,
)

__all__ = [
    "abort_pdus",
    "abstract_syntax_items",
    "ae_titles",
    "application_context_items",
    "associate_ac_pdus",
    "associate_rj_pdus",
    "associate_rq_pdus",
    "asynchronous_operations_window_sub_items",
    "commands",
    "implementation_class_uid_sub_items",
    "implementation_version_name_sub_items",
    "maximum_length_sub_items",
    "p_data_tf_pdus",
    "pdu_streams",
    "pdus",
    "pdvs",
    "presentation_context_ac_items",
    "presentation_context_rq_items",
    "release_rp_pdus",
    "release_rq_pdus",
    "role_selection_sub_items",
    "sop_class_common_extended_negotiation_sub_items",
    "sop_class_extended_negotiation_sub_items",
    "transfer_syntax_items",
    "uids",
    "unknown_sub_items",
    "user_identity_ac_sub_items",
    "user_identity_rq_sub_items",
    "user_information_items",
    "user_information_sub_items",
]

_MAX_ITEM = 0xFFFF
_AE_CHARS = "".join(chr(c) for c in range(0x20, 0x7F) if c != 0x5C)
_KNOWN_UIDS = (
    "1.2.840.10008.3.1.1.1",
    "1.2.840.10008.1.1",
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.5.1.4.1.1.2",
    "1.2.840.10008.5.1.4.1.2.2.1",
)


def _blob(size: int) -> st.SearchStrategy[bytes]:
    """Bytes of exactly ``size``: cheap even when ``size`` is far past hypothesis's buffer."""
    if size <= 64:
        return st.binary(min_size=size, max_size=size)
    return st.builds(
        lambda head, fill: head + bytes([fill]) * (size - len(head)),
        st.binary(max_size=16),
        st.integers(0, 255),
    )


def _component() -> st.SearchStrategy[str]:
    return st.one_of(st.just("0"), st.integers(1, 10**12).map(str))


@st.composite
def _uid_text(draw: st.DrawFn) -> str:
    """A UID string of PS3.8 Annex F: digits, dots, no leading zeros, 1-64 chars."""
    if draw(st.booleans()):
        return draw(st.sampled_from(_KNOWN_UIDS))
    parts = draw(st.lists(_component(), min_size=1, max_size=12))
    # Cutting at 64 characters shortens the last component or leaves a dot.
    return ".".join(parts)[:64].rstrip(".")


def uids(*, quirks: bool = True) -> st.SearchStrategy[bytes]:
    """UIDs as PDU items carry them, up to the 64 characters Annex F allows.

    With ``quirks``, an odd-length UID is sometimes padded with one trailing
    NUL, as some peers do although Annex F says not to.
    """
    longest = st.just("1." + "2" * 62)
    text = st.one_of(_uid_text(), longest)
    raw = text.map(lambda s: s.encode("ascii"))
    if not quirks:
        return raw
    return st.tuples(raw, st.booleans()).map(
        lambda rp: rp[0] + b"\x00" if rp[1] and len(rp[0]) % 2 else rp[0]
    )


@st.composite
def ae_titles(draw: st.DrawFn) -> bytes:
    """16-byte AE title fields: 1-16 significant characters, any space padding."""
    core = draw(st.text(_AE_CHARS.replace(" ", ""), min_size=1, max_size=16))
    middle = draw(st.text(_AE_CHARS, max_size=16 - len(core)))
    title = (core + middle).rstrip(" ") if draw(st.booleans()) else core + middle
    title = title[:16]
    lead = draw(st.integers(0, 16 - len(title)))
    return (" " * lead + title).ljust(16).encode("ascii")


def application_context_items(*, quirks: bool = True) -> st.SearchStrategy[ApplicationContextItem]:
    """Application Context Items (PS3.8 9.3.2.1), mostly the DICOM context."""
    names = st.one_of(st.just(_pdu.DICOM_APPLICATION_CONTEXT.encode()), uids(quirks=quirks))
    return st.builds(ApplicationContextItem, name=names)


def abstract_syntax_items(*, quirks: bool = True) -> st.SearchStrategy[AbstractSyntaxItem]:
    """Abstract Syntax Sub-Items (PS3.8 9.3.2.2.1)."""
    return st.builds(AbstractSyntaxItem, name=uids(quirks=quirks))


def transfer_syntax_items(*, quirks: bool = True) -> st.SearchStrategy[TransferSyntaxItem]:
    """Transfer Syntax Sub-Items (PS3.8 9.3.2.2.2)."""
    return st.builds(TransferSyntaxItem, name=uids(quirks=quirks))


def _context_ids() -> st.SearchStrategy[int]:
    return st.integers(0, 127).map(lambda n: 2 * n + 1)


def presentation_context_rq_items(
    *, quirks: bool = True
) -> st.SearchStrategy[PresentationContextRQItem]:
    """Presentation Context Items of an A-ASSOCIATE-RQ (PS3.8 9.3.2.2)."""
    return st.builds(
        PresentationContextRQItem,
        context_id=_context_ids(),
        abstract_syntax=abstract_syntax_items(quirks=quirks),
        transfer_syntaxes=st.lists(
            transfer_syntax_items(quirks=quirks), min_size=1, max_size=8
        ).map(tuple),
    )


def presentation_context_ac_items(
    *, quirks: bool = True
) -> st.SearchStrategy[PresentationContextACItem]:
    """Presentation Context Items of an A-ASSOCIATE-AC (PS3.8 9.3.3.2)."""
    return st.builds(
        PresentationContextACItem,
        context_id=_context_ids(),
        result=st.sampled_from(ContextResult),
        transfer_syntax=transfer_syntax_items(quirks=quirks),
    )


def maximum_length_sub_items() -> st.SearchStrategy[MaximumLengthSubItem]:
    """Maximum Length Sub-Items (PS3.8 D.1), 0 (unlimited) to 2**32 - 1."""
    return st.builds(
        MaximumLengthSubItem,
        maximum_length=st.one_of(
            st.sampled_from([0, 16382, 16384, 131072, 0xFFFFFFFF]), st.integers(0, 0xFFFFFFFF)
        ),
    )


def implementation_class_uid_sub_items(
    *, quirks: bool = True
) -> st.SearchStrategy[ImplementationClassUIDSubItem]:
    """Implementation Class UID Sub-Items (PS3.7 D.3.3.2)."""
    return st.builds(ImplementationClassUIDSubItem, name=uids(quirks=quirks))


def implementation_version_name_sub_items() -> st.SearchStrategy[ImplementationVersionNameSubItem]:
    """Implementation Version Name Sub-Items (PS3.7 D.3.3.2): 1-16 characters."""
    names = st.text(_AE_CHARS, min_size=1, max_size=16).map(lambda s: s.encode("ascii"))
    return st.builds(ImplementationVersionNameSubItem, name=names)


def asynchronous_operations_window_sub_items() -> st.SearchStrategy[
    AsynchronousOperationsWindowSubItem
]:
    """Asynchronous Operations Window Sub-Items (PS3.7 D.3.3.3)."""
    return st.builds(
        AsynchronousOperationsWindowSubItem,
        max_operations_invoked=st.integers(0, 0xFFFF),
        max_operations_performed=st.integers(0, 0xFFFF),
    )


def role_selection_sub_items(*, quirks: bool = True) -> st.SearchStrategy[RoleSelectionSubItem]:
    """SCP/SCU Role Selection Sub-Items (PS3.7 D.3.3.4)."""
    return st.builds(
        RoleSelectionSubItem,
        sop_class_uid=uids(quirks=quirks),
        scu_role=st.sampled_from(RoleValue),
        scp_role=st.sampled_from(RoleValue),
    )


def sop_class_extended_negotiation_sub_items(
    *, quirks: bool = True
) -> st.SearchStrategy[SOPClassExtendedNegotiationSubItem]:
    """SOP Class Extended Negotiation Sub-Items (PS3.7 D.3.3.5)."""
    return st.builds(
        SOPClassExtendedNegotiationSubItem,
        sop_class_uid=uids(quirks=quirks),
        service_class_application_information=st.binary(max_size=32),
    )


def sop_class_common_extended_negotiation_sub_items(
    *, quirks: bool = True
) -> st.SearchStrategy[SOPClassCommonExtendedNegotiationSubItem]:
    """SOP Class Common Extended Negotiation Sub-Items (PS3.7 D.3.3.6)."""
    return st.builds(
        SOPClassCommonExtendedNegotiationSubItem,
        sop_class_uid=uids(quirks=quirks),
        service_class_uid=uids(quirks=quirks),
        related_general_sop_class_uids=st.lists(uids(quirks=quirks), max_size=4).map(tuple),
    )


def user_identity_rq_sub_items(
    *, primary_size: int | None = None
) -> st.SearchStrategy[UserIdentityRQSubItem]:
    """User Identity Negotiation Sub-Items of an RQ (PS3.7 D.3.3.7.1).

    ``primary_size`` fixes the primary field's length (to build the largest
    legal item); by default it is short.
    """
    primary = st.binary(max_size=40) if primary_size is None else _blob(primary_size)

    @st.composite
    def build(draw: st.DrawFn) -> UserIdentityRQSubItem:
        identity_type = draw(st.sampled_from(UserIdentityType))
        secondary = b""
        if identity_type == UserIdentityType.USERNAME_AND_PASSCODE and primary_size is None:
            secondary = draw(st.binary(max_size=40))
        return UserIdentityRQSubItem(
            identity_type=identity_type,
            positive_response_requested=draw(st.integers(0, 1)),
            primary_field=draw(primary),
            secondary_field=secondary,
        )

    return build()


def user_identity_ac_sub_items() -> st.SearchStrategy[UserIdentityACSubItem]:
    """User Identity Negotiation Sub-Items of an AC (PS3.7 D.3.3.7.2)."""
    return st.builds(UserIdentityACSubItem, server_response=st.binary(max_size=40))


def unknown_sub_items() -> st.SearchStrategy[UnknownSubItem]:
    """Sub-items of types PS3.7 does not define, which a receiver must keep."""
    known = {0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59}
    types = st.integers(0, 255).filter(lambda t: t not in known)
    return st.builds(UnknownSubItem, item_type=types, data=st.binary(max_size=24))


def user_information_sub_items(*, quirks: bool = True) -> st.SearchStrategy[SubItem]:
    """Any one user information sub-item."""
    return st.one_of(
        maximum_length_sub_items(),
        implementation_class_uid_sub_items(quirks=quirks),
        implementation_version_name_sub_items(),
        asynchronous_operations_window_sub_items(),
        role_selection_sub_items(quirks=quirks),
        sop_class_extended_negotiation_sub_items(quirks=quirks),
        sop_class_common_extended_negotiation_sub_items(quirks=quirks),
        user_identity_rq_sub_items(),
        user_identity_ac_sub_items(),
        unknown_sub_items(),
    )


# Sub-items of the fullest legal user information item: a maximum length
# sub-item (8 bytes) and a user identity sub-item (10 bytes of fixed fields)
# whose primary field takes the rest of the 65535 bytes the item-length allows.
_FULLEST_PRIMARY = _MAX_ITEM - 8 - 10


def user_information_items(*, quirks: bool = True) -> st.SearchStrategy[UserInformationItem]:
    """User Information Items (PS3.8 9.3.2.3): a maximum length sub-item first,
    as peers send it, then any others; sometimes one filled to the last byte."""
    typical = st.builds(
        lambda first, rest: UserInformationItem(sub_items=(first, *rest)),
        maximum_length_sub_items(),
        st.lists(user_information_sub_items(quirks=quirks), max_size=6),
    )
    fullest = st.builds(
        lambda first, identity: UserInformationItem(sub_items=(first, identity)),
        maximum_length_sub_items(),
        user_identity_rq_sub_items(primary_size=_FULLEST_PRIMARY),
    )
    return st.one_of(typical, typical, typical, fullest)


def _all_128_contexts(pc: PresentationContextRQItem) -> tuple[PresentationContextRQItem, ...]:
    """The most an A-ASSOCIATE-RQ can propose: every odd ID from 1 to 255."""
    return tuple(replace(pc, context_id=2 * n + 1) for n in range(128))


def associate_rq_pdus(*, quirks: bool = True) -> st.SearchStrategy[AssociateRQ]:
    """A-ASSOCIATE-RQ PDUs (PS3.8 9.3.2) with 1 to 128 presentation contexts."""
    return st.builds(
        AssociateRQ,
        called_ae_title=ae_titles(),
        calling_ae_title=ae_titles(),
        application_context=application_context_items(quirks=quirks),
        presentation_contexts=st.one_of(
            st.lists(presentation_context_rq_items(quirks=quirks), min_size=1, max_size=6).map(
                tuple
            ),
            presentation_context_rq_items(quirks=quirks).map(_all_128_contexts),
        ),
        user_information=user_information_items(quirks=quirks),
    )


def associate_ac_pdus(*, quirks: bool = True) -> st.SearchStrategy[AssociateAC]:
    """A-ASSOCIATE-AC PDUs (PS3.8 9.3.3)."""
    return st.builds(
        AssociateAC,
        called_ae_title=ae_titles(),
        calling_ae_title=ae_titles(),
        application_context=application_context_items(quirks=quirks),
        presentation_contexts=st.lists(
            presentation_context_ac_items(quirks=quirks), min_size=1, max_size=6
        ).map(tuple),
        user_information=user_information_items(quirks=quirks),
    )


def associate_rj_pdus() -> st.SearchStrategy[AssociateRJ]:
    """A-ASSOCIATE-RJ PDUs (PS3.8 9.3.4): result, source and reason as Table 9-21 pairs them."""
    pairs = [(source, reason) for source, enum in REJECT_REASONS.items() for reason in enum]
    return st.builds(
        lambda result, pair: AssociateRJ(result=result, source=pair[0], reason=pair[1]),
        st.sampled_from(RejectResult),
        st.sampled_from(pairs),
    )


def pdvs(*, max_data: int = 256) -> st.SearchStrategy[PresentationDataValue]:
    """Presentation data values: a fragment on an odd context, any control bits of Annex E."""
    data = st.one_of(
        st.binary(max_size=min(max_data, 64)), st.integers(0, max_data).flatmap(_blob)
    )
    return st.builds(
        PresentationDataValue,
        context_id=_context_ids(),
        control_header=st.sampled_from(
            [
                0,
                MessageControlHeader.COMMAND,
                MessageControlHeader.LAST,
                MessageControlHeader.COMMAND | MessageControlHeader.LAST,
            ]
        ).map(int),
        data=data,
    )


def p_data_tf_pdus(*, max_data: int = 256) -> st.SearchStrategy[PDataTF]:
    """P-DATA-TF PDUs (PS3.8 9.3.5) of one to four PDVs."""
    return st.builds(
        PDataTF, pdvs=st.lists(pdvs(max_data=max_data), min_size=1, max_size=4).map(tuple)
    )


def release_rq_pdus() -> st.SearchStrategy[ReleaseRQ]:
    """A-RELEASE-RQ PDUs (PS3.8 9.3.6)."""
    return st.builds(ReleaseRQ)


def release_rp_pdus() -> st.SearchStrategy[ReleaseRP]:
    """A-RELEASE-RP PDUs (PS3.8 9.3.7)."""
    return st.builds(ReleaseRP)


def abort_pdus() -> st.SearchStrategy[AbortRQ]:
    """A-ABORT PDUs (PS3.8 9.3.8): service-user or service-provider with a Table 9-26 reason."""
    reasons = [r for r in AbortReason if r != AbortReason.RESERVED]
    return st.one_of(
        st.builds(
            AbortRQ,
            source=st.just(AbortSource.SERVICE_USER),
            reason=st.just(AbortReason.NOT_SPECIFIED),
        ),
        st.builds(
            AbortRQ, source=st.just(AbortSource.SERVICE_PROVIDER), reason=st.sampled_from(reasons)
        ),
    )


def pdus(*, quirks: bool = True) -> st.SearchStrategy[PDU]:
    """Any one PDU."""
    return st.one_of(
        associate_rq_pdus(quirks=quirks),
        associate_ac_pdus(quirks=quirks),
        associate_rj_pdus(),
        p_data_tf_pdus(),
        release_rq_pdus(),
        release_rp_pdus(),
        abort_pdus(),
    )


def _optional(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(st.none(), strategy)


@st.composite
def commands(draw: st.DrawFn) -> Command:
    """DIMSE command sets (PS3.7 9.3, 10.3): any command field, its required
    fields filled in, others present or not, sometimes an unknown element."""
    field = draw(st.sampled_from(sorted(REQUIRED_FIELDS)))
    ushort = st.integers(0, 0xFFFF)
    text_uid = uids(quirks=False).map(bytes.decode)
    aet = st.text(_AE_CHARS.replace(" ", ""), min_size=1, max_size=16)
    tags = st.lists(st.integers(0, 0xFFFFFFFF), min_size=1, max_size=4).map(tuple)
    values: dict[str, st.SearchStrategy[object]] = {
        "message_id": ushort,
        "message_id_being_responded_to": ushort,
        "affected_sop_class_uid": text_uid,
        "requested_sop_class_uid": text_uid,
        "affected_sop_instance_uid": text_uid,
        "requested_sop_instance_uid": text_uid,
        "move_destination": aet,
        "priority": st.sampled_from(Priority).map(int),
        "status": ushort,
        "offending_element": tags,
        "error_comment": st.text(_AE_CHARS.replace(" ", ""), max_size=64),
        "error_id": ushort,
        "event_type_id": ushort,
        "attribute_identifier_list": tags,
        "action_type_id": ushort,
        "number_of_remaining_suboperations": ushort,
        "number_of_completed_suboperations": ushort,
        "number_of_failed_suboperations": ushort,
        "number_of_warning_suboperations": ushort,
        "move_originator_application_entity_title": aet,
        "move_originator_message_id": ushort,
    }
    required = set(REQUIRED_FIELDS[field])
    chosen = {
        name: draw(strategy if name in required else _optional(strategy))
        for name, strategy in values.items()
    }
    data_set_type = draw(st.sampled_from([0x0000, 0x0001, 0xFEFE] + [NO_DATA_SET] * 2))
    if field in _DATA_SET_MESSAGES and data_set_type == NO_DATA_SET:
        data_set_type = 0x0000
    known = {tag for tag, _, _ in _COMMAND_ELEMENTS} | {0}
    extra = draw(
        st.lists(
            st.tuples(
                st.integers(1, 0xFFFF).filter(lambda t: t not in known),
                st.binary(max_size=8).map(lambda b: b + b"\x00" * (len(b) % 2)),
            ),
            max_size=2,
            unique_by=lambda e: e[0],
        )
    )
    return Command(
        command_field=field,
        command_data_set_type=data_set_type,
        extra_elements=tuple(sorted(extra)),
        **{name: value for name, value in chosen.items() if value is not None},  # type: ignore[arg-type]
    )


def pdu_streams(
    *, min_size: int = 1, max_size: int = 8, quirks: bool = True
) -> st.SearchStrategy[tuple[list[PDU], bytes]]:
    """Several PDUs and the byte stream that carries them back to back."""
    return st.lists(pdus(quirks=quirks), min_size=min_size, max_size=max_size).map(
        lambda items: (items, b"".join(_pdu.encode(p) for p in items))
    )
