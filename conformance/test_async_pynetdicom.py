"""The async adapters (``dicomul_asyncio`` / ``dicomul_trio``, one
implementation on anyio) against pynetdicom, in both roles, on each backend
(anyio's pytest plugin runs every test on asyncio and on trio).

Part one: the async SCU (``connect``) against a pynetdicom AE serving in
its own threads (``AE.start_server(..., block=False)``, through
:func:`peers.pynetdicom_scp`), whose event handlers record what they were
sent: echo, store (a Dataset, a path, a stream; compared byte for byte),
find with a cancel, get, move to our async server, the six DIMSE-N
services, rejection and abort.

Part two: a pynetdicom AE as SCU, in a worker thread, against the async
``serve`` (through :func:`test_async_server.running`): echo, store into the
durable store and into an :class:`~dicomul_anyio.AsyncStoreSink`, find
with a cancel, get, move to a pynetdicom storage SCP, the DIMSE-N
services, release, abort, and contexts we do not support.

Byte for byte: what a C-STORE carries is the data set as encoded (PS3.7
9.1.1.1.10), which a storage SCP keeps as it came (PS3.4 B.2.3); pynetdicom's
``Event.encoded_dataset(include_meta=False)`` is that data set as received,
undecoded.
"""

from __future__ import annotations

import contextlib
import pathlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.to_thread
import pytest
from _adapters import ASYNC, HOST
from corpus import assert_same_data_set, data_set_bytes, image, write
from dicomul_anyio import Handlers, current_request
from peers import pynetdicom_scp, pynetdicom_scu
from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import _config, build_role, evt
from test_async_client import chunks_of
from test_async_server import Collecting, package, patient, running
from test_behaviour import sources, uid_of
from test_sync_services import COMMITMENT, MPPS, NormalizedSCP

from dicomul import Aborted, encode_dataset

pytestmark = pytest.mark.anyio

VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
EXPLICIT = "1.2.840.10008.1.2.1"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
PATIENT_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.1.2"
PATIENT_ROOT_GET = "1.2.840.10008.5.1.4.1.2.1.3"
#: Basic Film Session: the one SOP class pynetdicom serves with all six
#: DIMSE-N services (its Print Management service class, PS3.4 H).
FILM_SESSION = "1.2.840.10008.5.1.1.1"
#: How long a blocking wait on pynetdicom may take before the test fails.
WAIT = 5.0


@pytest.fixture(params=ASYNC)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def seen(flag: threading.Event) -> bool:
    """Whether pynetdicom's thread sets ``flag`` within :data:`WAIT`."""
    return bool(await anyio.to_thread.run_sync(flag.wait, WAIT))


class Received:
    """A pynetdicom EVT_C_STORE handler keeping each data set as it came
    (undecoded) with its transfer syntax and the C-STORE-RQ's Move
    Originator fields, by SOP Instance UID."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.syntax: dict[str, str] = {}
        self.originator: dict[str, tuple[str | None, int | None]] = {}

    def __call__(self, event: Any) -> int:
        uid = str(event.request.AffectedSOPInstanceUID)
        self.data[uid] = event.encoded_dataset(include_meta=False)
        self.syntax[uid] = str(event.context.transfer_syntax)
        title = event.request.MoveOriginatorApplicationEntityTitle
        self.originator[uid] = (
            None if title is None else str(title).strip(),
            event.request.MoveOriginatorMessageID,
        )
        return 0x0000

    def assert_same(self, files: list[pathlib.Path]) -> None:
        """Each file's data set arrived byte for byte, in its own syntax."""
        for path in files:
            assert self.syntax[uid_of(path)] == EXPLICIT
            assert self.data[uid_of(path)] == data_set_bytes(path), path.name


# ================================================= our async SCU, pynetdicom SCP


async def test_echo_and_release_with_a_pynetdicom_scp(anyio_backend: str) -> None:
    """C-ECHO (PS3.7 9.1.5) twice, then leaving the block releases (PS3.8
    7.2): pynetdicom sees our AE title, two echoes and a release, no abort."""

    calling: list[str] = []
    released, aborted = threading.Event(), threading.Event()

    def on_echo(event: Any) -> int:
        calling.append(str(event.assoc.requestor.ae_title).strip())
        return 0x0000

    handlers = [
        (evt.EVT_C_ECHO, on_echo),
        (evt.EVT_RELEASED, lambda event: released.set()),
        (evt.EVT_ABORTED, lambda event: aborted.set()),
    ]
    with pynetdicom_scp("PYNSCP", [VERIFICATION], handlers) as port:
        async with package(anyio_backend).connect(
            HOST, port, ae_title="ASYNCSCU", called_ae_title="PYNSCP", sop_classes=[VERIFICATION]
        ) as assoc:
            assert (await assoc.c_echo()).Status == 0x0000
            assert await assoc.c_echo() == 0x0000
        assert not assoc.is_established
        assert await seen(released)
    assert calling == ["ASYNCSCU", "ASYNCSCU"]
    assert not aborted.is_set()


async def test_store_a_dataset_a_path_and_a_stream_as_pynetdicom_receives_them(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    """What pynetdicom receives is the data set we meant, byte for byte: a
    Dataset encoded as pydicom's own file writer encodes it, a file's data
    set as it is on disk, a stream's bytes as they were given."""
    received = Received()
    ds = image(rows=24, columns=24, seed=1)
    as_pydicom_writes_it = data_set_bytes(write(ds, tmp_path / "ds.dcm", EXPLICIT))
    path, streamed = sources(tmp_path, 2, size=256)  # 128 KiB: many PDUs

    with pynetdicom_scp(
        "PYNSCP", [CT], [(evt.EVT_C_STORE, received)], transfer_syntaxes=[EXPLICIT]
    ) as port:
        async with package(anyio_backend).connect(
            HOST, port, called_ae_title="PYNSCP", sop_classes=[CT], transfer_syntaxes=[EXPLICIT]
        ) as assoc:
            assert (await assoc.c_store(ds)).Status == 0x0000
            assert (await assoc.c_store(path)).Status == 0x0000
            status = await assoc.c_store(
                chunks_of(data_set_bytes(streamed), size=1000),
                sop_class_uid=CT,
                sop_instance_uid=uid_of(streamed),
                transfer_syntax=EXPLICIT,
            )
            assert status.Status == 0x0000
    assert received.data[str(ds.SOPInstanceUID)] == as_pydicom_writes_it
    assert received.data[str(ds.SOPInstanceUID)] == encode_dataset(ds, EXPLICIT)
    received.assert_same([path, streamed])
    assert len(received.data) == 3
    assert set(received.originator.values()) == {(None, None)}  # no C-MOVE behind them


def cancelled_in_time(event: Any) -> bool:
    """In a pynetdicom handler: wait until the peer's C-CANCEL has arrived
    (True), or :data:`WAIT` has passed (False).  pynetdicom signals a
    C-CANCEL only through ``event.is_cancelled``, so it is polled."""
    deadline = time.monotonic() + WAIT
    while not event.is_cancelled:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def find_handler(cancelled: threading.Event) -> Any:
    """A pynetdicom EVT_C_FIND handler: three matches; then, for PatientID
    "*", it waits for the peer's C-CANCEL and answers Cancel (0xFE00), or
    0xC000 if none came."""

    def on_find(event: Any) -> Iterator[tuple[int, Dataset | None]]:
        for n in range(3):
            yield 0xFF00, patient(f"DOE^{n}", f"P{n}")
        if event.identifier.PatientID != "*":
            return
        if not cancelled_in_time(event):
            yield 0xC000, None  # never cancelled: the test fails on this status
            return
        cancelled.set()
        yield 0xFE00, None

    return on_find


async def test_find_several_matches_and_a_cancel_mid_query(anyio_backend: str) -> None:
    """C-FIND (PS3.4 C.4.1): every match then Success; a loop left after
    three matches sends a C-CANCEL (PS3.7 9.3.2.3), which pynetdicom's
    handler sees, and reads up to its Cancel (0xFE00); the association goes on."""

    cancelled = threading.Event()
    classes = [VERIFICATION, PATIENT_ROOT_FIND]
    handlers = [(evt.EVT_C_FIND, find_handler(cancelled))]
    with pynetdicom_scp("PYNSCP", classes, handlers) as port:
        async with package(anyio_backend).connect(
            HOST, port, called_ae_title="PYNSCP", sop_classes=classes, dimse_timeout=WAIT
        ) as assoc:
            whole = [(int(s), m) async for s, m in assoc.c_find(patient("DOE*", "P1"))]
            assert [status for status, _ in whole] == [0xFF00, 0xFF00, 0xFF00, 0x0000]
            assert [str(m.PatientName) for _, m in whole if m is not None] == [
                "DOE^0", "DOE^1", "DOE^2",
            ]  # fmt: skip
            statuses = []
            async with contextlib.aclosing(assoc.c_find(patient("*", "*"))) as answers:
                async for status, _ in answers:
                    statuses.append(int(status))
                    if len(statuses) == 3:
                        break
            assert statuses == [0xFF00] * 3
            assert not assoc.outstanding_requests  # cancelled and drained
            assert assoc.last_response is not None
            assert assoc.last_response.Status == 0xFE00  # Cancel (PS3.4 C.4.1.1.4)
            assert await assoc.c_echo() == 0x0000
            assert assoc.is_established
    assert cancelled.is_set()


async def test_get_from_pynetdicom_stores_its_sub_operations_byte_for_byte(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    """C-GET (PS3.4 C.4.3): pynetdicom sends each match back over our
    association as a C-STORE sub-operation (SCP role for CT, PS3.7
    D.3.3.4), which we store as it came: the files' data sets byte for byte."""

    files = sources(tmp_path, 3, size=128)
    got = tmp_path / "got"
    got.mkdir()

    def on_get(event: Any) -> Iterator[Any]:
        assert event.identifier.PatientID == "P1"
        yield len(files)
        for path in files:
            yield 0xFF00, dcmread(path)

    with pynetdicom_scp(
        "PYNSCP", [PATIENT_ROOT_GET], [(evt.EVT_C_GET, on_get)], both_roles=[CT]
    ) as port:
        async with package(anyio_backend).connect(
            HOST,
            port,
            called_ae_title="PYNSCP",
            sop_classes=[PATIENT_ROOT_GET],
            scp_sop_classes=[CT],
            transfer_syntaxes=[EXPLICIT],
            dimse_timeout=WAIT,
        ) as assoc:
            answers = [
                int(s) async for s, _ in assoc.c_get(patient("*", "P1"), store_directory=got)
            ]
            assert answers[-1] == 0x0000
            assert set(answers[:-1]) <= {0xFF00}
            assert assoc.last_response is not None
            assert assoc.last_response.NumberOfCompletedSuboperations == 3
            assert assoc.last_response.get("NumberOfFailedSuboperations", 0) == 0
    assert sorted(p.name for p in got.iterdir()) == sorted(f"{uid_of(f)}.dcm" for f in files)
    for source in files:
        assert_same_data_set(got / f"{uid_of(source)}.dcm", source)


async def test_get_left_early_is_cancelled_and_its_sub_operation_kept(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    """A C-GET loop left after the first response sends a C-CANCEL (PS3.7
    9.3.2.3) and drains: pynetdicom's handler sees it and answers Cancel
    (0xFE00) with one sub-operation completed (PS3.4 C.4.3.2), whose file
    was stored whole, byte for byte; the association goes on."""
    files = sources(tmp_path, 4)
    got = tmp_path / "got"
    got.mkdir()
    cancelled = threading.Event()

    def on_get(event: Any) -> Iterator[Any]:
        yield len(files)
        yield 0xFF00, dcmread(files[0])
        if cancelled_in_time(event):  # asked once the first is stored
            cancelled.set()
            yield 0xFE00, None
        else:
            for path in files[1:]:  # never cancelled: the test fails on the count
                yield 0xFF00, dcmread(path)

    classes = [VERIFICATION, PATIENT_ROOT_GET]
    with pynetdicom_scp("PYNSCP", classes, [(evt.EVT_C_GET, on_get)], both_roles=[CT]) as port:
        async with package(anyio_backend).connect(
            HOST,
            port,
            called_ae_title="PYNSCP",
            sop_classes=classes,
            scp_sop_classes=[CT],
            transfer_syntaxes=[EXPLICIT],
            dimse_timeout=WAIT,
        ) as assoc:
            answers = []
            query = patient("*", "P1")
            async with contextlib.aclosing(assoc.c_get(query, store_directory=got)) as responses:
                async for status, _ in responses:
                    answers.append(int(status))
                    break
            assert answers == [0xFF00]
            assert not assoc.outstanding_requests  # cancelled and drained
            assert assoc.last_response is not None
            assert assoc.last_response.Status == 0xFE00
            assert assoc.last_response.NumberOfCompletedSuboperations == 1
            assert await assoc.c_echo() == 0x0000
            assert assoc.is_established
    assert cancelled.is_set()
    assert [p.name for p in got.iterdir()] == [f"{uid_of(files[0])}.dcm"]
    assert_same_data_set(got / f"{uid_of(files[0])}.dcm", files[0])


async def test_move_from_pynetdicom_to_our_async_server(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    """C-MOVE (PS3.4 C.4.2): pynetdicom relays the matches to our async
    server (the destination, on the same event loop), whose durable store
    keeps each data set byte for byte, and sees the Move Originator fields
    of each relayed C-STORE (PS3.7 9.3.1.1)."""

    files = sources(tmp_path, 2, size=128)
    moved = tmp_path / "moved"
    moved.mkdir()
    asked: list[tuple[str, int]] = []
    originators: list[tuple[str | None, int | None]] = []

    async def on_c_stored(path: pathlib.Path) -> None:
        command = current_request().command
        originators.append(
            (command.move_originator_application_entity_title, command.move_originator_message_id)
        )

    handlers = Handlers(store_directory=moved, on_c_stored=on_c_stored)
    async with running(anyio_backend, handlers, transfer_syntaxes=[EXPLICIT]) as destination_port:

        def on_move(event: Any) -> Iterator[Any]:
            asked.append((str(event.move_destination).strip(), int(event.request.MessageID)))
            yield HOST, destination_port
            yield len(files)
            for path in files:
                yield 0xFF00, dcmread(path)

        with pynetdicom_scp(
            "PYNSCP", [PATIENT_ROOT_MOVE], [(evt.EVT_C_MOVE, on_move)], requested=[CT]
        ) as port:
            async with package(anyio_backend).connect(
                HOST,
                port,
                ae_title="ASYNCSCU",
                called_ae_title="PYNSCP",
                sop_classes=[PATIENT_ROOT_MOVE],
                dimse_timeout=WAIT,
            ) as assoc:
                answers = [int(s) async for s, _ in assoc.c_move(patient("*", "P1"), "ASYNCSCP")]
                assert assoc.last_response is not None
                assert assoc.last_response.NumberOfCompletedSuboperations == 2
    assert answers[-1] == 0x0000
    assert set(answers[:-1]) == {0xFF00}  # (pynetdicom answers Pending after each)
    ((destination, message_id),) = asked
    assert destination == "ASYNCSCP"
    # The Move Originator Message ID is our C-MOVE's.  The title should be
    # ours too (PS3.7 Table 9.3-1: the AE that invoked the C-MOVE), but
    # pynetdicom 3.0 sends its own there: either is what it sent, as it came.
    assert [number for _, number in originators] == [message_id] * 2
    assert {title for title, _ in originators} <= {"ASYNCSCU", "PYNSCP"}
    assert sorted(p.name for p in moved.iterdir()) == sorted(f"{uid_of(f)}.dcm" for f in files)
    for source in files:
        assert_same_data_set(moved / f"{uid_of(source)}.dcm", source)


async def test_every_n_service_against_pynetdicom(anyio_backend: str) -> None:
    """N-CREATE, N-SET, N-GET, N-ACTION, N-EVENT-REPORT and N-DELETE (PS3.7
    10.1) on a Basic Film Session: pynetdicom's handlers get the request's
    instance, type IDs, attribute list and data set; we get its replies."""

    asked: list[tuple[str, str, object]] = []

    def recorder(name: str, detail: Any) -> Any:
        def handler(event: Any) -> Any:
            request = event.request
            uid = request.AffectedSOPInstanceUID or request.RequestedSOPInstanceUID
            asked.append((name, str(uid), detail(event)))
            if name == "N-DELETE":
                return 0x0000
            reply = Dataset()
            reply.FilmSessionLabel = name
            return 0x0000, reply

        return handler

    handlers = [
        (evt.EVT_N_CREATE, recorder("N-CREATE", lambda e: str(e.attribute_list.NumberOfCopies))),
        (evt.EVT_N_SET, recorder("N-SET", lambda e: str(e.modification_list.NumberOfCopies))),
        (evt.EVT_N_GET, recorder("N-GET", lambda e: list(e.request.AttributeIdentifierList))),
        (evt.EVT_N_ACTION, recorder("N-ACTION", lambda e: e.request.ActionTypeID)),
        (
            evt.EVT_N_EVENT_REPORT,
            recorder("N-EVENT-REPORT", lambda e: str(e.event_information.FilmSessionLabel)),
        ),
        (evt.EVT_N_DELETE, recorder("N-DELETE", lambda e: None)),
    ]
    session = "1.2.826.0.1.3680043.2.1545.9.1"
    copies = Dataset()
    copies.NumberOfCopies = 2
    report = Dataset()
    report.FilmSessionLabel = "PRINTED"
    with pynetdicom_scp("PYNSCP", [FILM_SESSION], handlers) as port:
        async with package(anyio_backend).connect(
            HOST, port, called_ae_title="PYNSCP", sop_classes=[FILM_SESSION], dimse_timeout=WAIT
        ) as assoc:
            status, reply = await assoc.n_create(copies, FILM_SESSION, session)
            assert (status.Status, status.AffectedSOPInstanceUID) == (0, session)
            assert reply is not None
            assert reply.FilmSessionLabel == "N-CREATE"
            copies.NumberOfCopies = 3
            status, reply = await assoc.n_set(copies, FILM_SESSION, session)
            assert status.Status == 0
            assert reply is not None
            assert reply.FilmSessionLabel == "N-SET"
            status, reply = await assoc.n_get([0x20000010, 0x20000050], FILM_SESSION, session)
            assert status.Status == 0
            assert reply is not None
            assert reply.FilmSessionLabel == "N-GET"
            status, reply = await assoc.n_action(None, 1, FILM_SESSION, session)
            assert (status.Status, status.ActionTypeID) == (0, 1)
            assert reply is not None
            assert reply.FilmSessionLabel == "N-ACTION"
            status, reply = await assoc.n_event_report(report, 2, FILM_SESSION, session)
            assert (status.Status, status.EventTypeID) == (0, 2)
            assert reply is not None
            assert reply.FilmSessionLabel == "N-EVENT-REPORT"
            status, reply = await assoc.n_delete(FILM_SESSION, session)
            assert (status.Status, reply) == (0, None)
            assert assoc.is_established
    assert asked == [
        ("N-CREATE", session, "2"),
        ("N-SET", session, "3"),
        ("N-GET", session, [0x20000010, 0x20000050]),
        ("N-ACTION", session, 1),
        ("N-EVENT-REPORT", session, "PRINTED"),
        ("N-DELETE", session, None),
    ]


async def test_a_pynetdicom_scp_requiring_its_title_rejects_another(anyio_backend: str) -> None:
    """PS3.8 Table 9-21: rejected-permanent (1), service-user (1), called AE
    title not recognized (7); the right title is served."""
    pkg = package(anyio_backend)
    with pynetdicom_scp("PYNSCP", [VERIFICATION], [], require_called_aet=True) as port:
        with pytest.raises(pkg.AssociationRejectedError) as rejected:
            async with pkg.connect(HOST, port, called_ae_title="WRONG"):
                pass  # pragma: no cover - never established
        pdu = rejected.value.event.pdu
        assert (pdu.result, pdu.source, pdu.reason) == (1, 1, 7)
        async with pkg.connect(HOST, port, called_ae_title="PYNSCP") as assoc:
            assert await assoc.c_echo() == 0x0000


async def test_our_abort_is_seen_by_pynetdicom(anyio_backend: str) -> None:
    """An A-ABORT (PS3.8 7.3) reaches pynetdicom as such (EVT_ABORTED), not
    as a dropped connection, and no release is made after it."""

    aborted, released = threading.Event(), threading.Event()
    handlers = [
        (evt.EVT_ABORTED, lambda event: aborted.set()),
        (evt.EVT_RELEASED, lambda event: released.set()),
    ]
    pkg = package(anyio_backend)
    with pynetdicom_scp("PYNSCP", [VERIFICATION], handlers) as port:
        async with pkg.connect(HOST, port, called_ae_title="PYNSCP") as assoc:
            assert await assoc.c_echo() == 0x0000
            await assoc.abort()
            assert not assoc.is_established
            with pytest.raises(pkg.AssociationAbortedError):
                await assoc.c_echo()
        assert await seen(aborted)
    assert not released.is_set()


async def test_pynetdicom_aborting_in_its_handler_ends_our_request(anyio_backend: str) -> None:
    """pynetdicom's C-ECHO handler aborts instead of answering: our C-ECHO
    raises AssociationAbortedError carrying the peer's A-ABORT, not a stream
    error, and the association is no longer established."""

    def on_echo(event: Any) -> int:
        event.assoc.abort()
        return 0x0000

    pkg = package(anyio_backend)
    with pynetdicom_scp("PYNSCP", [VERIFICATION], [(evt.EVT_C_ECHO, on_echo)]) as port:
        async with pkg.connect(HOST, port, called_ae_title="PYNSCP", dimse_timeout=WAIT) as assoc:
            with anyio.fail_after(WAIT), pytest.raises(pkg.AssociationAbortedError) as ended:
                await assoc.c_echo()
            assert not assoc.is_established
    # Its A-ABORT PDU, read as such (PS3.8 9.3.8): source service-user (0).
    assert isinstance(ended.value.event, Aborted)
    assert (ended.value.event.by_peer, ended.value.event.source) == (True, 0)


# ================================================= pynetdicom SCU, our async SCP


def quiet_scu(requested: dict[str, list[str] | None], ae_title: str = "PYNSCU") -> Any:
    """A pynetdicom SCU (:func:`peers.pynetdicom_scu`) that gives up on a
    silent peer within :data:`WAIT` instead of blocking the test."""
    peer = pynetdicom_scu(ae_title, requested)
    peer.acse_timeout = peer.dimse_timeout = peer.network_timeout = WAIT
    return peer


#: pynetdicom 3.0's SCU can lose the response to a request made right after
#: another: its association thread, set running between requests, may take
#: the response off the queue first ("Received unexpected ... service
#: message"), seen here under load after a cancelled query.  So where what
#: follows a request is the point, it is shown without a second request:
#: by the association being released, not aborted.


class Ends:
    """Our server's notifications of how each association ended."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def handlers(self, **others: Any) -> Handlers:
        return Handlers(
            on_association_released=lambda negotiated: self.seen.append("released"),
            on_association_aborted=lambda negotiated: self.seen.append("aborted"),
            **others,
        )


async def test_pynetdicom_scu_stores_kept_byte_for_byte_by_our_durable_store(
    anyio_backend: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pynetdicom sends a Dataset, a path (read, decoded and re-encoded) and
    a path with STORE_SEND_CHUNKED_DATASET (its data set read from disk as it
    is); our durable store keeps each as it came: the same bytes as the file."""

    store = tmp_path / "store"
    store.mkdir()
    files = sources(tmp_path, 3, size=128)
    stored: list[pathlib.Path] = []

    async def on_c_stored(path: pathlib.Path) -> None:
        stored.append(path)

    def session(port: int) -> list[int]:
        assoc = quiet_scu({VERIFICATION: None, CT: [EXPLICIT]}).associate(
            HOST, port, ae_title="ASYNCSCP"
        )
        assert assoc.is_established
        try:
            statuses = [int(assoc.send_c_echo().Status)]
            statuses.append(int(assoc.send_c_store(dcmread(files[0])).Status))
            statuses.append(int(assoc.send_c_store(files[1]).Status))
            monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)
            statuses.append(int(assoc.send_c_store(files[2]).Status))
            return statuses
        finally:
            assoc.release()

    handlers = Handlers(store_directory=store, on_c_stored=on_c_stored)
    async with running(anyio_backend, handlers) as port:
        assert await anyio.to_thread.run_sync(session, port) == [0x0000] * 4
    assert sorted(stored) == sorted(store / f"{uid_of(f)}.dcm" for f in files)
    for source in files:
        assert_same_data_set(store / f"{uid_of(source)}.dcm", source)
    assert not list(store.glob(".incoming-*"))


async def test_pynetdicom_scu_store_into_an_async_store_sink(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    """An AsyncStoreSink is handed the data set's bytes as pynetdicom sent
    them (fragment by fragment, PDUs of at most 4 KiB), committed once."""
    done: dict[str, bytes] = {}
    (path,) = sources(tmp_path, 1, size=128)

    def session(port: int) -> int:
        assoc = quiet_scu({CT: [EXPLICIT]}).associate(HOST, port, ae_title="ASYNCSCP")
        assert assoc.is_established
        try:
            return int(assoc.send_c_store(path).Status)
        finally:
            assoc.release()

    handlers = Handlers(on_c_store_stream=lambda request: Collecting(request, done))
    async with running(anyio_backend, handlers, max_pdu_length=4096) as port:
        assert await anyio.to_thread.run_sync(session, port) == 0x0000
    assert done == {uid_of(path): data_set_bytes(path)}


async def test_pynetdicom_scu_find_with_a_cancel(anyio_backend: str) -> None:
    """C-FIND from pynetdicom: all matches then Success; on another query its
    C-CANCEL after three matches (PS3.7 9.3.2.3) ends the query with Cancel
    (0xFE00), our handler is closed there, and the association goes on."""
    cancel_sent = threading.Event()
    produced: list[int] = []
    closed: list[bool] = []

    async def on_c_find(identifier: Dataset) -> AsyncIterator[Dataset]:
        try:
            for n in range(3 if identifier.PatientID != "*" else 1000):
                if n == 3:  # the fourth goes once pynetdicom has asked to cancel
                    assert await anyio.to_thread.run_sync(cancel_sent.wait, WAIT)
                produced.append(n)
                yield patient(f"DOE^{n}", f"P{n}")
        finally:
            closed.append(True)

    def session(port: int, query: Dataset, cancel: bool) -> tuple[list[int], bool]:
        """One query on its own association: its statuses (with ``cancel``, a
        C-CANCEL after the third), and whether the association was then released."""
        assoc = quiet_scu({PATIENT_ROOT_FIND: None}).associate(HOST, port, ae_title="ASYNCSCP")
        assert assoc.is_established
        statuses = []
        for status, _ in assoc.send_c_find(query, PATIENT_ROOT_FIND, msg_id=7):
            statuses.append(int(status.Status))
            if cancel and len(statuses) == 3:
                assoc.send_c_cancel(7, query_model=PATIENT_ROOT_FIND)
                cancel_sent.set()
        assoc.release()
        return statuses, assoc.is_released

    ends = Ends()
    async with running(anyio_backend, ends.handlers(on_c_find=on_c_find)) as port:
        whole = await anyio.to_thread.run_sync(session, port, patient("DOE*", "P1"), False)
        cancelled, released = await anyio.to_thread.run_sync(
            session, port, patient("*", "*"), True
        )
    assert whole == ([0xFF00, 0xFF00, 0xFF00, 0x0000], True)
    assert cancelled[:3] == [0xFF00] * 3
    assert cancelled[-1] == 0xFE00  # Cancel (PS3.4 C.4.1.1.4)
    assert set(cancelled[3:-1]) <= {0xFF00}
    assert len(produced) < 3 + 1000  # the second query stopped at the C-CANCEL
    assert closed == [True, True]
    assert released  # the association went on: released, not aborted
    assert ends.seen == ["released", "released"]


async def test_pynetdicom_scu_get_receives_the_files_as_they_are(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    """C-GET from pynetdicom (SCP role for CT, PS3.7 D.3.3.4): our server
    sends each file's data set as it is on disk, which pynetdicom's
    EVT_C_STORE handler receives byte for byte."""

    files = sources(tmp_path, 3, size=128)
    received = Received()

    async def on_c_get(identifier: Dataset) -> AsyncIterator[pathlib.Path]:
        assert identifier.PatientID == "P1"
        for path in files:
            yield path

    def session(port: int) -> list[int]:
        peer = quiet_scu({PATIENT_ROOT_GET: None, CT: [EXPLICIT]})
        assoc = peer.associate(
            HOST,
            port,
            ae_title="ASYNCSCP",
            ext_neg=[build_role(CT, scp_role=True)],
            evt_handlers=[(evt.EVT_C_STORE, received)],
        )
        assert assoc.is_established
        try:
            return [
                int(s.Status) for s, _ in assoc.send_c_get(patient("*", "P1"), PATIENT_ROOT_GET)
            ]
        finally:
            assoc.release()

    async with running(anyio_backend, Handlers(on_c_get=on_c_get)) as port:
        statuses = await anyio.to_thread.run_sync(session, port)
    assert statuses == [0xFF00, 0xFF00, 0x0000]  # Pending after each but the last
    assert sorted(received.data) == sorted(uid_of(f) for f in files)
    received.assert_same(files)


async def test_pynetdicom_scu_cancels_a_get(anyio_backend: str, tmp_path: pathlib.Path) -> None:
    """pynetdicom's C-CANCEL after the first Pending response of a C-GET
    (PS3.7 9.3.2.3): our server starts no sub-operation after it has read
    the cancel (at the latest with the next sub-operation's response) and
    answers Cancel (0xFE00, PS3.4 C.4.3.2) with the counts; what pynetdicom
    did receive is whole, and the association goes on."""
    files = sources(tmp_path, 6)
    received = Received()
    counts: list[tuple[int, int]] = []

    def on_dimse(event: Any) -> None:
        command = event.message.command_set
        if command.CommandField == 0x8010 and command.Status == 0xFE00:  # C-GET-RSP, Cancel
            remaining = command.get("NumberOfRemainingSuboperations")  # optional here
            counts.append((command.NumberOfCompletedSuboperations, remaining))

    def session(port: int) -> tuple[list[int], bool]:
        peer = quiet_scu({PATIENT_ROOT_GET: None, CT: [EXPLICIT]})
        assoc = peer.associate(
            HOST,
            port,
            ae_title="ASYNCSCP",
            ext_neg=[build_role(CT, scp_role=True)],
            evt_handlers=[(evt.EVT_C_STORE, received), (evt.EVT_DIMSE_RECV, on_dimse)],
        )
        assert assoc.is_established
        statuses = []
        for status, _ in assoc.send_c_get(patient("*", "P1"), PATIENT_ROOT_GET, msg_id=9):
            statuses.append(int(status.Status))
            if len(statuses) == 1:
                assoc.send_c_cancel(9, query_model=PATIENT_ROOT_GET)
        assoc.release()
        return statuses, assoc.is_released

    ends = Ends()
    async with running(anyio_backend, ends.handlers(on_c_get=lambda identifier: files)) as port:
        statuses, released = await anyio.to_thread.run_sync(session, port)
    assert statuses[0] == 0xFF00
    assert statuses[-1] == 0xFE00
    # Sent before pynetdicom answered the second sub-operation (if that
    # came at all): one or two were performed, no more.
    assert 1 <= len(received.data) <= 2
    assert statuses == [0xFF00] * len(received.data) + [0xFE00]
    ((completed, remaining),) = counts
    assert completed == len(received.data)
    assert remaining in (None, len(files) - completed)
    received.assert_same(files[: len(received.data)])
    assert released  # the association went on: released, not aborted
    assert ends.seen == ["released"]


async def test_pynetdicom_scu_move_to_a_pynetdicom_storage_scp(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    """C-MOVE from pynetdicom: our server relays the files to a pynetdicom
    storage SCP as they are on disk, each C-STORE naming the C-MOVE's
    originator (PS3.7 9.3.1.1); an unknown destination is 0xA801."""

    files = sources(tmp_path, 2)
    received = Received()

    def session(port: int, destination: str) -> list[int]:
        """One C-MOVE, on its own association (see :class:`Ends`)."""
        assoc = quiet_scu({PATIENT_ROOT_MOVE: None}).associate(HOST, port, ae_title="ASYNCSCP")
        assert assoc.is_established
        try:
            responses = assoc.send_c_move(
                patient("*", "P1"), destination, PATIENT_ROOT_MOVE, msg_id=41
            )
            return [int(status.Status) for status, _ in responses]
        finally:
            assoc.release()

    with pynetdicom_scp(
        "PYNSTORE", [CT], [(evt.EVT_C_STORE, received)], transfer_syntaxes=[EXPLICIT]
    ) as store_port:
        handlers = Handlers(
            on_c_move=lambda identifier, aet: files,
            move_destinations={"PYNSTORE": (HOST, store_port)},
        )
        async with running(anyio_backend, handlers) as port:
            moved = await anyio.to_thread.run_sync(session, port, "PYNSTORE")
            nowhere = await anyio.to_thread.run_sync(session, port, "NOWHERE")
    assert moved == [0xFF00, 0x0000]
    assert nowhere == [0xA801]  # move destination unknown (PS3.4 C.4.2.1.5)
    assert sorted(received.data) == sorted(uid_of(f) for f in files)
    received.assert_same(files)
    assert set(received.originator.values()) == {("PYNSCU", 41)}


async def test_pynetdicom_scu_every_n_service(anyio_backend: str) -> None:
    """The six DIMSE-N services from pynetdicom to our server's handlers; an
    N-CREATE without an instance UID gets one assigned (PS3.7 10.1.5.1.4),
    which the later requests name."""
    recorder = NormalizedSCP()
    handlers = Handlers(
        on_n_create=recorder.create,
        on_n_set=recorder.set,
        on_n_get=recorder.get,
        on_n_action=recorder.action,
        on_n_event_report=recorder.event_report,
        on_n_delete=recorder.delete,
    )
    attributes = Dataset()
    attributes.PerformedProcedureStepStatus = "IN PROGRESS"

    responses: list[Dataset] = []

    def session(port: int) -> dict[str, Any]:
        # pynetdicom returns a response's Status alone: the command sets
        # (the N-CREATE-RSP's Affected SOP Instance UID) are read as they come.
        assoc = quiet_scu({MPPS: None, COMMITMENT: None}).associate(
            HOST,
            port,
            ae_title="ASYNCSCP",
            evt_handlers=[(evt.EVT_DIMSE_RECV, lambda e: responses.append(e.message.command_set))],
        )
        assert assoc.is_established
        try:
            results: dict[str, Any] = {}
            status, reply = assoc.send_n_create(attributes, MPPS, None)
            uid = responses[-1].AffectedSOPInstanceUID
            results["create"] = (int(status.Status), uid, reply.PerformedProcedureStepStatus)
            status, reply = assoc.send_n_set(attributes, MPPS, uid)
            results["set"] = (int(status.Status), reply.PerformedProcedureStepStatus)
            status, reply = assoc.send_n_get([0x00100010, 0x00100020], MPPS, uid)
            results["get"] = (int(status.Status), str(reply.PatientName), reply.PatientID)
            status, reply = assoc.send_n_action(None, 1, COMMITMENT, "1.2.3.9")
            results["action"] = (int(status.Status), reply.TransactionUID)
            status, reply = assoc.send_n_event_report(None, 2, COMMITMENT, "1.2.3.9")
            results["event_report"] = (int(status.Status), reply.TransactionUID)
            results["delete"] = int(assoc.send_n_delete(MPPS, uid).Status)
            return results
        finally:
            assoc.release()

    classes = [VERIFICATION, MPPS, COMMITMENT]
    async with running(anyio_backend, handlers, scp_sop_classes=classes) as port:
        results = await anyio.to_thread.run_sync(session, port)
    status, uid, state = results.pop("create")
    assert (status, state) == (0x0000, "IN PROGRESS")
    assert uid  # assigned by our server
    assert results == {
        "set": (0, "COMPLETED"),
        "get": (0, "N^GET", "NG1"),
        "action": (0, "1.2.3.5"),
        "event_report": (0, "1.2.3.4"),
        "delete": 0,
    }
    fields = [r.command.command_field for r in recorder.requests]
    assert fields == [0x0140, 0x0120, 0x0110, 0x0130, 0x0100, 0x0150]
    assert [r.sop_instance_uid for r in recorder.requests] == [uid] * 3 + ["1.2.3.9"] * 2 + [uid]
    assert recorder.requests[2].command.attribute_identifier_list == (0x00100010, 0x00100020)
    assert recorder.requests[1].dataset is not None
    assert recorder.requests[1].dataset.PerformedProcedureStepStatus == "IN PROGRESS"


async def test_pynetdicom_release_and_abort_are_seen_by_our_server(anyio_backend: str) -> None:
    """A-RELEASE and A-ABORT from pynetdicom (PS3.8 7.2, 7.3) reach our
    server's notifications as such, each for its own association, and
    each frees its slot (the server allows one)."""
    ended: list[tuple[str, str]] = []
    released, aborted = anyio.Event(), anyio.Event()

    def on_released(negotiated: Any) -> None:
        ended.append(("released", negotiated.calling_ae_title))
        released.set()

    def on_aborted(negotiated: Any) -> None:
        ended.append(("aborted", negotiated.calling_ae_title))
        aborted.set()

    def session(port: int, ae_title: str, abort: bool) -> tuple[int, bool]:
        """An echo, then an abort or a release: (status, whether it ended so)."""
        assoc = quiet_scu({VERIFICATION: None}, ae_title).associate(
            HOST, port, ae_title="ASYNCSCP"
        )
        assert assoc.is_established
        status = int(assoc.send_c_echo().Status)
        if abort:
            assoc.abort()
            return status, assoc.is_aborted
        assoc.release()
        return status, assoc.is_released

    handlers = Handlers(on_association_released=on_released, on_association_aborted=on_aborted)
    async with running(anyio_backend, handlers, maximum_associations=1) as port:
        releasing = await anyio.to_thread.run_sync(session, port, "RELEASING", False)
        with anyio.fail_after(WAIT):
            await released.wait()
        aborting = await anyio.to_thread.run_sync(session, port, "ABORTING", True)
        with anyio.fail_after(WAIT):
            await aborted.wait()
        after = await anyio.to_thread.run_sync(session, port, "AFTER", False)
    assert releasing == aborting == after == (0x0000, True)
    assert ended[:2] == [("released", "RELEASING"), ("aborted", "ABORTING")]


async def test_pynetdicom_scu_proposing_contexts_we_do_not_support(anyio_backend: str) -> None:
    """PS3.8 9.3.3.2, Table 9-18: a SOP class we do not serve is refused
    abstract-syntax-not-supported (3), one we serve in no transfer syntax we
    accept transfer-syntaxes-not-supported (4); the association is
    established with the rest, and served on it."""

    def session(port: int) -> tuple[dict[str, int], list[str], int]:
        peer = quiet_scu({VERIFICATION: None, MR: None, CT: [JPEG_BASELINE]})
        assoc = peer.associate(HOST, port, ae_title="ASYNCSCP")
        assert assoc.is_established
        try:
            refused = {str(cx.abstract_syntax): int(cx.result) for cx in assoc.rejected_contexts}
            accepted = [str(cx.abstract_syntax) for cx in assoc.accepted_contexts]
            return refused, accepted, int(assoc.send_c_echo().Status)
        finally:
            assoc.release()

    async with running(anyio_backend, Handlers(), scp_sop_classes=[VERIFICATION, CT]) as port:
        refused, accepted, echo = await anyio.to_thread.run_sync(session, port)
    assert refused == {MR: 3, CT: 4}
    assert accepted == [VERIFICATION]
    assert echo == 0x0000
