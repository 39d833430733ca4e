"""Extended negotiation on dicomul_sync (issue 17): ``associate(ext_neg=...)``
on the requestor, and the EVT_ASYNC_OPS, EVT_SOP_EXTENDED and EVT_SOP_COMMON
handlers of an acceptor, checked on the A-ASSOCIATE-AC as decoded by the
requestor (PS3.7 D.3.3.3, D.3.3.5, D.3.3.6), dicomul_sync on both sides."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dicomul_sync import AE, evt

from dicomul import (
    AsynchronousOperationsWindowNegotiation,
    ItemType,
    RoleProposal,
    SOPClassCommonExtendedNegotiation,
    SOPClassExtendedNegotiation,
    UserIdentity,
)
from dicomul.pdu import AssociateAC, UserInformationItem

CT = "1.2.840.10008.5.1.4.1.1.2"
FIND_PATIENT = "1.2.840.10008.5.1.4.1.2.1.1"
VERIFICATION = "1.2.840.10008.1.1"
STORAGE_SERVICE = "1.2.840.10008.4.2"


@pytest.fixture
def scp() -> Iterator[AE]:
    ae = AE(ae_title="XNSCP", scp_sop_class=[VERIFICATION, CT, FIND_PATIENT])
    ae.bind_address = "127.0.0.1"
    ae.add_supported_context(CT, scu_role=True, scp_role=True)
    yield ae
    ae.stop(abort=True)


def serve(ae: AE, handlers: list[Any]) -> int:
    ae.port = 0
    ae.start(block=False, evt_handlers=handlers)
    return ae.port


def associate(port: int, ext_neg: list[object]) -> tuple[Any, UserInformationItem]:
    """Associate with ``ext_neg``; return the association and the AC's user information."""
    received: list[object] = []
    assoc = AE(ae_title="XNSCU", scu_sop_class=[VERIFICATION, CT, FIND_PATIENT]).associate(
        "127.0.0.1",
        port,
        "XNSCP",
        ext_neg=ext_neg,
        evt_handlers=[(evt.EVT_PDU_RECV, lambda event: received.append(event.pdu))],
    )
    assert assoc.is_established
    ac = next(pdu for pdu in received if isinstance(pdu, AssociateAC))
    assert ac.user_information is not None
    return assoc, ac.user_information


def item_types(info: UserInformationItem) -> set[int]:
    return {sub.item_type for sub in info.sub_items}


# ------------------------------------------------------------------ EVT_ASYNC_OPS


def test_the_async_ops_handler_decides_the_window_answered(scp: AE) -> None:
    seen: list[tuple[int, int, int, int]] = []

    def on_async_ops(event: Any) -> tuple[int, int]:
        seen.append((event.invoked, event.performed, event.nr_invoked, event.nr_performed))
        return 3, 2

    port = serve(scp, [(evt.EVT_ASYNC_OPS, on_async_ops)])
    assoc, info = associate(port, [AsynchronousOperationsWindowNegotiation(5, 4)])
    try:
        assert seen == [(5, 4, 5, 4)]
        window = info.asynchronous_operations_window
        assert window is not None
        assert (window.max_operations_invoked, window.max_operations_performed) == (3, 2)
        assert (assoc.negotiated.requestor_max_invoked, assoc.negotiated.acceptor_max_invoked) == (
            3,
            2,
        )
    finally:
        assoc.release()


def test_without_a_handler_the_window_is_the_ae_setting(scp: AE) -> None:
    port = serve(scp, [])
    assoc, info = associate(port, [AsynchronousOperationsWindowNegotiation(5, 4)])
    assoc.release()
    assert info.asynchronous_operations_window is None  # maximum_operations_performed = 1
    assert assoc.negotiated.requestor_max_invoked == 1


def test_a_raising_async_ops_handler_answers_synchronous(scp: AE) -> None:
    def broken(event: Any) -> tuple[int, int]:
        raise RuntimeError("boom")

    port = serve(scp, [(evt.EVT_ASYNC_OPS, broken)])
    assoc, info = associate(port, [AsynchronousOperationsWindowNegotiation(5, 4)])
    assoc.release()
    window = info.asynchronous_operations_window
    assert window is not None
    assert (window.max_operations_invoked, window.max_operations_performed) == (1, 1)


def test_the_async_ops_handler_is_not_asked_without_an_offer(scp: AE) -> None:
    seen: list[object] = []

    def on_async_ops(event: Any) -> tuple[int, int]:
        seen.append(event)
        return 2, 2

    port = serve(scp, [(evt.EVT_ASYNC_OPS, on_async_ops)])
    assoc, info = associate(port, [])
    assoc.release()
    assert seen == []
    assert ItemType.ASYNCHRONOUS_OPERATIONS_WINDOW not in item_types(info)


# --------------------------------------------------------------- EVT_SOP_EXTENDED


def test_the_sop_extended_handler_decides_the_replies(scp: AE) -> None:
    seen: list[dict[str, bytes]] = []

    def on_extended(event: Any) -> dict[str, bytes]:
        seen.append(event.app_info)
        # PS3.4 C.3.5: relational queries for the find model; the CT item is
        # left unanswered, and a SOP class that was not negotiated is dropped.
        return {FIND_PATIENT: b"\x01", "1.2.3.4": b"\x09"}

    port = serve(scp, [(evt.EVT_SOP_EXTENDED, on_extended)])
    assoc, info = associate(
        port,
        [
            SOPClassExtendedNegotiation(FIND_PATIENT, b"\x01\x01"),
            SOPClassExtendedNegotiation(CT, b"\x02"),
        ],
    )
    assoc.release()
    assert seen == [{FIND_PATIENT: b"\x01\x01", CT: b"\x02"}]
    assert [
        (e.sop_class, e.service_class_application_information) for e in info.extended_negotiations
    ] == [(FIND_PATIENT, b"\x01")]
    assert dict(assoc.negotiated.extended_negotiation) == {FIND_PATIENT: b"\x01"}


def test_without_a_handler_no_extended_negotiation_is_answered(scp: AE) -> None:
    port = serve(scp, [])
    assoc, info = associate(port, [SOPClassExtendedNegotiation(FIND_PATIENT, b"\x01")])
    assoc.release()
    assert info.extended_negotiations == ()
    assert dict(assoc.negotiated.extended_negotiation) == {}


# ----------------------------------------------------------------- EVT_SOP_COMMON


def test_the_sop_common_handler_accepts_a_subset_not_sent_back(scp: AE) -> None:
    seen: list[dict[str, SOPClassCommonExtendedNegotiation]] = []
    accepted: list[Any] = []
    ct_item = SOPClassCommonExtendedNegotiation(CT, STORAGE_SERVICE, ())
    find_item = SOPClassCommonExtendedNegotiation(FIND_PATIENT, "1.2.840.10008.4.3", ("1.2.3",))

    def on_common(event: Any) -> dict[str, SOPClassCommonExtendedNegotiation]:
        seen.append(event.items)
        return {uid: item for uid, item in event.items.items() if uid == CT}

    def on_accepted(event: Any) -> None:
        accepted.extend(a.negotiated for a in scp.active_associations)

    port = serve(scp, [(evt.EVT_SOP_COMMON, on_common), (evt.EVT_ACCEPTED, on_accepted)])
    assoc, info = associate(port, [ct_item, find_item])
    assoc.release()
    assert seen == [{CT: ct_item, FIND_PATIENT: find_item}]
    # PS3.7 D.3.3.6: the acceptor sends no common extended negotiation item.
    assert ItemType.SOP_CLASS_COMMON_EXTENDED_NEGOTIATION not in item_types(info)
    assert dict(assoc.negotiated.common_extended_negotiation) == {}
    assert [dict(n.common_extended_negotiation) for n in accepted] == [{CT: ct_item}]


# ------------------------------------------------------------------ the requestor


def test_ext_neg_roles_and_identity_reach_the_acceptor(scp: AE) -> None:
    identities: list[bytes] = []

    def on_user_id(event: Any) -> tuple[bool, bytes | None]:
        identities.append(event.primary_field)
        return True, None

    port = serve(scp, [(evt.EVT_USER_ID, on_user_id)])
    assoc, info = associate(
        port,
        [
            RoleProposal(sop_class=CT, scu=True, scp=True),
            UserIdentity.username("alice", positive_response_requested=True),
        ],
    )
    assoc.release()
    assert identities == [b"alice"]
    assert [(r.sop_class, r.scu_role, r.scp_role) for r in info.role_selections] == [(CT, 1, 1)]
    ct_context = next(c for c in assoc.accepted_contexts if c.abstract_syntax == CT)
    assert ct_context.requestor_is_scp
    assert ct_context.requestor_is_scu
    assert assoc.user_identity_response == b""


def test_ext_neg_refuses_what_it_does_not_know() -> None:
    with pytest.raises(TypeError, match="not an extended negotiation item"):
        AE(scu_sop_class=[VERIFICATION]).associate("127.0.0.1", 9, ext_neg=[("1.2", b"x")])
