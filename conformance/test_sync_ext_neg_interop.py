"""Extended negotiation between dicomul_sync and pynetdicom 3 (issue 17):
pynetdicom's ``ext_neg`` into a dicomul_sync SCP whose EVT_ASYNC_OPS,
EVT_SOP_EXTENDED and EVT_SOP_COMMON handlers answer, and dicomul_sync's
``associate(ext_neg=...)`` into a pynetdicom SCP with its own handlers
(PS3.7 D.3.3.3, D.3.3.5, D.3.3.6).  Each side's view is checked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dicomul_sync import AE, evt
from peers import pynetdicom_scp, pynetdicom_scu

from dicomul import (
    AsynchronousOperationsWindowNegotiation,
    SOPClassCommonExtendedNegotiation,
    SOPClassExtendedNegotiation,
)

HOST = "127.0.0.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
VERIFICATION = "1.2.840.10008.1.1"
FIND_PATIENT = "1.2.840.10008.5.1.4.1.2.1.1"
STORAGE_SERVICE = "1.2.840.10008.4.2"
QR_SERVICE = "1.2.840.10008.4.3"


@pytest.fixture
def scp() -> Iterator[AE]:
    ae = AE(ae_title="XNSCP", scp_sop_class=[VERIFICATION, CT, FIND_PATIENT])
    ae.bind_address = HOST
    yield ae
    ae.stop(abort=True)


def test_pynetdicom_ext_neg_into_our_handlers(scp: AE) -> None:
    from pynetdicom import pdu_primitives as prim

    seen: dict[str, Any] = {}

    def on_async_ops(event: Any) -> tuple[int, int]:
        seen["window"] = (event.nr_invoked, event.nr_performed)
        return 2, 1

    def on_extended(event: Any) -> dict[str, bytes]:
        seen["app_info"] = event.app_info
        return {FIND_PATIENT: b"\x01"}

    def on_common(event: Any) -> dict[str, Any]:
        seen["common"] = event.items
        return {CT: event.items[CT]}

    def on_accepted(event: Any) -> None:
        seen["accepted"] = [
            dict(a.negotiated.common_extended_negotiation) for a in scp.active_associations
        ]

    scp.port = 0
    scp.start(
        block=False,
        evt_handlers=[
            (evt.EVT_ASYNC_OPS, on_async_ops),
            (evt.EVT_SOP_EXTENDED, on_extended),
            (evt.EVT_SOP_COMMON, on_common),
            (evt.EVT_ACCEPTED, on_accepted),
        ],
    )
    window = prim.AsynchronousOperationsWindowNegotiation()
    window.maximum_number_operations_invoked = 5
    window.maximum_number_operations_performed = 4
    extended = prim.SOPClassExtendedNegotiation()
    extended.sop_class_uid = FIND_PATIENT
    extended.service_class_application_information = b"\x01\x01"
    common = prim.SOPClassCommonExtendedNegotiation()
    common.sop_class_uid = CT
    common.service_class_uid = STORAGE_SERVICE
    common.related_general_sop_class_identification = []
    other = prim.SOPClassCommonExtendedNegotiation()
    other.sop_class_uid = FIND_PATIENT
    other.service_class_uid = QR_SERVICE
    other.related_general_sop_class_identification = []

    peer = pynetdicom_scu("PYSCU", {VERIFICATION: None, CT: None, FIND_PATIENT: None})
    assoc = peer.associate(
        HOST, scp.port, ae_title="XNSCP", ext_neg=[window, extended, common, other]
    )
    try:
        assert assoc.is_established
        # What pynetdicom read from our A-ASSOCIATE-AC.
        assert assoc.acceptor.asynchronous_operations == (2, 1)
        assert assoc.acceptor.sop_class_extended == {FIND_PATIENT: b"\x01"}
        assert assoc.send_c_echo().Status == 0x0000
    finally:
        assoc.release()
    # What our handlers were given.
    assert seen["window"] == (5, 4)
    assert seen["app_info"] == {FIND_PATIENT: b"\x01\x01"}
    assert seen["common"] == {
        CT: SOPClassCommonExtendedNegotiation(CT, STORAGE_SERVICE, ()),
        FIND_PATIENT: SOPClassCommonExtendedNegotiation(FIND_PATIENT, QR_SERVICE, ()),
    }
    assert seen["accepted"] == [{CT: SOPClassCommonExtendedNegotiation(CT, STORAGE_SERVICE, ())}]


def test_our_ext_neg_into_pynetdicom_handlers() -> None:
    seen: dict[str, Any] = {}

    def on_async_ops(event: Any) -> tuple[int, int]:
        seen["window"] = (event.nr_invoked, event.nr_performed)
        return 1, 1

    def on_extended(event: Any) -> dict[str, bytes]:
        seen["app_info"] = {str(uid): info for uid, info in event.app_info.items()}
        return {FIND_PATIENT: b"\x01\x00"}

    def on_common(event: Any) -> dict[Any, Any]:
        seen["common"] = {
            str(uid): (
                str(item.service_class_uid),
                list(item.related_general_sop_class_identification),
            )
            for uid, item in event.items.items()
        }
        return event.items

    import pynetdicom

    handlers = [
        (pynetdicom.evt.EVT_ASYNC_OPS, on_async_ops),
        (pynetdicom.evt.EVT_SOP_EXTENDED, on_extended),
        (pynetdicom.evt.EVT_SOP_COMMON, on_common),
    ]
    with pynetdicom_scp("PYSCP", [VERIFICATION, FIND_PATIENT, CT], handlers) as port:
        assoc = AE(ae_title="XNSCU", scu_sop_class=[VERIFICATION, FIND_PATIENT, CT]).associate(
            HOST,
            port,
            "PYSCP",
            ext_neg=[
                AsynchronousOperationsWindowNegotiation(3, 3),
                SOPClassExtendedNegotiation(FIND_PATIENT, b"\x01\x01\x01"),
                SOPClassCommonExtendedNegotiation(
                    CT, STORAGE_SERVICE, ("1.2.840.10008.5.1.4.1.1.2.1",)
                ),
            ],
        )
        try:
            assert assoc.is_established
            negotiated = assoc.negotiated
            # pynetdicom answers any window offered as synchronous (1, 1).
            assert (negotiated.requestor_max_invoked, negotiated.acceptor_max_invoked) == (1, 1)
            assert dict(negotiated.extended_negotiation) == {FIND_PATIENT: b"\x01\x00"}
            assert assoc.send_c_echo().Status == 0x0000
        finally:
            assoc.release()
    assert seen["window"] == (3, 3)
    assert seen["app_info"] == {FIND_PATIENT: b"\x01\x01\x01"}
    assert seen["common"] == {CT: (STORAGE_SERVICE, ["1.2.840.10008.5.1.4.1.1.2.1"])}
