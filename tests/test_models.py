"""The requestor's proposal from AE settings, and the query/retrieve models
by letter (core ``dicomul._models``; shared by every adapter)."""

from __future__ import annotations

import pytest

from dicomul import (
    FIND_MODELS,
    GET_MODELS,
    MOVE_MODELS,
    VERIFICATION_SOP_CLASS,
    CommandField,
    model_sop_class,
    requestor_proposal,
)

CT, MR = "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4"
IMPLICIT, EXPLICIT = "1.2.840.10008.1.2", "1.2.840.10008.1.2.1"


def test_model_letters_name_the_ps34_sop_classes() -> None:
    assert model_sop_class(CommandField.C_FIND_RQ, "W") == "1.2.840.10008.5.1.4.31"
    assert model_sop_class(CommandField.C_FIND_RQ, "S") == "1.2.840.10008.5.1.4.1.2.2.1"
    assert model_sop_class(CommandField.C_GET_RQ, "P") == "1.2.840.10008.5.1.4.1.2.1.3"
    assert model_sop_class(CommandField.C_MOVE_RQ, "O") == "1.2.840.10008.5.1.4.1.2.3.2"
    with pytest.raises(ValueError, match="one of O, P, S or a SOP Class UID, not 'W'"):
        model_sop_class(CommandField.C_MOVE_RQ, "W")  # no worklist retrieve


def test_a_context_per_scu_class_and_no_roles_without_c_get() -> None:
    proposal = requestor_proposal(
        calling_ae_title="ME",
        called_ae_title="PEER",
        scu_sop_classes=[VERIFICATION_SOP_CLASS, CT, CT, FIND_MODELS["S"]],
        scp_sop_classes=[MR],
        transfer_syntaxes=[EXPLICIT, IMPLICIT],
        max_pdu_length=16384,
    )
    request = proposal.request
    assert [(c.context_id, c.abstract_syntax) for c in request.contexts] == [
        (1, VERIFICATION_SOP_CLASS),
        (3, CT),  # once, though named twice
        (5, FIND_MODELS["S"]),
    ]
    assert all(c.transfer_syntaxes == (EXPLICIT, IMPLICIT) for c in request.contexts)
    assert request.roles == ()  # no C-GET: the SCP classes are not proposed
    assert (request.calling_ae_title, request.called_ae_title) == ("ME", "PEER")
    assert request.max_pdu_length == 16384
    assert proposal.left_out == ()


def test_c_get_proposes_the_scp_role_for_storage_classes_only() -> None:
    """PS3.4 C.4.3.1 / PS3.7 D.3.3.4: the matches come back as C-STOREs on
    this association, so the requestor offers to be their SCP."""
    request = requestor_proposal(
        calling_ae_title="ME",
        called_ae_title="PEER",
        scu_sop_classes=[GET_MODELS["S"], CT],
        scp_sop_classes=[VERIFICATION_SOP_CLASS, MOVE_MODELS["S"], CT, MR],
        transfer_syntaxes=[IMPLICIT],
    ).request
    assert [c.abstract_syntax for c in request.contexts] == [GET_MODELS["S"], CT, MR]
    assert [(r.sop_class, r.scu, r.scp) for r in request.roles] == [
        (CT, True, True),  # also sent as SCU by this AE
        (MR, False, True),
    ]


def test_past_128_contexts_the_rest_is_left_out_and_gets_no_role() -> None:
    storage = [f"1.2.840.10008.5.1.4.1.1.{n}" for n in range(200)]
    proposal = requestor_proposal(
        calling_ae_title="ME",
        called_ae_title="PEER",
        scu_sop_classes=[GET_MODELS["P"]],
        scp_sop_classes=storage,
        transfer_syntaxes=[IMPLICIT],
    )
    assert len(proposal.request.contexts) == 128
    assert proposal.left_out == tuple(storage[127:])
    assert [r.sop_class for r in proposal.request.roles] == storage[:127]


def test_given_contexts_are_proposed_instead_with_the_ae_roles() -> None:
    from dicomul import ProposedContext

    own = (ProposedContext(context_id=1, abstract_syntax=MR, transfer_syntaxes=(EXPLICIT,)),)
    proposal = requestor_proposal(
        calling_ae_title="ME",
        called_ae_title="PEER",
        scu_sop_classes=[GET_MODELS["S"]],
        scp_sop_classes=[CT],
        transfer_syntaxes=[IMPLICIT],
        contexts=own,
    )
    assert proposal.request.contexts == own
    assert [r.sop_class for r in proposal.request.roles] == [CT]
    assert proposal.left_out == ()


def test_query_model_may_be_the_sop_class_uid() -> None:
    """pynetdicom 2 names the model by its UID: any UID is taken but a
    standard model of another service."""
    study_find = "1.2.840.10008.5.1.4.1.2.2.1"
    assert model_sop_class(CommandField.C_FIND_RQ, study_find) == study_find
    composite_move = "1.2.840.10008.5.1.4.1.2.4.2"  # Composite Instance Root (PS3.4 Y)
    assert model_sop_class(CommandField.C_MOVE_RQ, composite_move) == composite_move
    private = "1.2.826.0.1.3680043.9.1234.1"
    assert model_sop_class(CommandField.C_GET_RQ, private) == private
    with pytest.raises(ValueError, match="another service, not of C-MOVE"):
        model_sop_class(CommandField.C_MOVE_RQ, study_find)
    with pytest.raises(ValueError, match="another service, not of C-GET"):
        model_sop_class(CommandField.C_GET_RQ, composite_move)
    for bad in ("X", "1.2.03", ""):
        with pytest.raises(ValueError, match="or a SOP Class UID"):
            model_sop_class(CommandField.C_FIND_RQ, bad)


def test_requested_contexts_come_first_with_their_syntaxes_and_roles() -> None:
    from dicomul import ContextSetting

    ct, mr = "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4"
    get_p = "1.2.840.10008.5.1.4.1.2.1.3"
    proposal = requestor_proposal(
        calling_ae_title="A",
        called_ae_title="B",
        scu_sop_classes=[get_p, ct],
        scp_sop_classes=[ct, mr],
        transfer_syntaxes=["1.2.840.10008.1.2"],
        requested_contexts=[
            ContextSetting(abstract_syntax=ct, transfer_syntaxes=("1.2.840.10008.1.2.4.50",)),
            ContextSetting(abstract_syntax=mr, scp_role=True),
        ],
    )
    request = proposal.request
    assert [(c.context_id, c.abstract_syntax, c.transfer_syntaxes) for c in request.contexts] == [
        (1, ct, ("1.2.840.10008.1.2.4.50",)),
        (3, mr, ("1.2.840.10008.1.2",)),
        (5, get_p, ("1.2.840.10008.1.2",)),  # the SCU classes not named by one
    ]
    roles = {r.sop_class: (r.scu, r.scp) for r in request.roles}
    assert roles == {ct: (True, True), mr: (False, True)}  # MR's own role replaces the C-GET one
