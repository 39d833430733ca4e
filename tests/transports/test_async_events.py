"""Event handlers and extended negotiation on the async adapters (issue 17),
on asyncio and on trio: ``connect(evt_handlers=..., ext_neg=...)`` and
``serve(evt_handlers=...)`` with the core's event types, the order and the
payloads of the notifications on both sides, the acceptor's extended
negotiation decided by EVT_ASYNC_OPS, EVT_SOP_EXTENDED and EVT_SOP_COMMON
handlers (PS3.7 D.3.3.3, D.3.3.5, D.3.3.6), EVT_USER_ID (D.3.3.7), and the
DIMSE services' intervention events."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import dicomul_asyncio
import dicomul_trio
import pytest
from dicomul_anyio import AssociationRejectedError, Handlers, serve
from dicomul_common.events import Connecting, Event
from pydicom.dataset import Dataset

from dicomul import (
    EVENT_TYPES,
    EVT_ABORTED,
    EVT_ACCEPTED,
    EVT_ASYNC_OPS,
    EVT_C_ECHO,
    EVT_C_FIND,
    EVT_C_GET,
    EVT_C_STORE,
    EVT_CONN_CLOSE,
    EVT_CONN_OPEN,
    EVT_DATA_RECV,
    EVT_DATA_SENT,
    EVT_DIMSE_RECV,
    EVT_DIMSE_SENT,
    EVT_FSM_TRANSITION,
    EVT_N_GET,
    EVT_PDU_RECV,
    EVT_PDU_SENT,
    EVT_REJECTED,
    EVT_RELEASED,
    EVT_REQUESTED,
    EVT_SOP_COMMON,
    EVT_SOP_EXTENDED,
    EVT_USER_ID,
    AsynchronousOperationsWindowNegotiation,
    CommandField,
    EventType,
    RoleProposal,
    SOPClassCommonExtendedNegotiation,
    SOPClassExtendedNegotiation,
    UserIdentity,
)
from dicomul.pdu import AssociateAC, AssociateRQ, PDataTF, ReleaseRP, ReleaseRQ

pytestmark = pytest.mark.anyio

VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
FIND_P = "1.2.840.10008.5.1.4.1.2.1.1"
GET_P = "1.2.840.10008.5.1.4.1.2.1.3"
PRINTER = "1.2.840.10008.5.1.1.16"
STORAGE_SERVICE = "1.2.840.10008.4.2"
QR_SERVICE = "1.2.840.10008.4.3"
HOST = "127.0.0.1"
NOTIFICATIONS = [event for event in EVENT_TYPES if event.is_notification]
LIFECYCLE = {
    EVT_CONN_OPEN,
    EVT_REQUESTED,
    EVT_ACCEPTED,
    EVT_REJECTED,
    EVT_RELEASED,
    EVT_ABORTED,
    EVT_CONN_CLOSE,
}


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def package(backend: str) -> Any:
    return dicomul_asyncio if backend == "asyncio" else dicomul_trio


class Recorder:
    """Records every notification, and says when the connection closed."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.closed = anyio.Event()

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        if event.event is EVT_CONN_CLOSE:
            self.closed.set()

    def bindings(self, kinds: list[EventType] = NOTIFICATIONS) -> list[tuple[EventType, Any]]:
        return [(kind, self) for kind in kinds]

    def names(self, only: set[EventType] = LIFECYCLE) -> list[str]:
        return [e.event.name for e in self.events if e.event in only]

    def of(self, kind: EventType) -> list[Event]:
        return [e for e in self.events if e.event is kind]

    async def wait_closed(self) -> None:
        with anyio.fail_after(10):
            await self.closed.wait()


@contextlib.asynccontextmanager
async def running(handlers: Handlers | None = None, **options: Any) -> AsyncIterator[int]:
    """``serve`` on a free loopback port; cancelled on leaving."""
    options.setdefault("ae_title", "ASYNCSCP")
    async with anyio.create_task_group() as group:
        port = await group.start(
            functools.partial(serve, handlers or Handlers(), port=0, host=HOST, **options)
        )
        yield port
        group.cancel_scope.cancel()


def pdu_types(events: list[Event]) -> list[type]:
    return [type(e.pdu) for e in events]


# ------------------------------------------------------------- notifications


async def test_an_echo_notifies_both_sides_in_order(anyio_backend: str) -> None:
    client, server = Recorder(), Recorder()
    async with running(evt_handlers=server.bindings()) as port:
        async with package(anyio_backend).connect(
            HOST,
            port,
            called_ae_title="ASYNCSCP",
            ae_title="EVSCU",
            sop_classes=[VERIFICATION],
            evt_handlers=client.bindings(),
        ) as assoc:
            assert (await assoc.c_echo()).Status == 0
        await server.wait_closed()
    # The association's life, as pynetdicom's events tell it.
    expected = ["EVT_CONN_OPEN", "EVT_REQUESTED", "EVT_ACCEPTED", "EVT_RELEASED", "EVT_CONN_CLOSE"]
    assert client.names() == expected
    assert server.names() == expected
    # Before acceptance the requestor's events name the connection, then the association.
    opened, requested, accepted = (
        client.events[0],
        client.of(EVT_REQUESTED)[0],
        client.of(EVT_ACCEPTED)[0],
    )
    assert isinstance(opened.assoc, Connecting)
    assert opened.address == (HOST, port)
    assert requested.assoc.requestor.ae_title == "EVSCU"
    assert accepted.assoc is assoc
    assert client.of(EVT_CONN_CLOSE)[0].address == (HOST, port)
    # The acceptor's events all name one object, which learns the request.
    served = {id(e.assoc) for e in server.events}
    assert len(served) == 1
    assert server.of(EVT_REQUESTED)[0].assoc.request.calling_aet.strip() == "EVSCU"
    assert server.of(EVT_CONN_OPEN)[0].address[0] == HOST
    # PDUs: the requestor sends RQ, P-DATA, A-RELEASE-RQ; the acceptor the rest.
    assert pdu_types(client.of(EVT_PDU_SENT)) == [AssociateRQ, PDataTF, ReleaseRQ]
    assert pdu_types(client.of(EVT_PDU_RECV)) == [AssociateAC, PDataTF, ReleaseRP]
    assert pdu_types(server.of(EVT_PDU_RECV)) == [AssociateRQ, PDataTF, ReleaseRQ]
    assert pdu_types(server.of(EVT_PDU_SENT)) == [AssociateAC, PDataTF, ReleaseRP]
    # The bytes add up to the PDUs (and arrive before the PDU they frame).
    sent = b"".join(e.data for e in client.of(EVT_DATA_SENT))
    assert sent[0] == 0x01
    assert sent[-10] == 0x05
    assert b"".join(e.data for e in server.of(EVT_DATA_RECV)) == sent
    first_pdu = client.events.index(client.of(EVT_PDU_SENT)[0])
    assert client.events.index(client.of(EVT_DATA_SENT)[0]) < first_pdu
    # DIMSE: the C-ECHO-RQ one way, its response the other.
    (rq,) = client.of(EVT_DIMSE_SENT)
    (rsp,) = client.of(EVT_DIMSE_RECV)
    assert rq.message.command_field == CommandField.C_ECHO_RQ
    assert rsp.message.command_field == CommandField.C_ECHO_RSP
    assert rsp.message.message_id_being_responded_to == rq.message.message_id
    assert rq.context_id == rsp.context_id
    assert [e.message.command_field for e in server.of(EVT_DIMSE_RECV)] == [CommandField.C_ECHO_RQ]
    # The state machine (PS3.8 Table 9-10) from AE-1 to the connection closed.
    steps = [
        (e.current_state, e.fsm_event, e.action, e.next_state)
        for e in client.of(EVT_FSM_TRANSITION)
    ]
    assert steps[0] == ("Sta1", "Evt1", "AE-1", "Sta4")
    assert ("Sta5", "Evt3", "AE-3", "Sta6") in steps
    assert ("Sta7", "Evt13", "AR-3", "Sta1") in steps
    server_steps = [e.action for e in server.of(EVT_FSM_TRANSITION)]
    assert server_steps[:2] == ["AE-5", "AE-6"]
    assert all(isinstance(e.timestamp, __import__("datetime").datetime) for e in client.events)


async def test_a_rejection_and_an_abort_are_notified(anyio_backend: str) -> None:
    client, server = Recorder(), Recorder()
    async with running(evt_handlers=server.bindings(), require_called_aet=True) as port:
        with pytest.raises(AssociationRejectedError):
            async with package(anyio_backend).connect(
                HOST,
                port,
                called_ae_title="WRONG",
                sop_classes=[VERIFICATION],
                evt_handlers=client.bindings(),
            ):
                pass  # pragma: no cover - rejected
        await server.wait_closed()
        assert client.names() == [
            "EVT_CONN_OPEN",
            "EVT_REQUESTED",
            "EVT_REJECTED",
            "EVT_CONN_CLOSE",
        ]
        assert server.names() == [
            "EVT_CONN_OPEN",
            "EVT_REQUESTED",
            "EVT_REJECTED",
            "EVT_CONN_CLOSE",
        ]

        client, server.events, server.closed = Recorder(), [], anyio.Event()
        async with package(anyio_backend).connect(
            HOST,
            port,
            called_ae_title="ASYNCSCP",
            sop_classes=[VERIFICATION],
            evt_handlers=client.bindings(),
        ) as assoc:
            await assoc.abort()
        await server.wait_closed()
    expected = ["EVT_CONN_OPEN", "EVT_REQUESTED", "EVT_ACCEPTED", "EVT_ABORTED", "EVT_CONN_CLOSE"]
    assert client.names() == expected
    assert server.names() == expected


async def test_a_failing_notification_handler_changes_nothing(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    def fails(event: Event) -> None:
        raise RuntimeError("handler bug")

    async with running(evt_handlers=[(EVT_ACCEPTED, fails), (EVT_DIMSE_RECV, fails)]) as port:
        with caplog.at_level(logging.ERROR):
            async with package(anyio_backend).connect(
                HOST,
                port,
                sop_classes=[VERIFICATION],
                evt_handlers=[(EVT_REQUESTED, fails), (EVT_PDU_RECV, fails)],
            ) as assoc:
                assert (await assoc.c_echo()).Status == 0
    assert "handler bug" in caplog.text


async def test_bind_and_unbind_on_the_association(anyio_backend: str) -> None:
    seen: list[str] = []

    def on_dimse(event: Event, label: str) -> None:
        seen.append(f"{label}:{CommandField(event.message.command_field).name}")

    async with (
        running() as port,
        package(anyio_backend).connect(HOST, port, sop_classes=[VERIFICATION]) as assoc,
    ):
        await assoc.c_echo()  # nothing bound yet
        assoc.bind(EVT_DIMSE_SENT, on_dimse, ["out"])
        assert assoc.get_handlers(EVT_DIMSE_SENT) == [(on_dimse, ("out",))]
        await assoc.c_echo()
        assoc.unbind(EVT_DIMSE_SENT, on_dimse)
        await assoc.c_echo()
    assert seen == ["out:C_ECHO_RQ"]


async def test_an_intervention_event_other_than_c_store_is_refused_on_connect(
    anyio_backend: str,
) -> None:
    with pytest.raises(ValueError, match="EVT_C_ECHO"):
        async with package(anyio_backend).connect(
            HOST, 1, evt_handlers=[(EVT_C_ECHO, lambda event: 0)]
        ):
            pass  # pragma: no cover - refused before connecting


async def test_an_async_notification_handler_is_refused(anyio_backend: str) -> None:
    async def told(event: Event) -> None:  # pragma: no cover - never called
        pass

    with pytest.raises(TypeError, match="EVT_ACCEPTED is a notification"):
        async with package(anyio_backend).connect(HOST, 1, evt_handlers=[(EVT_ACCEPTED, told)]):
            pass  # pragma: no cover - refused before connecting
    with pytest.raises(TypeError, match="EVT_CONN_OPEN is a notification"):
        await serve(Handlers(), port=0, host=HOST, evt_handlers=[(EVT_CONN_OPEN, told)])
    async with running() as port, package(anyio_backend).connect(HOST, port) as assoc:
        with pytest.raises(TypeError, match="EVT_RELEASED is a notification"):
            assoc.bind(EVT_RELEASED, told)


# ---------------------------------------------------------- extended negotiation


async def test_ext_neg_is_answered_by_the_acceptor_handlers(anyio_backend: str) -> None:
    seen: dict[str, Any] = {}

    async def on_async_ops(event: Event) -> tuple[int, int]:
        await anyio.sleep(0)  # an async handler is awaited
        seen["window"] = (event.invoked, event.performed, event.nr_invoked)
        return 2, 1

    def on_extended(event: Event) -> dict[str, bytes]:
        seen["app_info"] = event.app_info
        return {FIND_P: b"\x01"}

    def on_common(event: Event) -> dict[str, Any]:
        seen["common"] = event.items
        return {CT: event.items[CT]}

    def on_accepted(event: Event) -> None:
        seen["agreed"] = dict(event.assoc.negotiated.common_extended_negotiation)

    async with (
        running(
            evt_handlers=[
                (EVT_ASYNC_OPS, on_async_ops),
                (EVT_SOP_EXTENDED, on_extended),
                (EVT_SOP_COMMON, on_common),
                (EVT_ACCEPTED, on_accepted),
            ],
            scp_sop_classes=[VERIFICATION, CT, FIND_P],
            maximum_operations_performed=0,
        ) as port,
        package(anyio_backend).connect(
            HOST,
            port,
            sop_classes=[VERIFICATION, CT, FIND_P],
            ext_neg=[
                AsynchronousOperationsWindowNegotiation(5, 4),
                SOPClassExtendedNegotiation(FIND_P, b"\x01\x01"),
                SOPClassCommonExtendedNegotiation(CT, STORAGE_SERVICE),
                SOPClassCommonExtendedNegotiation(FIND_P, QR_SERVICE),
            ],
        ) as assoc,
    ):
        negotiated = assoc.negotiated
        # The window the handler chose (PS3.7 D.3.3.3: invoked by the
        # requestor, performed by the acceptor), over the AE's setting.
        assert negotiated.requestor_max_invoked == 2
        assert negotiated.acceptor_max_invoked == 1
        assert dict(negotiated.extended_negotiation) == {FIND_P: b"\x01"}
        assert (await assoc.c_echo()).Status == 0
    assert seen["window"] == (5, 4, 5)
    assert seen["app_info"] == {FIND_P: b"\x01\x01"}
    assert seen["common"] == {
        CT: SOPClassCommonExtendedNegotiation(CT, STORAGE_SERVICE),
        FIND_P: SOPClassCommonExtendedNegotiation(FIND_P, QR_SERVICE),
    }
    assert seen["agreed"] == {CT: SOPClassCommonExtendedNegotiation(CT, STORAGE_SERVICE)}


async def test_a_failing_negotiation_handler_answers_nothing(anyio_backend: str) -> None:
    def fails(event: Event) -> object:
        raise RuntimeError("no answer")

    async with (
        running(
            evt_handlers=[(EVT_ASYNC_OPS, fails), (EVT_SOP_EXTENDED, fails)],
            scp_sop_classes=[VERIFICATION, FIND_P],
        ) as port,
        package(anyio_backend).connect(
            HOST,
            port,
            sop_classes=[VERIFICATION, FIND_P],
            ext_neg=[
                AsynchronousOperationsWindowNegotiation(5, 5),
                SOPClassExtendedNegotiation(FIND_P, b"\x01"),
            ],
        ) as assoc,
    ):
        # Synchronous, the safe answer to an offer; no extended reply.
        assert assoc.negotiated.requestor_max_invoked == 1
        assert dict(assoc.negotiated.extended_negotiation) == {}


async def test_ext_neg_roles_and_identity_reach_the_acceptor(anyio_backend: str) -> None:
    identities: list[tuple[int, bytes, bytes]] = []

    async def on_user_id(event: Event) -> tuple[bool, bytes]:
        identities.append((event.user_id_type, event.primary_field, event.secondary_field))
        return event.primary_field == b"alice", b"welcome"

    async with running(
        evt_handlers=[(EVT_USER_ID, on_user_id)],
        scp_sop_classes=[VERIFICATION],
        scu_sop_classes=[CT],
    ) as port:
        identity = UserIdentity.username("alice", "secret", positive_response_requested=True)
        async with package(anyio_backend).connect(
            HOST,
            port,
            sop_classes=[VERIFICATION, CT],
            ext_neg=[RoleProposal(sop_class=CT, scu=False, scp=True), identity],
        ) as assoc:
            # PS3.7 D.3.3.7.2: a username identity is answered with an empty response.
            assert assoc.user_identity_response == b""
            context = assoc.negotiated.context_for(CT, requestor_as_scp=True)
            assert context is not None
            assert context.requestor_is_scp
        with pytest.raises(AssociationRejectedError):
            async with package(anyio_backend).connect(
                HOST,
                port,
                sop_classes=[VERIFICATION],
                ext_neg=[UserIdentity.username("mallory", "x")],
            ):
                pass  # pragma: no cover - rejected
    assert identities == [(2, b"alice", b"secret"), (2, b"mallory", b"x")]


async def test_ext_neg_is_checked_as_the_core_checks_it(anyio_backend: str) -> None:
    connect = package(anyio_backend).connect
    with pytest.raises(ValueError, match="two user identities"):
        async with connect(
            HOST, 1, ext_neg=[UserIdentity.username("a"), UserIdentity.username("b")]
        ):
            pass  # pragma: no cover - refused before connecting
    with pytest.raises(ValueError, match="two user identities"):
        async with connect(
            HOST,
            1,
            user_identity=UserIdentity.username("a"),
            ext_neg=[UserIdentity.username("b")],
        ):
            pass  # pragma: no cover
    with pytest.raises(TypeError, match="not an extended negotiation item"):
        async with connect(HOST, 1, ext_neg=["window please"]):
            pass  # pragma: no cover


# ------------------------------------------------- DIMSE services as events


async def test_dimse_services_served_by_event_handlers(anyio_backend: str) -> None:
    stored: list[Dataset] = []
    contexts: list[str] = []

    async def on_echo(event: Event) -> int:
        contexts.append(event.context.abstract_syntax)
        assert isinstance(event.assoc.negotiated.calling_ae_title, str)
        return 0x0000

    def on_store(event: Event) -> int:
        stored.append(event.dataset)
        assert event.request.MessageID == event.message_id
        return 0x0000

    def on_find(event: Event) -> Any:
        assert event.identifier.PatientID == "P1"
        assert event.is_cancelled is False
        match = Dataset()
        match.PatientID, match.QueryRetrieveLevel = "P1", "PATIENT"
        yield 0xFF00, match

    def on_n_get(event: Event) -> Any:
        reply = Dataset()
        reply.PrinterStatus = "NORMAL"
        return 0x0000, reply

    async with (
        running(
            evt_handlers=[
                (EVT_C_ECHO, on_echo),
                (EVT_C_STORE, on_store),
                (EVT_C_FIND, on_find),
                (EVT_N_GET, on_n_get),
            ],
            scp_sop_classes=[VERIFICATION, CT, FIND_P, PRINTER],
        ) as port,
        package(anyio_backend).connect(
            HOST, port, sop_classes=[VERIFICATION, CT, FIND_P, PRINTER]
        ) as assoc,
    ):
        assert (await assoc.c_echo()).Status == 0
        ds = Dataset()
        ds.SOPClassUID, ds.SOPInstanceUID, ds.PatientID = CT, "1.2.3.4", "P1"
        assert (await assoc.c_store(ds)).Status == 0
        query = Dataset()
        query.QueryRetrieveLevel, query.PatientID = "PATIENT", "P1"
        answers = [(s, i) async for s, i in assoc.c_find(query, FIND_P)]
        assert [int(s) for s, _ in answers] == [0xFF00, 0x0000]
        assert answers[0][1] is not None
        assert answers[0][1].PatientID == "P1"
        status, reply = await assoc.n_get([0x21100010], PRINTER, "1.2.840.10008.5.1.1.17")
        assert status.Status == 0
        assert reply is not None
        assert reply.PrinterStatus == "NORMAL"
    assert contexts == [VERIFICATION]
    assert [str(d.SOPInstanceUID) for d in stored] == ["1.2.3.4"]
    assert stored[0].file_meta.MediaStorageSOPInstanceUID == "1.2.3.4"


async def test_c_get_served_by_an_evt_c_get_handler_into_an_evt_c_store_handler(
    anyio_backend: str,
) -> None:
    def instance(number: int) -> Dataset:
        ds = Dataset()
        ds.SOPClassUID, ds.SOPInstanceUID, ds.PatientID = CT, f"1.2.3.{number}", "P1"
        return ds

    async def on_get(event: Event) -> Any:  # an async generator, as pynetdicom's are not
        assert event.identifier.PatientID in {"P1", "NONE"}
        if event.identifier.PatientID == "NONE":
            yield 1
            yield 0xA701, None  # refused: out of resources
            return
        yield 2
        for number in (1, 2):
            await anyio.sleep(0)
            yield 0xFF00, instance(number)

    received: list[tuple[str, str]] = []

    def on_store(event: Event) -> int:
        received.append((str(event.dataset.SOPInstanceUID), event.file_meta.TransferSyntaxUID))
        return 0x0000

    # No scp_sop_classes: the C-GET models and the storage classes a C-GET
    # sends back are the defaults, as with Handlers(on_c_get=...).
    async with (
        running(evt_handlers=[(EVT_C_GET, on_get)]) as port,
        package(anyio_backend).connect(
            HOST,
            port,
            sop_classes=[GET_P],
            scp_sop_classes=[CT],
            evt_handlers=[(EVT_C_STORE, on_store)],
        ) as assoc,
    ):
        query = Dataset()
        query.QueryRetrieveLevel, query.PatientID = "PATIENT", "P1"
        statuses = [int(s) async for s, _ in assoc.c_get(query, GET_P)]
        assert statuses == [0xFF00, 0x0000]  # Pending after each sub-operation but the last
        assert assoc.last_response is not None
        assert assoc.last_response.NumberOfCompletedSuboperations == 2
        query.PatientID = "NONE"
        statuses = [int(s) async for s, _ in assoc.c_get(query, GET_P)]
        assert statuses == [0xA701]
    assert [uid for uid, _ in received] == ["1.2.3.1", "1.2.3.2"]
    assert all(syntax for _, syntax in received)


async def test_an_evt_c_find_handler_sees_the_peer_cancel(anyio_backend: str) -> None:
    saw_cancel = anyio.Event()

    async def on_find(event: Event) -> Any:
        match = Dataset()
        match.PatientID, match.QueryRetrieveLevel = "P1", "PATIENT"
        assert event.is_cancelled is False
        yield 0xFF00, match
        with anyio.fail_after(5):
            while not event.is_cancelled:  # PS3.7 9.3.2.3: the peer's C-CANCEL
                await anyio.sleep(0.01)
        saw_cancel.set()
        yield 0xFE00, None

    async with (
        running(evt_handlers=[(EVT_C_FIND, on_find)]) as port,
        package(anyio_backend).connect(HOST, port, sop_classes=[VERIFICATION, FIND_P]) as assoc,
    ):
        query = Dataset()
        query.QueryRetrieveLevel, query.PatientID = "PATIENT", "P1"
        async with contextlib.aclosing(assoc.c_find(query, FIND_P)) as answers:
            async for status, _ in answers:
                assert int(status) == 0xFF00
                break  # closing the iterator sends the C-CANCEL
        with anyio.fail_after(5):
            await saw_cancel.wait()
        assert (await assoc.c_echo()).Status == 0  # the association goes on
