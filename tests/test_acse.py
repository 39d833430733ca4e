"""Association negotiation (dicomul._acse): requestor proposal, acceptor decision,
and both sides reading the same outcome (PS3.8 7.1, 9.3; PS3.7 Annex D)."""

from __future__ import annotations

import dataclasses
import json
import pathlib

import pytest
from compiled import COMPILED, WRONG_TYPE
from hypothesis import given
from hypothesis import strategies as st

from dicomul import ContextResult, LocalProtocolError, RemoteProtocolError, UserIdentityType, pdu
from dicomul._acse import (
    IMPLEMENTATION_CLASS_UID,
    AcceptorConfig,
    AssociationRequest,
    ProposedContext,
    RoleProposal,
    SupportedContext,
    UserIdentity,
    build_associate_rq,
    interpret_ac,
    negotiate,
    propose_contexts,
)
from dicomul.pdu import AssociateAC, AssociateRJ
from dicomul.testing.strategies import associate_rq_pdus

VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
IMPLICIT, EXPLICIT, BIG = "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"

CONFIG = AcceptorConfig(
    ae_title="STORE-SCP",
    supported={
        VERIFICATION: SupportedContext(transfer_syntaxes=(EXPLICIT, IMPLICIT)),
        CT: SupportedContext(transfer_syntaxes=(IMPLICIT, EXPLICIT), scp_role=True),
    },
)


def request(**changes: object) -> AssociationRequest:
    base = AssociationRequest(
        calling_ae_title="ECHOSCU",
        called_ae_title="STORE-SCP",
        contexts=propose_contexts([VERIFICATION, CT, "1.2.3.4"], [IMPLICIT, EXPLICIT]),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_request_bytes_roundtrip_and_carry_dicomul_identity() -> None:
    rq = build_associate_rq(request())
    assert pdu.decode(pdu.encode(rq)) == rq
    info = rq.user_information
    assert info is not None
    assert info.maximum_length == 16382
    assert info.implementation_class_uid == IMPLEMENTATION_CLASS_UID
    assert IMPLEMENTATION_CLASS_UID.startswith("1.2.826.0.1.3680043.8.498.")  # pydicom's root
    assert len(IMPLEMENTATION_CLASS_UID) <= 64
    assert [pc.context_id for pc in rq.presentation_contexts] == [1, 3, 5]
    assert pdu.decode(pdu.encode(rq), strict=True) == rq


def test_accept_picks_the_acceptors_preferred_transfer_syntax() -> None:
    rq = build_associate_rq(request())
    ac, negotiated = negotiate(rq, CONFIG)
    assert isinstance(ac, AssociateAC)
    assert negotiated is not None
    results = {
        pc.context_id: (pc.result, pc.transfer_syntax_uid) for pc in ac.presentation_contexts
    }
    assert results[1] == (ContextResult.ACCEPTANCE, EXPLICIT)  # acceptor prefers explicit
    assert results[3] == (ContextResult.ACCEPTANCE, IMPLICIT)
    assert results[5][0] == ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED
    assert set(negotiated.contexts) == {1, 3}
    assert negotiated.rejected == {5: ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED}
    assert ac.called_ae_title == rq.called_ae_title  # reserved fields echo the RQ
    assert ac.calling_ae_title == rq.calling_ae_title


def test_both_sides_read_the_same_outcome() -> None:
    rq = build_associate_rq(request(max_pdu_length=0))
    ac, accepted = negotiate(rq, dataclasses.replace(CONFIG, max_pdu_length=32768))
    assert isinstance(ac, AssociateAC)
    requested = interpret_ac(rq, pdu.decode(pdu.encode(ac)))  # type: ignore[arg-type]
    assert requested.contexts == accepted.contexts  # type: ignore[union-attr]
    assert requested.rejected == accepted.rejected  # type: ignore[union-attr]
    assert requested.requestor_max_pdu_length == 0
    assert requested.acceptor_max_pdu_length == 32768


def test_no_common_transfer_syntax() -> None:
    rq = build_associate_rq(request(contexts=propose_contexts([VERIFICATION], [BIG])))
    ac, _ = negotiate(rq, CONFIG)
    assert isinstance(ac, AssociateAC)
    assert ac.presentation_contexts[0].result == ContextResult.TRANSFER_SYNTAXES_NOT_SUPPORTED


@pytest.mark.parametrize(
    ("change", "kwargs", "expected"),
    [
        ("protocol", {}, (1, 2, 2)),
        ("context", {}, (1, 1, 2)),
        ("called", {}, (1, 1, 7)),
        ("calling", {}, (1, 1, 3)),
        ("limit", {"active_associations": 10}, (2, 3, 2)),
        # PS3.7 D.3.3.7.3: authorisation failure is rejected-permanent, source 2
        ("identity", {"user_identity_result": (False, None)}, (1, 2, 1)),
        ("called list", {}, (1, 1, 7)),
        ("out of service", {}, (2, 1, 1)),
    ],
)
def test_association_rejections(
    change: str, kwargs: dict[str, object], expected: tuple[int, int, int]
) -> None:
    rq = build_associate_rq(request())
    config = CONFIG
    if change == "protocol":
        rq = dataclasses.replace(rq, protocol_version=2)
    elif change == "context":
        rq = dataclasses.replace(rq, application_context=pdu.ApplicationContextItem(name=b"1.2.3"))
    elif change == "called":
        rq = dataclasses.replace(rq, called_ae_title=pdu.ae_title("SOMEONE-ELSE"))
        config = dataclasses.replace(CONFIG, require_called_aet=True)
    elif change == "calling":
        config = dataclasses.replace(CONFIG, require_calling_aet=("TRUSTED",))
    elif change == "called list":
        config = dataclasses.replace(
            CONFIG, require_called_aet=True, called_ae_titles=("ONE", "TWO")
        )
    elif change == "out of service":
        config = dataclasses.replace(CONFIG, out_of_service=True)
    answer, negotiated = negotiate(rq, config, **kwargs)  # type: ignore[arg-type]
    assert isinstance(answer, AssociateRJ)
    assert negotiated is None
    assert (answer.result, answer.source, answer.reason) == expected


def test_title_requirements_pass_when_met() -> None:
    rq = build_associate_rq(request())
    config = dataclasses.replace(CONFIG, require_called_aet=True, require_calling_aet=("ECHOSCU",))
    assert isinstance(negotiate(rq, config)[0], AssociateAC)
    # Any of several titles matches, padding aside (PS3.5 6.2: not significant).
    several = dataclasses.replace(
        config,
        called_ae_titles=("OTHER", " STORE-SCP "),
        require_calling_aet=("SCU", "ECHOSCU"),
    )
    assert isinstance(negotiate(rq, several)[0], AssociateAC)
    assert isinstance(negotiate(rq, CONFIG, active_associations=9)[0], AssociateAC)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ae_title": "ÄÖÜ"}, "holds 'Ä'"),
        ({"require_calling_aet": ("SCU", "A" * 17)}, "longer than 16"),
        ({"called_ae_titles": ("  ",)}, "only spaces"),
        ({"require_calling_aet": ["SCU"]}, "tuple of AE titles"),
        ({"require_calling_aet": (b"SCU",)}, "not bytes"),
    ],
)
def test_a_config_with_a_bad_ae_title_is_refused(changes: dict[str, object], message: str) -> None:
    """Before: a list of titles or a bad one passed, and negotiating the next
    association raised an AttributeError or never matched.  Compiled, a value
    of the wrong type (a list, bytes) is refused by the class itself."""
    if COMPILED and message in ("tuple of AE titles", "not bytes"):
        message = WRONG_TYPE
    with pytest.raises((ValueError, TypeError), match=message):
        dataclasses.replace(CONFIG, **changes)  # type: ignore[arg-type]


def test_bad_context_ids_are_rejected_without_reason() -> None:
    rq = build_associate_rq(request())
    pcs = rq.presentation_contexts
    rq = dataclasses.replace(
        rq,
        presentation_contexts=(
            pcs[0],
            dataclasses.replace(pcs[1], context_id=1),
            dataclasses.replace(pcs[2], context_id=4),
        ),
    )
    ac, negotiated = negotiate(rq, CONFIG)
    assert isinstance(ac, AssociateAC)
    assert [pc.result for pc in ac.presentation_contexts] == [0, 2, 2]
    assert negotiated is not None
    assert set(negotiated.contexts) == {1}


def test_role_selection() -> None:
    roles = (
        RoleProposal(sop_class=CT, scu=True, scp=True),
        RoleProposal(sop_class=VERIFICATION, scu=False, scp=True),
    )
    rq = build_associate_rq(request(roles=roles))
    ac, negotiated = negotiate(rq, CONFIG)
    assert isinstance(ac, AssociateAC)
    assert negotiated is not None
    ct = negotiated.contexts[3]
    assert (ct.requestor_is_scu, ct.requestor_is_scp) == (True, True)
    # Verification: the requestor offered only SCP, which this acceptor does not allow
    assert negotiated.rejected == {
        1: ContextResult.USER_REJECTION,
        5: ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED,
    }
    replies = {r.sop_class: (r.scu_role, r.scp_role) for r in ac.user_information.role_selections}  # type: ignore[union-attr]
    assert replies == {CT: (1, 1)}
    assert interpret_ac(rq, ac).contexts == negotiated.contexts


def test_user_identity_accepted_with_server_response() -> None:
    identity = UserIdentity(
        identity_type=UserIdentityType.JWT,
        primary_field=b"header.payload.sig",
        positive_response_requested=True,
    )
    rq = build_associate_rq(request(user_identity=identity))
    ac, negotiated = negotiate(rq, CONFIG, user_identity_result=(True, b"token"))
    assert isinstance(ac, AssociateAC)
    assert interpret_ac(rq, ac).user_identity_response == b"token"
    assert negotiated is not None
    assert (
        negotiated.user_identity
        == build_associate_rq(request(user_identity=identity)).user_information.user_identity
    )  # type: ignore[union-attr]


def test_username_identity_is_answered_with_an_empty_response() -> None:
    identity = UserIdentity(
        identity_type=UserIdentityType.USERNAME,
        primary_field=b"alice",
        positive_response_requested=True,
    )
    rq = build_associate_rq(request(user_identity=identity))
    ac, _ = negotiate(rq, CONFIG, user_identity_result=(True, b"ignored"))
    assert isinstance(ac, AssociateAC)
    assert ac.user_information.user_identity == pdu.UserIdentityACSubItem(server_response=b"")  # type: ignore[union-attr]


def test_user_identity_ignored_without_a_verdict() -> None:
    identity = UserIdentity(
        identity_type=UserIdentityType.USERNAME_AND_PASSCODE,
        primary_field=b"u",
        secondary_field=b"p",
        positive_response_requested=True,
    )
    rq = build_associate_rq(request(user_identity=identity))
    ac, _ = negotiate(rq, CONFIG)
    assert isinstance(ac, AssociateAC)
    assert ac.user_information.user_identity is None  # type: ignore[union-attr]


def test_extended_negotiation_policy() -> None:
    rq = build_associate_rq(request(extended_negotiation={CT: b"\x01"}))
    config = dataclasses.replace(CONFIG, extended_negotiation=lambda sop, info: info + b"\x00")
    ac, negotiated = negotiate(rq, config)
    assert negotiated is not None
    assert negotiated.extended_negotiation == {CT: b"\x01\x00"}
    assert interpret_ac(rq, ac).extended_negotiation == {CT: b"\x01\x00"}  # type: ignore[arg-type]
    ac, _ = negotiate(rq, CONFIG)  # default policy: unanswered
    assert ac.user_information.extended_negotiations == ()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("offered", "supported", "granted"),
    [
        ((5, 3), (2, 4), (4, 2)),  # requestor invokes <= what we perform, and vice versa
        ((0, 0), (2, 4), (4, 2)),  # an unlimited offer may be negotiated down
        ((5, 3), (0, 0), (5, 3)),  # unlimited here: grant what was offered
        ((1, 1), (8, 8), (1, 1)),  # never more than offered (PS3.7 D.3.3.3)
    ],
)
def test_asynchronous_operations_window(
    offered: tuple[int, int], supported: tuple[int, int], granted: tuple[int, int]
) -> None:
    rq = build_associate_rq(request(asynchronous_operations=offered))
    ac, negotiated = negotiate(rq, dataclasses.replace(CONFIG, asynchronous_operations=supported))
    assert isinstance(ac, AssociateAC)
    assert negotiated is not None
    window = ac.user_information.asynchronous_operations_window  # type: ignore[union-attr]
    assert window is not None
    assert (window.max_operations_invoked, window.max_operations_performed) == granted
    assert (negotiated.requestor_max_invoked, negotiated.acceptor_max_invoked) == granted
    seen = interpret_ac(rq, ac)
    assert (seen.requestor_max_invoked, seen.acceptor_max_invoked) == granted


def test_no_window_means_synchronous() -> None:
    rq = build_associate_rq(request(asynchronous_operations=(5, 3)))
    ac, negotiated = negotiate(rq, CONFIG)
    assert negotiated is not None
    assert (negotiated.requestor_max_invoked, negotiated.acceptor_max_invoked) == (1, 1)
    assert ac.user_information.asynchronous_operations_window is None  # type: ignore[union-attr]
    plain = build_associate_rq(request())
    ac, _ = negotiate(plain, dataclasses.replace(CONFIG, asynchronous_operations=(4, 4)))
    assert ac.user_information.asynchronous_operations_window is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (
            lambda: ProposedContext(
                context_id=2, abstract_syntax=CT, transfer_syntaxes=(IMPLICIT,)
            ),
            "even",
        ),
        (
            lambda: ProposedContext(context_id=1, abstract_syntax=CT, transfer_syntaxes=()),
            "no transfer",
        ),
        (lambda: propose_contexts([CT] * 129, [IMPLICIT]), "129 abstract syntaxes"),
        (lambda: request(contexts=()), "at least one"),
        (lambda: request(contexts=propose_contexts([CT], [IMPLICIT]) * 2), "duplicate"),
        (
            lambda: UserIdentity(
                identity_type=UserIdentityType.USERNAME_AND_PASSCODE, primary_field=b"u"
            ),
            "passcode",
        ),
        (
            lambda: build_associate_rq(request(calling_ae_title="A-TITLE-FAR-TOO-LONG")),
            "longer than 16",
        ),
        (
            lambda: build_associate_rq(
                request(contexts=propose_contexts(["not-a-uid"], [IMPLICIT]))
            ),
            "UID",
        ),
    ],
)
def test_local_misuse(build: object, match: str) -> None:
    with pytest.raises(LocalProtocolError, match=match):
        build()  # type: ignore[operator]


def test_interpret_ac_refuses_answers_to_unproposed_contexts() -> None:
    rq = build_associate_rq(request())
    ac, _ = negotiate(rq, CONFIG)
    assert isinstance(ac, AssociateAC)
    bogus = dataclasses.replace(ac.presentation_contexts[0], context_id=99)
    with pytest.raises(RemoteProtocolError, match="never proposed"):
        interpret_ac(rq, dataclasses.replace(ac, presentation_contexts=(bogus,)))
    wrong_ts = dataclasses.replace(
        ac.presentation_contexts[0], transfer_syntax=pdu.TransferSyntaxItem(name=BIG.encode())
    )
    with pytest.raises(RemoteProtocolError, match="not proposed"):
        interpret_ac(rq, dataclasses.replace(ac, presentation_contexts=(wrong_ts,)))


def test_real_storescu_request_with_128_contexts() -> None:
    records = json.loads(
        (pathlib.Path(__file__).parent / "data" / "captured_pdus.json").read_text()
    )
    raw = next(r["hex"] for r in records if r["scenario"].startswith("c1_") and r["pdu_type"] == 1)
    rq = pdu.decode(bytes.fromhex(raw))
    assert isinstance(rq, pdu.AssociateRQ)
    assert len(rq.presentation_contexts) == 128
    ac, negotiated = negotiate(rq, CONFIG)
    assert isinstance(ac, AssociateAC)
    assert len(ac.presentation_contexts) == 128
    assert negotiated is not None
    assert {c.abstract_syntax for c in negotiated.contexts.values()} <= {VERIFICATION, CT}
    assert interpret_ac(rq, pdu.decode(pdu.encode(ac))).contexts == negotiated.contexts  # type: ignore[arg-type]


@given(associate_rq_pdus(quirks=True), st.integers(0, 12))
def test_any_request_gets_a_consistent_answer(rq: pdu.AssociateRQ, active: int) -> None:
    answer, negotiated = negotiate(rq, CONFIG, active_associations=active)
    assert pdu.decode(pdu.encode(answer)) == answer
    if isinstance(answer, AssociateRJ):
        assert negotiated is None
        return
    assert [pc.context_id for pc in answer.presentation_contexts] == [
        pc.context_id for pc in rq.presentation_contexts
    ]
    assert negotiated is not None
    assert interpret_ac(rq, answer).contexts == negotiated.contexts


@pytest.mark.parametrize(("identity_type", "secondary"), [(2, b""), (9, b"x")])
def test_odd_identity_from_a_peer_is_not_a_local_error(
    identity_type: int, secondary: bytes
) -> None:
    """A peer's user identity sub-item is data, not our API: a passcode-less
    type 2 or a reserved type must not raise (found by hypothesis)."""
    rq = build_associate_rq(request())
    odd = pdu.UserIdentityRQSubItem(
        identity_type=identity_type,
        positive_response_requested=1,
        primary_field=b"u",
        secondary_field=secondary,
    )
    info = rq.user_information
    assert info is not None
    rq = dataclasses.replace(
        rq, user_information=dataclasses.replace(info, sub_items=(*info.sub_items, odd))
    )
    ac, negotiated = negotiate(rq, CONFIG, user_identity_result=(True, b"r"))
    assert negotiated is not None
    assert negotiated.user_identity == odd
    assert interpret_ac(rq, ac).user_identity == odd  # type: ignore[arg-type]


def test_interpret_ac_answers_left_out_are_rejected_and_windows_only_shrink() -> None:
    rq = build_associate_rq(request(asynchronous_operations=(2, 2)))
    ac, _ = negotiate(rq, dataclasses.replace(CONFIG, asynchronous_operations=(2, 2)))
    assert isinstance(ac, AssociateAC)
    greedy = pdu.AsynchronousOperationsWindowSubItem(
        max_operations_invoked=0, max_operations_performed=9
    )
    info = ac.user_information
    assert info is not None
    subs = tuple(
        greedy if isinstance(s, pdu.AsynchronousOperationsWindowSubItem) else s
        for s in info.sub_items
    )
    partial = dataclasses.replace(
        ac,
        presentation_contexts=ac.presentation_contexts[:1],
        user_information=dataclasses.replace(info, sub_items=subs),
    )
    seen = interpret_ac(rq, partial)
    assert seen.rejected[3] == ContextResult.NO_REASON  # left out of the AC
    assert seen.rejected[5] == ContextResult.NO_REASON
    assert (seen.requestor_max_invoked, seen.acceptor_max_invoked) == (2, 2)  # never grown


@pytest.mark.parametrize("maximum", [1, 6, 7, 255])
def test_absurdly_small_peer_maximum_is_refused(maximum: int) -> None:
    rq = build_associate_rq(request(max_pdu_length=maximum))
    answer, negotiated = negotiate(rq, CONFIG)
    assert isinstance(answer, AssociateRJ)
    assert negotiated is None
    ac, _ = negotiate(
        build_associate_rq(request()), dataclasses.replace(CONFIG, max_pdu_length=maximum)
    )
    assert isinstance(ac, AssociateAC)
    with pytest.raises(RemoteProtocolError, match="below 256"):
        interpret_ac(build_associate_rq(request()), ac)
    assert isinstance(
        negotiate(build_associate_rq(request(max_pdu_length=256)), CONFIG)[0], AssociateAC
    )


def test_context_to_send_prefers_the_data_sets_own_syntax() -> None:
    jpeg = "1.2.840.10008.1.2.4.50"
    contexts = tuple(
        ProposedContext(context_id=n, abstract_syntax=CT, transfer_syntaxes=(ts,))
        for n, ts in ((1, IMPLICIT), (3, EXPLICIT), (5, jpeg))
    )
    rq = build_associate_rq(request(contexts=contexts))
    config = dataclasses.replace(
        CONFIG,
        supported={
            CT: SupportedContext(transfer_syntaxes=(IMPLICIT, EXPLICIT, "1.2.840.10008.1.2.4.50"))
        },
    )
    _, negotiated = negotiate(rq, config)
    assert negotiated is not None
    assert negotiated.context_to_send(CT, EXPLICIT).context_id == 3  # type: ignore[union-attr]
    assert negotiated.context_to_send(CT, "1.2.840.10008.1.2.4.50").context_id == 5  # type: ignore[union-attr]
    # Across byte orders too (encode_dataset swaps OW/OF words, PS3.5 7.3).
    assert negotiated.context_to_send(CT, BIG).transfer_syntax == IMPLICIT  # type: ignore[union-attr]
    assert negotiated.context_to_send(CT, None) is not None
    assert (
        negotiated.context_to_send(CT, "1.2.840.10008.1.2.4.90") is None
    )  # JPEG 2000: no re-encoding
    assert negotiated.context_to_send(VERIFICATION, IMPLICIT) is None


def test_refusal_for_a_request_on_the_wrong_context() -> None:
    """PS3.7 D.3.3.4 / PS3.4 C.4.1.1.1: a context carries one SOP class, and
    only the side with the SCU role there may invoke its operations."""
    from dicomul import AcceptedContext, Command, CommandField, Negotiated

    negotiated = Negotiated(
        calling_ae_title="A",
        called_ae_title="B",
        contexts={
            1: AcceptedContext(
                context_id=1, abstract_syntax=VERIFICATION, transfer_syntax=IMPLICIT
            ),
            3: AcceptedContext(context_id=3, abstract_syntax=CT, transfer_syntax=IMPLICIT),
            5: AcceptedContext(
                context_id=5,
                abstract_syntax=CT,
                transfer_syntax=IMPLICIT,
                requestor_is_scu=False,
                requestor_is_scp=True,
            ),
        },
        rejected={},
        requestor_max_pdu_length=0,
        acceptor_max_pdu_length=0,
        requestor_implementation=("1.2", None),
        acceptor_implementation=("1.2", None),
    )

    def store(sop_class: str) -> Command:
        return Command(
            command_field=CommandField.C_STORE_RQ,
            message_id=1,
            affected_sop_class_uid=sop_class,
            affected_sop_instance_uid="1.2.3",
            priority=0,
            command_data_set_type=0,
        )

    echo = Command(
        command_field=CommandField.C_ECHO_RQ, message_id=1, affected_sop_class_uid=VERIFICATION
    )
    assert negotiated.refusal_for(1, echo, sender_is_requestor=True) is None
    assert negotiated.refusal_for(3, store(CT), sender_is_requestor=True) is None
    assert negotiated.refusal_for(1, store(CT), sender_is_requestor=True) == 0x0211
    assert negotiated.refusal_for(3, echo, sender_is_requestor=True) == 0x0211
    assert (
        negotiated.refusal_for(3, store("1.2.840.10008.5.1.4.1.1.4"), sender_is_requestor=True)
        == 0x0122
    )
    # Context 5: only the acceptor may store (C-GET sub-operations) ...
    assert negotiated.refusal_for(5, store(CT), sender_is_requestor=False) is None
    assert negotiated.refusal_for(5, store(CT), sender_is_requestor=True) == 0x0122
    # ... and on context 3 only the requestor.
    assert negotiated.refusal_for(3, store(CT), sender_is_requestor=False) == 0x0122
    assert negotiated.refusal_for(7, echo, sender_is_requestor=True) == 0x0122


def test_contexts_to_send_offer_each_syntax_alone_and_a_little_endian_fallback() -> None:
    from dicomul import contexts_to_send

    rle, mr = "1.2.840.10008.1.2.5", "1.2.840.10008.5.1.4.1.1.4"
    contexts, left_out = contexts_to_send(
        [(CT, IMPLICIT), (CT, BIG), (CT, rle), (CT, IMPLICIT), (mr, None)]
    )
    assert left_out == 0
    assert [(c.context_id, c.abstract_syntax, c.transfer_syntaxes) for c in contexts] == [
        (1, CT, (IMPLICIT,)),
        (3, CT, (BIG,)),
        (5, CT, (rle,)),
        (7, mr, (EXPLICIT,)),  # no stated syntax: explicit little endian first
        (9, CT, (EXPLICIT, IMPLICIT)),
        (11, mr, (EXPLICIT, IMPLICIT)),
    ]
    many, left_out = contexts_to_send([(f"1.2.{n}", IMPLICIT) for n in range(100)])
    assert len(many) == 128
    assert left_out == 72
    assert many[-1].context_id == 255


_SYNTAXES = st.sampled_from([IMPLICIT, EXPLICIT, BIG, "1.2.840.10008.1.2.5", None])


@given(
    st.integers(0, 400).flatmap(  # long enough lists to need several associations
        lambda size: st.lists(
            st.tuples(st.sampled_from([f"1.2.3.{n}" for n in range(150)]), _SYNTAXES),
            min_size=size,
            max_size=size,
        )
    ),
    st.sampled_from([(), (IMPLICIT,), (EXPLICIT, IMPLICIT)]),
)
def test_association_batches_cover_every_data_set_in_order_within_128_contexts(
    data_sets: list[tuple[str, str | None]], fallback: tuple[str, ...]
) -> None:
    from dicomul import association_batches, contexts_to_send

    batches = association_batches(data_sets, fallback)
    assert [i for _, run in batches for i in run] == list(range(len(data_sets)))
    for n, (contexts, run) in enumerate(batches):
        assert run, "no empty runs"
        assert contexts == contexts_to_send([data_sets[i] for i in run], fallback)[0]
        assert len(contexts) <= 128
        offered = {(c.abstract_syntax, c.transfer_syntaxes) for c in contexts}
        for i in run:  # each data set's own syntax is offered alone in its run
            sop_class, syntax = data_sets[i]
            assert (sop_class, (syntax or EXPLICIT,)) in offered
        if n + 1 < len(batches):  # a run ends only where the next needs a 129th context
            longer = [data_sets[i] for i in run] + [data_sets[run.stop]]
            assert contexts_to_send(longer, fallback)[1] > 0


def test_association_batches_split_only_past_128_contexts() -> None:
    from dicomul import association_batches

    assert association_batches([]) == ()
    one = association_batches([(f"1.2.{n}", EXPLICIT) for n in range(128)], ())
    assert [run for _, run in one] == [range(128)]
    # Implicit VR files need two contexts each (their own, and the fallback):
    # 64 SOP classes fill one association, the 65th starts the next.
    two = association_batches([(f"1.2.{n}", IMPLICIT) for n in range(100)])
    assert [run for _, run in two] == [range(64), range(64, 100)]
    assert [len(contexts) for contexts, _ in two] == [128, 72]


def test_acceptor_config_for_sop_classes_sets_roles_and_titles() -> None:
    """PS3.7 D.3.3.4: an SCP class lets the requestor be SCU; an SCU class
    (what a C-GET sends back) lets it be SCP; a class in both allows both."""
    from dicomul import AcceptorConfig

    config = AcceptorConfig.for_sop_classes(
        ae_title="SCP",
        scp_sop_classes=["1.2.840.10008.1.1", "1.2.840.10008.5.1.4.1.1.2"],
        scu_sop_classes=["1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4"],
        transfer_syntaxes=["1.2.840.10008.1.2.1"],
        require_called_aet=True,
        require_calling_aet=["A", "B"],
        maximum_associations=3,
    )
    roles = {uid: (c.scu_role, c.scp_role) for uid, c in config.supported.items()}
    assert roles == {
        "1.2.840.10008.1.1": (True, False),
        "1.2.840.10008.5.1.4.1.1.2": (True, True),
        "1.2.840.10008.5.1.4.1.1.4": (False, True),
    }
    assert config.called_ae_titles == ("SCP",)
    assert config.require_called_aet
    assert config.require_calling_aet == ("A", "B")
    assert config.maximum_associations == 3


@pytest.mark.parametrize(("performed", "window"), [(1, None), (4, (1, 4)), (0, (1, 0))])
def test_acceptor_config_offers_the_operations_window_asked(
    performed: int, window: tuple[int, int] | None
) -> None:
    """PS3.7 D.3.3.3: 1 offers no window (the default, synchronous); any
    other number is offered as performed, this side invoking one at a time."""
    config = AcceptorConfig.for_sop_classes(
        ae_title="SCP",
        scp_sop_classes=["1.2.840.10008.1.1"],
        transfer_syntaxes=["1.2.840.10008.1.2"],
        maximum_operations_performed=performed,
    )
    assert config.asynchronous_operations == window


@pytest.mark.parametrize(
    ("value", "error"),
    [(-1, ValueError), (65536, ValueError), (True, TypeError), ("4", TypeError)],
)
def test_an_operations_window_is_a_16_bit_count(value: object, error: type[Exception]) -> None:
    from dicomul import check_operations_window

    with pytest.raises(error, match="maximum_operations_performed"):
        check_operations_window(value)
    assert check_operations_window(65535) == 65535


def test_an_unknown_abstract_syntax_is_accepted_only_when_configured() -> None:
    """PS3.8 Table 9-18: an abstract syntax the acceptor does not know is
    result 3; ``unknown_abstract_syntax`` (DCMTK storescp's -pm) accepts it,
    the requestor as SCU, while known classes keep their own settings."""
    rq = build_associate_rq(request())  # Verification, CT and 1.2.3.4
    ac, negotiated = negotiate(rq, CONFIG)
    assert isinstance(ac, AssociateAC)
    assert negotiated is not None
    assert negotiated.rejected == {5: 3}
    anything = AcceptorConfig.for_sop_classes(
        ae_title="STORE-SCP",
        scp_sop_classes=[VERIFICATION],
        transfer_syntaxes=[EXPLICIT],
        accept_unknown_sop_classes=True,
    )
    assert anything.unknown_abstract_syntax == SupportedContext(transfer_syntaxes=(EXPLICIT,))
    _, negotiated = negotiate(rq, anything)
    assert negotiated is not None
    assert negotiated.rejected == {}
    accepted = {c.abstract_syntax: c.transfer_syntax for c in negotiated.contexts.values()}
    assert accepted == {VERIFICATION: EXPLICIT, CT: EXPLICIT, "1.2.3.4": EXPLICIT}
    assert all(c.requestor_is_scu for c in negotiated.contexts.values())


def test_refuse_all_rejects_permanently_with_no_reason() -> None:
    """RJ 1/1/1 (PS3.8 Table 9-21), whatever is proposed."""
    rq = build_associate_rq(request())
    answer, negotiated = negotiate(rq, dataclasses.replace(CONFIG, refuse_all=True))
    assert isinstance(answer, AssociateRJ)
    assert negotiated is None
    assert (answer.result, answer.source, answer.reason) == (1, 1, 1)


def test_require_implementation_class_uid_rejects_a_request_without_one() -> None:
    """PS3.7 D.3.3.2 makes the sub-item mandatory; with the setting (DCMTK
    storescp's --reject) a request without it, or with an empty one, is
    rejected RJ 1/1/1; with a UID it is accepted; without the setting all are."""
    from dicomul.pdu import ImplementationClassUIDSubItem, UserInformationItem

    rq = build_associate_rq(request())
    assert rq.user_information is not None
    others = tuple(
        sub
        for sub in rq.user_information.sub_items
        if not isinstance(sub, ImplementationClassUIDSubItem)
    )
    without = dataclasses.replace(rq, user_information=UserInformationItem(sub_items=others))
    empty = dataclasses.replace(
        rq,
        user_information=UserInformationItem(
            sub_items=(*others, ImplementationClassUIDSubItem(name=b""))
        ),
    )
    strict = dataclasses.replace(CONFIG, require_implementation_class_uid=True)
    for bad in (without, empty, dataclasses.replace(rq, user_information=None)):
        answer, negotiated = negotiate(bad, strict)
        assert isinstance(answer, AssociateRJ)
        assert negotiated is None
        assert (answer.result, answer.source, answer.reason) == (1, 1, 1)
        assert negotiate(bad, CONFIG)[1] is not None
    assert negotiate(rq, strict)[1] is not None


def test_permitted_peers_reject_a_caller_by_title_and_address() -> None:
    """dcmqrscp's AETable peers: a called title listed admits only its
    (calling title, host) pairs, others RJ 1/1/7 (what dcmqrscp answers);
    an IPv4-mapped address counts as IPv4; no addresses: any host; a title
    not listed has no rule."""
    rq = build_associate_rq(request())  # CALLER -> the CONFIG's title
    called, calling = rq.called_aet, rq.calling_aet
    home = frozenset({"127.0.0.1", "::1"})

    def answer(
        peers: dict[str, tuple[tuple[str, frozenset[str]], ...]], address: str | None
    ) -> AssociateAC | AssociateRJ:
        config = dataclasses.replace(CONFIG, permitted_peers=peers)
        return negotiate(rq, config, peer_address=address)[0]

    for peers, address in (
        ({called: ((calling, home),)}, "127.0.0.1"),
        ({called: ((calling, home),)}, "::ffff:127.0.0.1"),
        ({called: ((calling, home),)}, "::1"),
        ({called: (("OTHER", frozenset()), (calling, frozenset()))}, "10.1.2.3"),
        ({"ELSEWHERE": (("OTHER", home),)}, "10.1.2.3"),
    ):
        assert isinstance(answer(peers, address), AssociateAC), (peers, address)
    for peers, address in (
        ({called: ((calling, home),)}, "10.1.2.3"),
        ({called: ((calling, home),)}, None),
        ({called: (("OTHER", frozenset()),)}, "127.0.0.1"),
        ({called: ()}, "127.0.0.1"),
    ):
        rejected = answer(peers, address)
        assert isinstance(rejected, AssociateRJ), (peers, address)
        assert (rejected.result, rejected.source, rejected.reason) == (1, 1, 7)


def test_missing_context_reason_names_what_happened_to_the_sop_class() -> None:
    from dicomul import missing_context_reason

    proposal = request()
    _, negotiated = negotiate(build_associate_rq(proposal), CONFIG)
    assert negotiated is not None
    contexts = proposal.contexts
    assert "not proposed" in missing_context_reason("1.9.9", contexts, negotiated)
    assert missing_context_reason("1.2.3.4", contexts, negotiated) == (
        "the peer rejected it: abstract syntax not supported (PS3.8 9.3.3.2)"
    )
    # CT was accepted with the requestor as SCU only: not as SCP (PS3.7 D.3.3.4).
    assert "SCP role" in missing_context_reason(CT, contexts, negotiated, requestor_as_scp=True)


def test_user_identity_constructors_fill_the_sub_item_of_ps37_table_d3_14() -> None:
    bob = UserIdentity.username("bob", "sécret", positive_response_requested=True)
    assert (bob.identity_type, bob.primary_field, bob.secondary_field) == (
        UserIdentityType.USERNAME_AND_PASSCODE,
        b"bob",
        "sécret".encode(),
    )
    assert bob.positive_response_requested
    assert UserIdentity.username("alice").identity_type == UserIdentityType.USERNAME
    assert UserIdentity.kerberos(b"\x00t").identity_type == UserIdentityType.KERBEROS
    assert UserIdentity.saml("<a/>").primary_field == b"<a/>"
    assert UserIdentity.jwt("h.p.s").identity_type == UserIdentityType.JWT
    with pytest.raises(LocalProtocolError, match="primary field"):
        UserIdentity.jwt("")
    with pytest.raises(LocalProtocolError, match="65535"):
        UserIdentity.saml(b"x" * 0x10000)
