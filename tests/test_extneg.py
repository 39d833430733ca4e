"""Extended negotiation stated by the application (dicomul._extneg and
negotiate's ``answers``): what a requestor's ``with_negotiation`` puts in
the A-ASSOCIATE-RQ, what an acceptor reads out of it, and how its answers
shape the A-ASSOCIATE-AC (PS3.7 D.3.3.3 to D.3.3.7)."""

from __future__ import annotations

import dataclasses

import pytest

from dicomul import (
    AcceptorConfig,
    AssociationRequest,
    AsynchronousOperationsWindowNegotiation,
    ItemType,
    Negotiated,
    NegotiationAnswers,
    RoleProposal,
    SOPClassCommonExtendedNegotiation,
    SOPClassExtendedNegotiation,
    SupportedContext,
    UserIdentity,
    build_associate_rq,
    interpret_ac,
    negotiate,
    pdu,
    propose_contexts,
    requested_negotiation,
)
from dicomul.pdu import AssociateAC

CT = "1.2.840.10008.5.1.4.1.1.2"
FIND = "1.2.840.10008.5.1.4.1.2.1.1"
EXPLICIT = "1.2.840.10008.1.2.1"
STORAGE_SERVICE = "1.2.840.10008.4.2"

CONFIG = AcceptorConfig(
    ae_title="SCP",
    supported={
        CT: SupportedContext(transfer_syntaxes=(EXPLICIT,), scp_role=True),
        FIND: SupportedContext(transfer_syntaxes=(EXPLICIT,)),
    },
)
BASE = AssociationRequest(
    calling_ae_title="SCU",
    called_ae_title="SCP",
    contexts=propose_contexts([CT, FIND], [EXPLICIT]),
)
ITEMS = [
    AsynchronousOperationsWindowNegotiation(5, 4),
    RoleProposal(sop_class=CT, scu=True, scp=True),
    SOPClassExtendedNegotiation(FIND, b"\x01\x01"),
    SOPClassCommonExtendedNegotiation(CT, STORAGE_SERVICE, ("1.2.3",)),
    UserIdentity.username("bob"),
]


def decided(
    items: list[object], answers: NegotiationAnswers | None, config: AcceptorConfig = CONFIG
) -> tuple[pdu.AssociateRQ, AssociateAC, Negotiated]:
    rq = pdu.decode(pdu.encode(build_associate_rq(BASE.with_negotiation(items))))
    assert isinstance(rq, pdu.AssociateRQ)
    ac, negotiated = negotiate(rq, config, answers=answers)
    assert isinstance(ac, AssociateAC)
    assert negotiated is not None
    decoded = pdu.decode(pdu.encode(ac))
    assert isinstance(decoded, AssociateAC)
    return rq, decoded, negotiated


def test_with_negotiation_puts_every_item_in_the_request() -> None:
    rq = build_associate_rq(BASE.with_negotiation(ITEMS))
    info = rq.user_information
    assert info is not None
    window = info.asynchronous_operations_window
    assert window is not None
    assert (window.max_operations_invoked, window.max_operations_performed) == (5, 4)
    assert [(r.sop_class, r.scu_role, r.scp_role) for r in info.role_selections] == [(CT, 1, 1)]
    assert info.user_identity is not None
    asked = requested_negotiation(rq)
    assert asked.asynchronous_operations == (5, 4)
    assert asked.extended_negotiation == {FIND: b"\x01\x01"}
    assert asked.common_extended_negotiation == {CT: ITEMS[3]}


def test_a_later_item_replaces_one_for_the_same_sop_class() -> None:
    request = BASE.with_negotiation(
        [SOPClassExtendedNegotiation(FIND, b"\x01"), SOPClassExtendedNegotiation(FIND, b"\x02")]
    )
    assert dict(request.extended_negotiation) == {FIND: b"\x02"}


def test_with_negotiation_refuses_other_objects() -> None:
    with pytest.raises(TypeError, match="not an extended negotiation item"):
        BASE.with_negotiation([(FIND, b"\x01")])


def test_a_second_user_identity_is_refused_not_silently_chosen() -> None:
    bob, alice = UserIdentity.username("bob"), UserIdentity.username("alice")
    with pytest.raises(ValueError, match="two user identities"):
        BASE.with_negotiation([bob, alice])
    with pytest.raises(ValueError, match="two user identities"):
        dataclasses.replace(BASE, user_identity=bob).with_negotiation([alice])
    # The same identity given both ways is one identity.
    same = dataclasses.replace(BASE, user_identity=bob).with_negotiation([bob])
    assert same.user_identity == bob


def test_records_check_their_values() -> None:
    with pytest.raises(ValueError, match="65535"):
        AsynchronousOperationsWindowNegotiation(0x10000, 1)
    with pytest.raises(TypeError):
        AsynchronousOperationsWindowNegotiation(True, 1)
    with pytest.raises(TypeError):
        SOPClassExtendedNegotiation(FIND, "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        SOPClassCommonExtendedNegotiation(CT, STORAGE_SERVICE, ["1.2"])  # type: ignore[arg-type]


def test_nothing_requested_reads_empty() -> None:
    asked = requested_negotiation(build_associate_rq(BASE))
    assert asked.asynchronous_operations is None
    assert not asked.extended_negotiation
    assert not asked.common_extended_negotiation


def test_the_answered_window_goes_into_the_ac_and_both_sides_agree() -> None:
    rq, ac, negotiated = decided(ITEMS, NegotiationAnswers(asynchronous_operations=(3, 9)))
    assert ac.user_information is not None
    window = ac.user_information.asynchronous_operations_window
    assert window is not None
    assert (window.max_operations_invoked, window.max_operations_performed) == (3, 9)
    # Never more than offered: 4 performed were offered, 9 answered.
    seen = interpret_ac(rq, ac)
    assert (seen.requestor_max_invoked, seen.acceptor_max_invoked) == (3, 4)
    assert (negotiated.requestor_max_invoked, negotiated.acceptor_max_invoked) == (3, 4)


def test_an_answered_window_without_an_offer_is_not_sent() -> None:
    _, ac, _ = decided([], NegotiationAnswers(asynchronous_operations=(3, 3)))
    assert ac.user_information is not None
    assert ac.user_information.asynchronous_operations_window is None


def test_extended_answers_replace_the_config_policy() -> None:
    config = dataclasses.replace(CONFIG, extended_negotiation=lambda uid, info: b"\x07")
    answers = NegotiationAnswers(extended_negotiation={FIND: b"\x01\x00", CT: b"\x09"})
    _, ac, negotiated = decided(ITEMS, answers, config)
    assert ac.user_information is not None
    replies = [
        (e.sop_class, e.service_class_application_information)
        for e in ac.user_information.extended_negotiations
    ]
    assert replies == [(FIND, b"\x01\x00")]  # CT was not negotiated: not answered
    assert dict(negotiated.extended_negotiation) == {FIND: b"\x01\x00"}
    _, ac, _ = decided(ITEMS, None, config)  # no answers: the policy answers
    assert ac.user_information is not None
    assert [
        e.service_class_application_information for e in ac.user_information.extended_negotiations
    ] == [b"\x07"]


def test_common_answers_are_recorded_and_never_sent() -> None:
    answers = NegotiationAnswers(common_extended_negotiation=frozenset({CT, FIND}))
    rq, ac, negotiated = decided(ITEMS, answers)
    assert ac.user_information is not None
    assert ItemType.SOP_CLASS_COMMON_EXTENDED_NEGOTIATION not in {
        s.item_type for s in ac.user_information.sub_items
    }
    # FIND had no common extended negotiation: accepting it records nothing.
    assert dict(negotiated.common_extended_negotiation) == {CT: ITEMS[3]}
    assert dict(interpret_ac(rq, ac).common_extended_negotiation) == {}
    _, _, negotiated = decided(ITEMS, None)
    assert dict(negotiated.common_extended_negotiation) == {}
