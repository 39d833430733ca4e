"""Events and extended negotiation of the async adapters against real peers
(issue 17), on asyncio and on trio: ``connect(ext_neg=...)`` into
pynetdicom 3's and dicomul_sync's acceptor handlers, their ``ext_neg`` into
``serve``'s EVT_ASYNC_OPS, EVT_SOP_EXTENDED and EVT_SOP_COMMON handlers
(PS3.7 D.3.3.3, D.3.3.5, D.3.3.6), the notification events with those
peers on the other side, and a C-GET's sub-operations handed to an
EVT_C_STORE handler with their File Meta Information (PS3.10 7.1).
Each side's view is checked."""

from __future__ import annotations

import contextlib
import functools
import pathlib
import threading
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.to_thread
import dicomul_asyncio
import dicomul_trio
import pytest
from corpus import image, write
from dicomul_sync import AE
from dicomul_sync import evt as sync_evt
from peers import pynetdicom_scp, pynetdicom_scu, serving
from pydicom import dcmread
from test_sync_services import PATIENT_ROOT_GET, query, retrieve_scp

from dicomul import (
    EVT_ACCEPTED,
    EVT_ASYNC_OPS,
    EVT_C_STORE,
    EVT_CONN_CLOSE,
    EVT_CONN_OPEN,
    EVT_DIMSE_RECV,
    EVT_PDU_RECV,
    EVT_RELEASED,
    EVT_REQUESTED,
    EVT_SOP_COMMON,
    EVT_SOP_EXTENDED,
    IMPLEMENTATION_CLASS_UID,
    AsynchronousOperationsWindowNegotiation,
    SOPClassCommonExtendedNegotiation,
    SOPClassExtendedNegotiation,
)

pytestmark = pytest.mark.anyio

HOST = "127.0.0.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
VERIFICATION = "1.2.840.10008.1.1"
FIND_PATIENT = "1.2.840.10008.5.1.4.1.2.1.1"
STORAGE_SERVICE = "1.2.840.10008.4.2"
QR_SERVICE = "1.2.840.10008.4.3"
EXPLICIT = "1.2.840.10008.1.2.1"
LIFECYCLE = (EVT_CONN_OPEN, EVT_REQUESTED, EVT_ACCEPTED, EVT_RELEASED, EVT_CONN_CLOSE)
WAIT = 10


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def package(backend: str) -> Any:
    return dicomul_asyncio if backend == "asyncio" else dicomul_trio


@contextlib.asynccontextmanager
async def running(backend: str, **options: Any) -> AsyncIterator[int]:
    """The async ``serve`` on a free loopback port; cancelled on leaving."""
    async with anyio.create_task_group() as group:
        serve = functools.partial(
            package(backend).serve,
            package(backend).Handlers(),
            port=0,
            host=HOST,
            ae_title="ASYNCSCP",
            scp_sop_classes=[VERIFICATION, CT, FIND_PATIENT],
            maximum_operations_performed=0,  # the handler decides the window
            **options,
        )
        port = await group.start(serve)
        yield port
        group.cancel_scope.cancel()


class AcceptorHandlers:
    """EVT_ASYNC_OPS, EVT_SOP_EXTENDED and EVT_SOP_COMMON handlers for our
    async server (the async window handler is awaited), and a record of the
    server's lifecycle notifications."""

    def __init__(self) -> None:
        self.seen: dict[str, Any] = {}
        self.lifecycle: list[str] = []
        self.closed = threading.Event()

    async def on_async_ops(self, event: Any) -> tuple[int, int]:
        await anyio.sleep(0)
        self.seen["window"] = (event.nr_invoked, event.nr_performed)
        return 2, 1

    def on_extended(self, event: Any) -> dict[str, bytes]:
        self.seen["app_info"] = event.app_info
        return {FIND_PATIENT: b"\x01"}

    def on_common(self, event: Any) -> dict[str, Any]:
        self.seen["common"] = event.items
        return {CT: event.items[CT]}

    def on_lifecycle(self, event: Any) -> None:
        self.lifecycle.append(event.event.name)
        if event.event is EVT_ACCEPTED:
            self.seen["agreed"] = dict(event.assoc.negotiated.common_extended_negotiation)
        if event.event is EVT_CONN_CLOSE:
            self.closed.set()

    def bindings(self) -> list[tuple[Any, Any]]:
        return [
            (EVT_ASYNC_OPS, self.on_async_ops),
            (EVT_SOP_EXTENDED, self.on_extended),
            (EVT_SOP_COMMON, self.on_common),
            *((kind, self.on_lifecycle) for kind in LIFECYCLE),
        ]

    async def wait_closed(self) -> None:
        assert await anyio.to_thread.run_sync(self.closed.wait, WAIT)

    def check(self) -> None:
        assert self.seen["window"] == (5, 4)
        assert self.seen["app_info"] == {FIND_PATIENT: b"\x01\x01"}
        assert self.seen["common"] == {
            CT: SOPClassCommonExtendedNegotiation(CT, STORAGE_SERVICE, ()),
            FIND_PATIENT: SOPClassCommonExtendedNegotiation(FIND_PATIENT, QR_SERVICE, ()),
        }
        assert self.seen["agreed"] == {CT: SOPClassCommonExtendedNegotiation(CT, STORAGE_SERVICE)}
        assert self.lifecycle == [kind.name for kind in LIFECYCLE]


OUR_EXT_NEG = [
    AsynchronousOperationsWindowNegotiation(5, 4),
    SOPClassExtendedNegotiation(FIND_PATIENT, b"\x01\x01"),
    SOPClassCommonExtendedNegotiation(CT, STORAGE_SERVICE),
    SOPClassCommonExtendedNegotiation(FIND_PATIENT, QR_SERVICE),
]


# ------------------------------------------------- into our async acceptor


async def test_pynetdicom_ext_neg_into_our_async_handlers(anyio_backend: str) -> None:
    from pynetdicom import pdu_primitives as prim

    ours = AcceptorHandlers()
    window = prim.AsynchronousOperationsWindowNegotiation()
    window.maximum_number_operations_invoked = 5
    window.maximum_number_operations_performed = 4
    extended = prim.SOPClassExtendedNegotiation()
    extended.sop_class_uid = FIND_PATIENT
    extended.service_class_application_information = b"\x01\x01"
    items = []
    for sop_class, service in ((CT, STORAGE_SERVICE), (FIND_PATIENT, QR_SERVICE)):
        common = prim.SOPClassCommonExtendedNegotiation()
        common.sop_class_uid = sop_class
        common.service_class_uid = service
        common.related_general_sop_class_identification = []
        items.append(common)

    def session(port: int) -> dict[str, Any]:
        peer = pynetdicom_scu("PYSCU", {VERIFICATION: None, CT: None, FIND_PATIENT: None})
        assoc = peer.associate(HOST, port, ae_title="ASYNCSCP", ext_neg=[window, extended, *items])
        try:
            assert assoc.is_established
            return {
                "window": assoc.acceptor.asynchronous_operations,
                "extended": dict(assoc.acceptor.sop_class_extended),
                "echo": int(assoc.send_c_echo().Status),
            }
        finally:
            assoc.release()

    async with running(anyio_backend, evt_handlers=ours.bindings()) as port:
        theirs = await anyio.to_thread.run_sync(session, port)
        await ours.wait_closed()
    # What pynetdicom read from our A-ASSOCIATE-AC.
    assert theirs == {"window": (2, 1), "extended": {FIND_PATIENT: b"\x01"}, "echo": 0}
    ours.check()


async def test_dicomul_sync_ext_neg_into_our_async_handlers(anyio_backend: str) -> None:
    ours = AcceptorHandlers()

    def session(port: int) -> tuple[int, int, dict[str, bytes], int]:
        scu = AE(ae_title="SYNCSCU", scu_sop_class=[VERIFICATION, CT, FIND_PATIENT])
        assoc = scu.associate(HOST, port, "ASYNCSCP", ext_neg=OUR_EXT_NEG)
        try:
            assert assoc.is_established
            negotiated = assoc.negotiated
            assert negotiated is not None
            return (
                negotiated.requestor_max_invoked,
                negotiated.acceptor_max_invoked,
                dict(negotiated.extended_negotiation),
                int(assoc.send_c_echo().Status),
            )
        finally:
            assoc.release()

    async with running(anyio_backend, evt_handlers=ours.bindings()) as port:
        theirs = await anyio.to_thread.run_sync(session, port)
        await ours.wait_closed()
    assert theirs == (2, 1, {FIND_PATIENT: b"\x01"}, 0)
    ours.check()


# ---------------------------------------------- from our async requestor


async def test_our_async_ext_neg_into_pynetdicom_handlers(anyio_backend: str) -> None:
    import pynetdicom

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
        return dict(event.items)

    lifecycle: list[str] = []
    dimse: list[int] = []
    handlers = [
        (pynetdicom.evt.EVT_ASYNC_OPS, on_async_ops),
        (pynetdicom.evt.EVT_SOP_EXTENDED, on_extended),
        (pynetdicom.evt.EVT_SOP_COMMON, on_common),
    ]
    with pynetdicom_scp("PYSCP", [VERIFICATION, FIND_PATIENT, CT], handlers) as port:
        async with package(anyio_backend).connect(
            HOST,
            port,
            called_ae_title="PYSCP",
            sop_classes=[VERIFICATION, FIND_PATIENT, CT],
            ext_neg=[
                AsynchronousOperationsWindowNegotiation(3, 3),
                SOPClassExtendedNegotiation(FIND_PATIENT, b"\x01\x01\x01"),
                SOPClassCommonExtendedNegotiation(
                    CT, STORAGE_SERVICE, ("1.2.840.10008.5.1.4.1.1.2.1",)
                ),
            ],
            evt_handlers=[
                *((kind, lambda event: lifecycle.append(event.event.name)) for kind in LIFECYCLE),
                (EVT_DIMSE_RECV, lambda event: dimse.append(event.message.command_field)),
            ],
        ) as assoc:
            negotiated = assoc.negotiated
            # pynetdicom answers any window offered as synchronous (1, 1).
            assert (negotiated.requestor_max_invoked, negotiated.acceptor_max_invoked) == (1, 1)
            assert dict(negotiated.extended_negotiation) == {FIND_PATIENT: b"\x01\x00"}
            assert (await assoc.c_echo()).Status == 0x0000
    assert seen["window"] == (3, 3)
    assert seen["app_info"] == {FIND_PATIENT: b"\x01\x01\x01"}
    assert seen["common"] == {CT: (STORAGE_SERVICE, ["1.2.840.10008.5.1.4.1.1.2.1"])}
    assert lifecycle == [kind.name for kind in LIFECYCLE]
    assert dimse == [0x8030]  # C-ECHO-RSP


async def test_our_async_ext_neg_into_dicomul_sync_handlers(anyio_backend: str) -> None:
    seen: dict[str, Any] = {}

    def on_async_ops(event: Any) -> tuple[int, int]:
        seen["window"] = (event.nr_invoked, event.nr_performed)
        return 3, 2

    def on_extended(event: Any) -> dict[str, bytes]:
        seen["app_info"] = dict(event.app_info)
        return {FIND_PATIENT: b"\x01"}

    def on_common(event: Any) -> dict[str, Any]:
        seen["common"] = dict(event.items)
        return {FIND_PATIENT: event.items[FIND_PATIENT]}

    scp = AE(ae_title="SYNCSCP", scp_sop_class=[VERIFICATION, CT, FIND_PATIENT])
    scp.maximum_operations_performed = 0
    for kind, handler in (
        (sync_evt.EVT_ASYNC_OPS, on_async_ops),
        (sync_evt.EVT_SOP_EXTENDED, on_extended),
        (sync_evt.EVT_SOP_COMMON, on_common),
    ):
        scp.bind(kind, handler)
    pdus: list[str] = []
    with serving(scp) as port:
        async with package(anyio_backend).connect(
            HOST,
            port,
            called_ae_title="SYNCSCP",
            sop_classes=[VERIFICATION, CT, FIND_PATIENT],
            ext_neg=OUR_EXT_NEG,
            evt_handlers=[(EVT_PDU_RECV, lambda event: pdus.append(type(event.pdu).__name__))],
        ) as assoc:
            negotiated = assoc.negotiated
            assert (negotiated.requestor_max_invoked, negotiated.acceptor_max_invoked) == (3, 2)
            assert dict(negotiated.extended_negotiation) == {FIND_PATIENT: b"\x01"}
            assert (await assoc.c_echo()).Status == 0x0000
    assert seen["window"] == (5, 4)
    assert seen["app_info"] == {FIND_PATIENT: b"\x01\x01"}
    assert seen["common"] == {
        CT: SOPClassCommonExtendedNegotiation(CT, STORAGE_SERVICE),
        FIND_PATIENT: SOPClassCommonExtendedNegotiation(FIND_PATIENT, QR_SERVICE),
    }
    assert pdus == ["AssociateAC", "PDataTF", "ReleaseRP"]


# ------------------------------------- C-GET's sub-operations as an event


async def test_c_get_sub_operations_reach_an_evt_c_store_handler_with_file_meta(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    files = [
        write(image(rows=16, columns=16, seed=n), tmp_path / f"{n}.dcm", EXPLICIT)
        for n in range(2)
    ]
    scp, _ = retrieve_scp(files)
    saved: list[pathlib.Path] = []

    async def on_store(event: Any) -> int:
        await anyio.sleep(0)  # an async handler is awaited
        dataset = event.dataset
        assert event.context.abstract_syntax == CT
        assert event.request.AffectedSOPInstanceUID == dataset.SOPInstanceUID
        meta = event.file_meta
        assert meta.TransferSyntaxUID == EXPLICIT
        assert meta.MediaStorageSOPClassUID == CT
        assert meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
        path = tmp_path / f"{dataset.SOPInstanceUID}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        saved.append(path)
        return 0x0000

    with serving(scp) as port:
        async with package(anyio_backend).connect(
            HOST,
            port,
            called_ae_title="QRSCP",
            sop_classes=[PATIENT_ROOT_GET],
            scp_sop_classes=[CT],
            transfer_syntaxes=[EXPLICIT],
            evt_handlers=[(EVT_C_STORE, on_store)],
        ) as assoc:
            answers = [int(s) async for s, _ in assoc.c_get(query("ALL"))]
    assert answers[-1] == 0x0000
    assert sorted(str(dcmread(p).SOPInstanceUID) for p in saved) == sorted(
        str(dcmread(f).SOPInstanceUID) for f in files
    )
    for path in saved:  # a Part 10 file: preamble, DICM, meta, data set
        assert path.read_bytes()[128:132] == b"DICM"
        assert dcmread(path).file_meta.TransferSyntaxUID == EXPLICIT
