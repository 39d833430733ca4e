"""pynetdicom's event handlers on dicomul_sync (issue 17): bindings, the
Event a handler gets, what its answer becomes, and the notifications, with
dicomul_sync on both sides over loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from dicomul_sync import AE, evt
from dicomul_sync._events import HandlerRegistry
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT = "1.2.840.10008.5.1.4.1.1.2"
FIND_PATIENT = "1.2.840.10008.5.1.4.1.2.1.1"
GET_PATIENT = "1.2.840.10008.5.1.4.1.2.1.3"
MOVE_PATIENT = "1.2.840.10008.5.1.4.1.2.1.2"
VERIFICATION = "1.2.840.10008.1.1"


def ct(name: str = "DOE^JOHN") -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = generate_uid()
    ds.PatientName = name
    ds.PatientID = "P1"
    return ds


@pytest.fixture
def scp() -> Iterator[AE]:
    ae = AE(ae_title="EVSCP", scp_sop_class=[VERIFICATION, CT, FIND_PATIENT, GET_PATIENT])
    ae.bind_address = "127.0.0.1"
    ae.add_supported_context(CT, scu_role=True, scp_role=True)
    yield ae
    ae.stop(abort=True)


def serve(ae: AE, handlers: list[Any] | None = None) -> int:
    ae.port = 0
    ae.start(block=False, evt_handlers=handlers or [])
    return ae.port


def scu() -> AE:
    ae = AE(ae_title="EVSCU", scu_sop_class=[VERIFICATION, CT, FIND_PATIENT, GET_PATIENT])
    ae.add_requested_context(CT, scp_role=True, scu_role=True)
    return ae


# ------------------------------------------------------------- registries


def test_an_intervention_has_one_handler_a_notification_several() -> None:
    registry = HandlerRegistry()

    def first(event: Any) -> None: ...

    def second(event: Any) -> None: ...

    registry.bind(evt.EVT_C_STORE, first)
    registry.bind(evt.EVT_C_STORE, second, ["x"])
    assert registry.get_handlers(evt.EVT_C_STORE) == (second, ("x",))
    registry.bind(evt.EVT_ACCEPTED, first)
    registry.bind(evt.EVT_ACCEPTED, second)
    registry.bind(evt.EVT_ACCEPTED, first, [1])  # bound again: its args change, not its place
    assert registry.get_handlers(evt.EVT_ACCEPTED) == [(first, (1,)), (second, ())]
    registry.unbind(evt.EVT_ACCEPTED, first)
    registry.unbind(evt.EVT_C_STORE, second)
    assert registry.get_handlers(evt.EVT_ACCEPTED) == [(second, ())]
    assert registry.get_handlers(evt.EVT_C_STORE) is None
    with pytest.raises(TypeError, match="not an event type"):
        registry.bind("EVT_C_STORE", first)  # type: ignore[arg-type]


def test_has_answers_as_the_bindings_do() -> None:
    """``has`` tests the names bound first (a cheap set lookup), then the
    event itself: an equal EventType made anew is bound, one of the same
    name but another description is not; unbinding the last handler clears it."""
    registry = HandlerRegistry()

    def handler(event: Any) -> None: ...

    assert not registry.has(evt.EVT_DATA_SENT)
    registry.bind(evt.EVT_DATA_SENT, handler)
    assert registry.has(evt.EVT_DATA_SENT)
    assert registry.bound_names == {"EVT_DATA_SENT"}
    twin = evt.EventType(
        name="EVT_DATA_SENT",
        description=evt.EVT_DATA_SENT.description,
        is_intervention=evt.EVT_DATA_SENT.is_intervention,
    )
    assert registry.has(twin)
    impostor = evt.EventType(name="EVT_DATA_SENT", description="other", is_intervention=False)
    assert not registry.has(impostor)
    assert not registry.has(evt.EVT_DATA_RECV)
    registry.unbind(evt.EVT_DATA_SENT, handler)
    assert not registry.has(evt.EVT_DATA_SENT)
    assert registry.bound_names == frozenset()


def test_the_ae_reports_what_is_bound() -> None:
    ae = AE()

    def handler(event: Any) -> int:
        return 0

    ae.bind(evt.EVT_C_ECHO, handler)
    assert ae.get_handlers(evt.EVT_C_ECHO) == (handler, ())
    ae.unbind(evt.EVT_C_ECHO, handler)
    assert ae.get_handlers(evt.EVT_C_ECHO) is None
    assert ae.get_handlers(evt.EVT_CONN_OPEN) == []


# ------------------------------------------------------ services as events


def test_echo_handler_takes_precedence_over_the_callback(scp: AE) -> None:
    scp.on_c_echo = lambda: 0x0000  # type: ignore[method-assign]
    seen: list[Any] = []

    def on_echo(event: Any) -> int:
        seen.append((event.event, event.context.abstract_syntax, event.request.MessageID))
        return 0x0122  # a status no callback gives

    port = serve(scp, [(evt.EVT_C_ECHO, on_echo)])
    assoc = scu().associate("127.0.0.1", port, ae_title="EVSCP")
    assert int(assoc.send_c_echo(msg_id=7).Status) == 0x0122
    assoc.release()
    assert seen == [(evt.EVT_C_ECHO, VERIFICATION, 7)]


def test_store_handler_gets_the_data_set_with_its_file_meta(scp: AE) -> None:
    got: list[Any] = []

    def on_store(event: Any, label: str) -> int:
        ds = event.dataset
        got.append(
            (
                label,
                str(ds.PatientName),
                ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID,
                event.file_meta.TransferSyntaxUID,
                event.context.abstract_syntax,
                event.request.AffectedSOPClassUID,
                event.request.Priority,
                event.assoc.negotiated.calling_ae_title,
            )
        )
        return 0x0000

    scp.on_c_store = lambda dataset: 0xC001  # type: ignore[method-assign]
    port = serve(scp, [(evt.EVT_C_STORE, on_store, ["label"])])
    assoc = scu().associate("127.0.0.1", port, ae_title="EVSCP")
    assert int(assoc.send_c_store(ct(), priority=2).Status) == 0x0000
    assoc.release()
    assert len(got) == 1
    label, name, same_uid, syntax, abstract, sop_class, priority, calling = got[0]
    assert (label, name, same_uid, abstract, sop_class, priority) == (
        "label",
        "DOE^JOHN",
        True,
        CT,
        CT,
        2,
    )
    assert syntax in ("1.2.840.10008.1.2", ExplicitVRLittleEndian)
    assert calling == "EVSCU"


@pytest.mark.parametrize(
    ("error", "status"), [(ValueError("bad"), 0xC000), (OSError("disk full"), 0xA700)]
)
def test_a_store_handler_that_raises_answers_the_failure_and_the_server_goes_on(
    scp: AE, error: Exception, status: int
) -> None:
    def on_store(event: Any) -> int:
        raise error

    port = serve(scp, [(evt.EVT_C_STORE, on_store)])
    assoc = scu().associate("127.0.0.1", port, ae_title="EVSCP")
    assert int(assoc.send_c_store(ct()).Status) == status
    assert int(assoc.send_c_echo().Status) == 0x0000  # the same association goes on
    assoc.release()
    again = scu().associate("127.0.0.1", port, ae_title="EVSCP")
    assert again.is_established
    again.release()


def test_find_handler_yields_pending_matches_then_success(scp: AE) -> None:
    def on_find(event: Any) -> Iterator[tuple[int, Dataset | None]]:
        assert event.identifier.QueryRetrieveLevel == "PATIENT"
        assert event.is_cancelled is False
        for name in ("A^B", "C^D"):
            match = Dataset()
            match.PatientName = name
            match.QueryRetrieveLevel = "PATIENT"
            yield 0xFF00, match

    port = serve(scp, [(evt.EVT_C_FIND, on_find)])
    assoc = scu().associate("127.0.0.1", port, ae_title="EVSCP")
    query = Dataset()
    query.QueryRetrieveLevel = "PATIENT"
    query.PatientName = "*"
    responses = [(int(status), ds) for status, ds in assoc.send_c_find(query, "P")]
    assoc.release()
    assert [s for s, _ in responses] == [0xFF00, 0xFF00, 0x0000]
    assert [str(ds.PatientName) for _, ds in responses[:2]] == ["A^B", "C^D"]


def test_find_handler_that_raises_midway_answers_unable_to_process(scp: AE) -> None:
    def on_find(event: Any) -> Iterator[tuple[int, Dataset | None]]:
        match = Dataset()
        match.PatientName = "A^B"
        yield 0xFF00, match
        raise RuntimeError("database gone")

    port = serve(scp, [(evt.EVT_C_FIND, on_find)])
    assoc = scu().associate("127.0.0.1", port, ae_title="EVSCP")
    query = Dataset()
    query.QueryRetrieveLevel = "PATIENT"
    statuses = [int(status) for status, _ in assoc.send_c_find(query, "P")]
    assoc.release()
    assert statuses == [0xFF00, 0xC000]


def test_get_handler_count_then_datasets_reach_the_requestors_store_handler(scp: AE) -> None:
    instances = [ct("ONE^X"), ct("TWO^Y")]

    def on_get(event: Any) -> Iterator[object]:
        yield len(instances)
        for ds in instances:
            yield 0xFF00, ds

    received: list[str] = []

    def on_store(event: Any) -> int:
        received.append(str(event.dataset.PatientName))
        return 0x0000

    port = serve(scp, [(evt.EVT_C_GET, on_get)])
    assoc = scu().associate(
        "127.0.0.1", port, ae_title="EVSCP", evt_handlers=[(evt.EVT_C_STORE, on_store)]
    )
    query = Dataset()
    query.QueryRetrieveLevel = "PATIENT"
    query.PatientID = "P1"
    final = [int(status) for status, _ in assoc.send_c_get(query, "P")][-1]
    assoc.release()
    assert final == 0x0000
    assert received == ["ONE^X", "TWO^Y"]


def test_get_handler_refusing_answers_its_status(scp: AE) -> None:
    def on_get(event: Any) -> Iterator[object]:
        yield 0
        yield 0xA900, None

    port = serve(scp, [(evt.EVT_C_GET, on_get)])
    assoc = scu().associate("127.0.0.1", port, ae_title="EVSCP")
    query = Dataset()
    query.QueryRetrieveLevel = "PATIENT"
    statuses = [int(status) for status, _ in assoc.send_c_get(query, "P")]
    assoc.release()
    assert statuses == [0xA900]


# ------------------------------------------------------------ notifications


def test_association_notifications_on_both_sides(scp: AE) -> None:
    served: list[str] = []
    requested: list[str] = []
    done = threading.Event()

    def note(event: Any, into: list[str]) -> None:
        into.append(event.event.name)
        if event.event is evt.EVT_CONN_CLOSE and into is served:
            done.set()

    kinds = [
        evt.EVT_CONN_OPEN,
        evt.EVT_REQUESTED,
        evt.EVT_ACCEPTED,
        evt.EVT_RELEASED,
        evt.EVT_CONN_CLOSE,
    ]
    port = serve(scp, [(kind, note, [served]) for kind in kinds])
    assoc = scu().associate(
        "127.0.0.1", port, ae_title="EVSCP", evt_handlers=[(k, note, [requested]) for k in kinds]
    )
    assoc.release()
    assert done.wait(5)
    expected = ["EVT_CONN_OPEN", "EVT_REQUESTED", "EVT_ACCEPTED", "EVT_RELEASED", "EVT_CONN_CLOSE"]
    assert served == expected
    assert requested == expected


def test_abort_and_rejection_notifications(scp: AE) -> None:
    served: list[str] = []
    aborted = threading.Event()

    def note(event: Any) -> None:
        served.append(event.event.name)
        if event.event is evt.EVT_ABORTED:
            aborted.set()

    scp.require_calling_aet = "ONLYME"
    port = serve(scp, [(evt.EVT_REJECTED, note), (evt.EVT_ABORTED, note)])
    rejected = scu().associate("127.0.0.1", port, ae_title="EVSCP")
    assert rejected.is_rejected
    scp.require_calling_aet = ""
    assoc = scu().associate("127.0.0.1", port, ae_title="EVSCP")
    assoc.abort()
    assert aborted.wait(5)
    assert served == ["EVT_REJECTED", "EVT_ABORTED"]


def test_a_notification_handler_that_raises_changes_nothing(scp: AE) -> None:
    def broken(event: Any) -> None:
        raise RuntimeError("handler bug")

    port = serve(scp, [(evt.EVT_CONN_OPEN, broken), (evt.EVT_ACCEPTED, broken)])
    assoc = scu().associate("127.0.0.1", port, ae_title="EVSCP")
    assert int(assoc.send_c_echo().Status) == 0x0000
    assoc.release()


def test_binding_on_the_ae_while_serving_reaches_the_current_association(scp: AE) -> None:
    port = serve(scp)
    assoc = scu().associate("127.0.0.1", port, ae_title="EVSCP")
    assert int(assoc.send_c_echo().Status) == 0x0000

    def on_echo(event: Any) -> int:
        return 0x0123

    scp.bind(evt.EVT_C_ECHO, on_echo)
    assert int(assoc.send_c_echo().Status) == 0x0123  # the association going on
    (served,) = scp.active_associations
    assert served.get_handlers(evt.EVT_C_ECHO) == (on_echo, ())
    scp.unbind(evt.EVT_C_ECHO, on_echo)
    assert int(assoc.send_c_echo().Status) == 0x0000  # back to on_c_echo
    assoc.release()
    scp.bind(evt.EVT_C_ECHO, on_echo)
    later = scu().associate("127.0.0.1", port, ae_title="EVSCP")  # a new one
    assert int(later.send_c_echo().Status) == 0x0123
    later.release()


def test_binding_on_a_served_association_only_affects_it(scp: AE) -> None:
    port = serve(scp)
    first = scu().associate("127.0.0.1", port, ae_title="EVSCP")
    second = scu().associate("127.0.0.1", port, ae_title="EVSCP")
    # Answered: each is in a worker's hands, so listed as served.
    assert int(first.send_c_echo().Status) == int(second.send_c_echo().Status) == 0
    first_served = next(
        a for a in scp.active_associations if a.address[1] == first._channel.sock.getsockname()[1]
    )
    first_served.bind(evt.EVT_C_ECHO, lambda event: 0x0124)
    assert int(first.send_c_echo().Status) == 0x0124
    assert int(second.send_c_echo().Status) == 0x0000
    first.release()
    second.release()


def test_n_create_handler_sees_the_assigned_instance_uid_and_answers_a_data_set() -> None:
    mpps = "1.2.840.10008.3.1.2.3.3"
    scp = AE(ae_title="EVSCP", scp_sop_class=[mpps])
    scp.bind_address = "127.0.0.1"
    seen: list[Any] = []

    def on_create(event: Any) -> tuple[int, Dataset]:
        seen.append((event.request.AffectedSOPInstanceUID, event.dataset.PatientID))
        reply = Dataset()
        reply.PatientID = event.dataset.PatientID
        return 0x0000, reply

    try:
        port = serve(scp, [(evt.EVT_N_CREATE, on_create)])
        assoc = AE(ae_title="EVSCU", scu_sop_class=[mpps]).associate(
            "127.0.0.1", port, ae_title="EVSCP"
        )
        attributes = Dataset()
        attributes.PatientID = "N1"
        status, reply = assoc.send_n_create(attributes, mpps)
        assoc.release()
    finally:
        scp.stop(abort=True)
    assert status is not None
    assert int(status.Status) == 0
    assert reply is not None
    assert reply.PatientID == "N1"
    assert seen == [(status.AffectedSOPInstanceUID, "N1")]


def test_pdu_dimse_and_data_notifications_on_both_sides(scp: AE) -> None:
    requested: list[tuple[str, str]] = []
    served: list[tuple[str, str]] = []
    closed = threading.Event()

    def note(event: Any, into: list[tuple[str, str]]) -> None:
        if event.event in (evt.EVT_PDU_SENT, evt.EVT_PDU_RECV):
            into.append((event.event.name, type(event.pdu).__name__))
        elif event.event in (evt.EVT_DIMSE_SENT, evt.EVT_DIMSE_RECV):
            into.append((event.event.name, hex(event.message.command_field)))
        elif event.event is evt.EVT_CONN_CLOSE:
            closed.set()
        else:
            assert isinstance(event.data, bytes)
            into.append((event.event.name, "bytes"))

    wire = [evt.EVT_PDU_SENT, evt.EVT_PDU_RECV, evt.EVT_DIMSE_SENT, evt.EVT_DIMSE_RECV]
    port = serve(scp, [(e, note, [served]) for e in [*wire, evt.EVT_CONN_CLOSE]])
    assoc = scu().associate(
        "127.0.0.1",
        port,
        ae_title="EVSCP",
        evt_handlers=[(e, note, [requested]) for e in [*wire, evt.EVT_DATA_SENT]],
    )
    assert int(assoc.send_c_echo().Status) == 0
    assoc.release()
    assert closed.wait(5)
    pdus = [kind for name, kind in requested if name.startswith("EVT_PDU")]
    assert pdus == ["AssociateRQ", "AssociateAC", "PDataTF", "PDataTF", "ReleaseRQ", "ReleaseRP"]
    messages = [(n, k) for n, k in requested if n.startswith("EVT_DIMSE")]
    assert messages == [("EVT_DIMSE_SENT", "0x30"), ("EVT_DIMSE_RECV", "0x8030")]
    assert ("EVT_DATA_SENT", "bytes") in requested
    # The SCP's connection is observed from its first byte on.
    assert [(n, k) for n, k in served if n.startswith("EVT_DIMSE")] == [
        ("EVT_DIMSE_RECV", "0x30"),
        ("EVT_DIMSE_SENT", "0x8030"),
    ]
    assert [k for n, k in served if n.startswith("EVT_PDU")] == [
        "AssociateRQ",
        "AssociateAC",
        "PDataTF",
        "PDataTF",
        "ReleaseRQ",
        "ReleaseRP",
    ]


def test_fsm_transitions_of_an_echo_as_table_9_10_names_them(scp: AE) -> None:
    seen: list[tuple[str, str, str, str]] = []

    def note(event: Any) -> None:
        seen.append((event.current_state, event.fsm_event, event.action, event.next_state))

    port = serve(scp)
    assoc = scu().associate(
        "127.0.0.1", port, ae_title="EVSCP", evt_handlers=[(evt.EVT_FSM_TRANSITION, note)]
    )
    assert int(assoc.send_c_echo().Status) == 0
    assoc.release()
    assert seen == [
        ("Sta1", "Evt1", "AE-1", "Sta4"),
        ("Sta4", "Evt2", "AE-2", "Sta5"),
        ("Sta5", "Evt3", "AE-3", "Sta6"),
        ("Sta6", "Evt9", "DT-1", "Sta6"),
        ("Sta6", "Evt10", "DT-2", "Sta6"),
        ("Sta6", "Evt11", "AR-1", "Sta7"),
        ("Sta7", "Evt13", "AR-3", "Sta1"),
    ]


@pytest.mark.parametrize("where", ["before the address", "after the address"])
def test_a_move_handler_that_raises_answers_unable_to_process(scp: AE, where: str) -> None:
    def on_move(event: Any) -> Iterator[object]:
        if where == "before the address":
            raise RuntimeError("no database")
        yield "127.0.0.1", 1
        raise RuntimeError("no database")

    scp.scp_sop_class.append(MOVE_PATIENT)
    port = serve(scp, [(evt.EVT_C_MOVE, on_move)])
    requestor = scu()
    requestor.scu_sop_class.append(MOVE_PATIENT)
    assoc = requestor.associate("127.0.0.1", port, ae_title="EVSCP")
    query = Dataset()
    query.QueryRetrieveLevel = "PATIENT"
    statuses = [int(status) for status, _ in assoc.send_c_move(query, "ANYWHERE", "P")]
    assert int(assoc.send_c_echo().Status) == 0  # the association goes on
    assoc.release()
    assert statuses == [0xC000]


def test_store_handler_can_write_the_encoded_data_set_as_a_part_10_file(
    scp: AE, tmp_path: Any
) -> None:
    import pydicom

    def on_store(event: Any) -> int:
        path = tmp_path / f"{event.request.AffectedSOPInstanceUID}.dcm"
        path.write_bytes(event.encoded_dataset())  # as received: never decoded here
        raw = event.encoded_dataset(include_meta=False)  # a raise would answer 0xC000
        assert event.encoded_dataset().endswith(raw)
        assert raw[:4] != b"\0" * 4  # the data set itself, no preamble
        return 0x0000

    scp.implementation_version_name = "EVTEST"
    port = serve(scp, [(evt.EVT_C_STORE, on_store)])
    assoc = scu().associate("127.0.0.1", port, ae_title="EVSCP")
    sent = ct("PART^TEN")
    assert int(assoc.send_c_store(sent).Status) == 0
    assoc.release()
    written = pydicom.dcmread(tmp_path / f"{sent.SOPInstanceUID}.dcm")
    assert str(written.PatientName) == "PART^TEN"
    assert written.file_meta.MediaStorageSOPInstanceUID == sent.SOPInstanceUID
    assert written.file_meta.ImplementationVersionName == "EVTEST"


def _wire_note(seen: list[tuple[object, ...]]) -> Any:
    """A server-side handler recording what it is told, with the association."""

    def note(event: Any) -> None:
        kind = event.event
        if kind is evt.EVT_FSM_TRANSITION:
            detail: tuple[object, ...] = (
                event.current_state,
                event.fsm_event,
                event.action,
                event.next_state,
            )
        elif kind in (evt.EVT_PDU_RECV, evt.EVT_PDU_SENT):
            detail = (type(event.pdu).__name__,)
        elif kind in (evt.EVT_DATA_RECV, evt.EVT_DATA_SENT):
            detail = (bytes(event.data),)
        else:
            detail = ()
        seen.append((kind.name, *detail, event.assoc))

    return note


WIRE_AND_ASSOCIATION = [
    evt.EVT_CONN_OPEN,
    evt.EVT_DATA_RECV,
    evt.EVT_DATA_SENT,
    evt.EVT_PDU_RECV,
    evt.EVT_PDU_SENT,
    evt.EVT_FSM_TRANSITION,
    evt.EVT_REQUESTED,
    evt.EVT_ACCEPTED,
    evt.EVT_REJECTED,
    evt.EVT_CONN_CLOSE,
]


def test_the_scp_reports_its_connection_from_the_first_byte(scp: AE) -> None:
    """Before its A-ASSOCIATE-AC is out, the SCP's handlers see the RQ come
    in and the AC go out, and the transitions of PS3.8 Table 9-10 that take
    an acceptor from Sta1 to Sta6 (AE-5, AE-6, AE-7), in that order, with
    one not-yet-established association object; then the worker's."""
    seen: list[tuple[object, ...]] = []
    closed = threading.Event()
    port = serve(scp, [(kind, _wire_note(seen)) for kind in WIRE_AND_ASSOCIATION])

    def back_to_idle(event: Any) -> None:
        if event.next_state == "Sta1":
            closed.set()

    scp.bind(evt.EVT_FSM_TRANSITION, back_to_idle)
    assoc = scu().associate("127.0.0.1", port, ae_title="EVSCP")
    assert int(assoc.send_c_echo().Status) == 0
    assoc.release()
    assert closed.wait(5)
    accepted = [entry[0] for entry in seen].index("EVT_ACCEPTED")
    before = [entry[:-1] for entry in seen[:accepted]]
    received = b"".join(entry[1] for entry in before if entry[0] == "EVT_DATA_RECV")  # type: ignore[misc]
    sent = b"".join(entry[1] for entry in before if entry[0] == "EVT_DATA_SENT")  # type: ignore[misc]
    assert received[:1] == b"\x01"  # the A-ASSOCIATE-RQ in (PS3.8 9.3.2)
    assert sent[:1] == b"\x02"  # the A-ASSOCIATE-AC out (PS3.8 9.3.3)
    assert [entry for entry in before if not entry[0].startswith("EVT_DATA")] == [
        ("EVT_CONN_OPEN",),
        ("EVT_FSM_TRANSITION", "Sta1", "Evt5", "AE-5", "Sta2"),
        ("EVT_PDU_RECV", "AssociateRQ"),
        ("EVT_FSM_TRANSITION", "Sta2", "Evt6", "AE-6", "Sta3"),
        ("EVT_REQUESTED",),
        ("EVT_FSM_TRANSITION", "Sta3", "Evt7", "AE-7", "Sta6"),
        ("EVT_PDU_SENT", "AssociateAC"),
    ]
    # The data received comes before the PDU it holds, as pynetdicom reports.
    names = [entry[0] for entry in before]
    assert names.index("EVT_DATA_RECV") < names.index("EVT_PDU_RECV")
    assert names.index("EVT_DATA_SENT") < names.index("EVT_PDU_SENT")
    connecting = {id(entry[-1]) for entry in seen[:accepted]}
    assert len(connecting) == 1  # one object for the connection until accepted
    first = seen[0][-1]
    assert first.is_established is False  # type: ignore[attr-defined]
    assert first.request.calling_aet == "EVSCU"  # type: ignore[attr-defined]
    served = seen[accepted][-1]
    after = [entry[:-1] for entry in seen[accepted:] if entry[0] == "EVT_FSM_TRANSITION"]
    assert after[-1] == ("EVT_FSM_TRANSITION", "Sta13", "Evt17", "AR-5", "Sta1")
    assert all(entry[-1] is served for entry in seen[accepted:])
    # The PDUs go on being framed across the hand-over to the worker.
    pdus = [entry[1] for entry in seen if entry[0] in ("EVT_PDU_RECV", "EVT_PDU_SENT")]
    assert pdus == ["AssociateRQ", "AssociateAC", "PDataTF", "PDataTF", "ReleaseRQ", "ReleaseRP"]


def test_the_scp_reports_a_rejection_on_the_wire(scp: AE) -> None:
    """A rejected request: RQ in, RJ out, Sta3 to Sta13 (AE-8), then the
    peer's close (AR-5), all from the accept loop (PS3.8 Table 9-10)."""
    seen: list[tuple[object, ...]] = []
    closed = threading.Event()
    scp.require_called_aet = True
    port = serve(scp, [(kind, _wire_note(seen)) for kind in WIRE_AND_ASSOCIATION])
    scp.bind(evt.EVT_CONN_CLOSE, lambda event: closed.set())
    assoc = scu().associate("127.0.0.1", port, ae_title="SOMEONE")
    assert assoc.is_rejected
    assert closed.wait(5)
    assert [entry[:-1] for entry in seen if not entry[0].startswith("EVT_DATA")] == [
        ("EVT_CONN_OPEN",),
        ("EVT_FSM_TRANSITION", "Sta1", "Evt5", "AE-5", "Sta2"),
        ("EVT_PDU_RECV", "AssociateRQ"),
        ("EVT_FSM_TRANSITION", "Sta2", "Evt6", "AE-6", "Sta3"),
        ("EVT_REQUESTED",),
        ("EVT_FSM_TRANSITION", "Sta3", "Evt8", "AE-8", "Sta13"),
        ("EVT_REJECTED",),
        ("EVT_PDU_SENT", "AssociateRJ"),
        ("EVT_FSM_TRANSITION", "Sta13", "Evt17", "AR-5", "Sta1"),
        ("EVT_CONN_CLOSE",),
    ]
    assert len({id(entry[-1]) for entry in seen}) == 1


@pytest.fixture
def destination() -> Iterator[tuple[AE, list[Any]]]:
    """A storage SCP as a move destination, recording each association it accepts."""
    accepted: list[Any] = []
    ae = AE(ae_title="DEST", scp_sop_class=[CT])
    ae.bind_address = "127.0.0.1"
    ae.port = 0
    ae.start(
        block=False,
        evt_handlers=[
            (evt.EVT_ACCEPTED, lambda event: accepted.append(event.assoc.negotiated)),
            (evt.EVT_C_STORE, lambda event: 0x0000),
        ],
    )
    yield ae, accepted
    ae.stop(abort=True)


def _move(port: int, destination: str = "DEST") -> tuple[list[int], Any]:
    requestor = scu()
    requestor.scu_sop_class.append(MOVE_PATIENT)
    assoc = requestor.associate("127.0.0.1", port, ae_title="EVSCP")
    query = Dataset()
    query.QueryRetrieveLevel = "PATIENT"
    statuses = [int(status) for status, _ in assoc.send_c_move(query, destination, "P")]
    final = assoc.last_response
    assoc.release()
    return statuses, final


def test_a_move_handlers_association_keywords_are_used(
    scp: AE, destination: tuple[AE, list[Any]]
) -> None:
    """``(addr, port, kwargs)``: the sub-association is requested with
    pynetdicom's ``associate()`` keywords, as the destination sees them (its
    called AE title, the requestor's maximum PDU length) and as handlers
    bound through them are told."""
    dest, accepted = destination
    told: list[str] = []

    def on_move(event: Any) -> Iterator[object]:
        keywords = {
            "ae_title": "OTHER-TITLE",
            "max_pdu": 8192,
            "bind_address": ("127.0.0.1", 0),
            "evt_handlers": [
                (evt.EVT_DIMSE_SENT, lambda e: told.append(hex(e.message.command_field)))
            ],
        }
        yield "127.0.0.1", dest.port, keywords
        yield 2
        yield 0xFF00, ct("ONE")
        yield 0xFF00, ct("TWO")

    scp.scp_sop_class.append(MOVE_PATIENT)
    port = serve(scp, [(evt.EVT_C_MOVE, on_move)])
    statuses, final = _move(port)
    assert statuses[-1] == 0x0000
    assert final.NumberOfCompletedSuboperations == 2
    assert [n.called_ae_title for n in accepted] == ["OTHER-TITLE"]
    assert accepted[0].requestor_max_pdu_length == 8192
    assert told == ["0x1", "0x1"]  # the two C-STORE-RQs, seen by the handler given


def test_the_seed_on_c_move_may_yield_the_address_and_keywords_first(
    scp: AE, destination: tuple[AE, list[Any]]
) -> None:
    """The seed's ``on_c_move`` may name the address of a destination the
    AE does not know, with keywords, before its instances (pynetdicom3's
    handlers did); a destination in ``move_destinations`` still wins."""
    dest, accepted = destination

    def on_c_move(identifier: Dataset, move_aet: str) -> Iterator[object]:
        yield "127.0.0.1", dest.port, {"max_pdu": 32768}
        yield ct("ONE")

    scp.on_c_move = on_c_move  # type: ignore[method-assign]
    scp.scp_sop_class.append(MOVE_PATIENT)
    port = serve(scp)
    statuses, final = _move(port)
    assert statuses[-1] == 0x0000
    assert final.NumberOfCompletedSuboperations == 1
    assert accepted[0].requestor_max_pdu_length == 32768
    scp.move_destinations["DEST"] = ("127.0.0.1", 1)  # known: the handler's address is not asked
    statuses, final = _move(port)
    assert final.NumberOfFailedSuboperations == 1  # the one instance, not the address
    assert statuses[-1] == 0xA702  # every sub-operation failed to reach port 1
    assert len(accepted) == 1


@pytest.mark.parametrize(
    ("keywords", "named"),
    [
        ({"max_pdu": 8192, "maxpdu": 1}, "'maxpdu'"),
        ({"max_pdu": "big"}, "max_pdu"),
        ({"evt_handlers": [("EVT_C_STORE", print)]}, "not an event type"),
        ({"ext_neg": ["not an item"]}, "not an extended negotiation item"),
        ({"contexts": []}, "contexts is empty"),
        ({"bind_address": "127.0.0.1"}, "bind_address"),
        ({"tls_args": ("no context", None)}, "tls_args must be"),
        ({"ae_title": "A" * 17}, "longer than 16 characters"),
        ("not a dict", "must be a dict"),
    ],
)
def test_unusable_move_keywords_answer_a_failure_and_say_why(
    scp: AE,
    destination: tuple[AE, list[Any]],
    keywords: object,
    named: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dest, accepted = destination

    def on_move(event: Any) -> Iterator[object]:
        yield "127.0.0.1", dest.port, keywords
        yield 1
        yield 0xFF00, ct("ONE")

    scp.scp_sop_class.append(MOVE_PATIENT)
    port = serve(scp, [(evt.EVT_C_MOVE, on_move)])
    with caplog.at_level("ERROR", logger="dicomul.sync"):
        statuses, _ = _move(port)
    assert statuses == [0xC000]  # unable to process (PS3.4 C.4.2.1.5), before any sub-operation
    assert accepted == []
    assert any(named in record.getMessage() for record in caplog.records)
