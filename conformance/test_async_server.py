"""The async server (``dicomul_asyncio.serve`` / ``dicomul_trio.serve``, one
implementation on anyio) against DCMTK's SCUs, pynetdicom, dicomul's
blocking AE and raw peers, on each backend (anyio's pytest plugin runs
every test on asyncio and trio)."""

from __future__ import annotations

import contextlib
import functools
import logging
import pathlib
import time
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import anyio
import dicomul_asyncio
import dicomul_trio
import pytest
from corpus import assert_same_data_set, data_set_bytes, image, write
from dcmtk_tools import dcmtk_path
from dicomul_anyio import Handlers, ServiceRequest, current_request
from dicomul_anyio._admission import MAX_UNASSOCIATED
from dicomul_sync import AE
from peers import (
    Gate,
    RawPeer,
    a_large_store,
    assert_provider_abort,
    cancel_a_query_with_a_store_pipelined,
    free_port,
    many_echo_requests,
    nth_match,
    push_instead_of_answering_a_get,
    push_while_a_query_is_served,
    pynetdicom_scu,
    serving,
    storescp,
)
from pydicom import dcmread
from pydicom.dataset import Dataset
from tls_certs import make_pki

from dicomul import (
    NEED_DATA,
    Aborted,
    GeneralStatus,
    Negotiated,
    PDUType,
    Status,
    c_store_rq,
    encode_dataset,
    service_name,
)
from dicomul.testing import split_pdus

HOST = "127.0.0.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
IMPLICIT = "1.2.840.10008.1.2"
VERIFICATION = "1.2.840.10008.1.1"
PATIENT_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.1.2"
PATIENT_ROOT_GET = "1.2.840.10008.5.1.4.1.2.1.3"

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def package(backend: str):  # type: ignore[no-untyped-def]
    return dicomul_asyncio if backend == "asyncio" else dicomul_trio


@contextlib.asynccontextmanager
async def running(backend: str, handlers: Handlers, **options: Any) -> AsyncIterator[int]:
    """``serve`` started in a task group on a free port; yields the port and
    cancels the server on leaving."""
    options.setdefault("ae_title", "ASYNCSCP")
    options.setdefault("host", HOST)
    async with anyio.create_task_group() as group:
        serve = functools.partial(package(backend).serve, handlers, port=0, **options)
        port = await group.start(serve)
        yield port
        group.cancel_scope.cancel()


async def dcmtk(tool: str, *args: str) -> anyio.abc.Process | Any:
    """Run a DCMTK tool to its end (the event loop goes on meanwhile)."""
    return await anyio.run_process([dcmtk_path(tool), *args], check=False)


async def test_echoscu(anyio_backend: str) -> None:
    async with running(anyio_backend, Handlers()) as port:
        done = await dcmtk("echoscu", "-aec", "ASYNCSCP", HOST, str(port))
    assert done.returncode == 0, done.stderr


async def test_storescu_files_stored_byte_for_byte(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    sources = [
        write(image(rows=32, columns=32, seed=n), tmp_path / f"in{n}.dcm", EXPLICIT)
        for n in range(3)
    ]
    stored: list[pathlib.Path] = []

    async def on_c_stored(path: pathlib.Path) -> None:
        stored.append(path)

    handlers = Handlers(store_directory=store, on_c_stored=on_c_stored)
    async with running(anyio_backend, handlers) as port:
        done = await dcmtk("storescu", "-xe", HOST, str(port), *map(str, sources))
    assert done.returncode == 0, done.stderr
    assert sorted(stored) == sorted(store.iterdir())
    for source in sources:
        uid = dcmread(source).SOPInstanceUID
        assert_same_data_set(store / f"{uid}.dcm", source)
    assert not list(store.glob(".incoming-*"))


# ------------------------------------------------------------ query/retrieve

PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"


def patient(name: str, patient_id: str) -> Dataset:
    match = Dataset()
    match.QueryRetrieveLevel = "PATIENT"
    match.PatientName, match.PatientID = name, patient_id
    return match


async def test_findscu_gets_the_matches(anyio_backend: str, tmp_path: pathlib.Path) -> None:
    queries: list[str] = []

    async def on_c_find(identifier: Dataset) -> AsyncIterator[Dataset]:
        queries.append(str(identifier.PatientName))
        assert current_request().calling_ae_title == "FINDSCU"
        for name, pid in (("DOE^JOHN", "P1"), ("DOE^JANE", "P2")):
            await anyio.sleep(0)
            yield patient(name, pid)

    async with running(anyio_backend, Handlers(on_c_find=on_c_find)) as port:
        done = await dcmtk(
            "findscu", "-P", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientName=DOE*",
            "-k", "PatientID", "-X", "-od", str(tmp_path), HOST, str(port),
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert queries == ["DOE*"]
    answers = sorted(dcmread(p).PatientID for p in tmp_path.glob("rsp*.dcm"))
    assert answers == ["P1", "P2"]


def stored_files(tmp_path: pathlib.Path, count: int) -> list[pathlib.Path]:
    return [
        write(image(rows=16, columns=16, seed=n), tmp_path / f"source{n}.dcm", EXPLICIT)
        for n in range(count)
    ]


def assert_received(directory: pathlib.Path, sources: list[pathlib.Path]) -> None:
    """Every source is in ``directory``, the same data set (DCMTK's getscu and
    storescp write what they receive through their own encoder, which
    gives sequences another length encoding: equal once decoded)."""
    got = {str(dcmread(p).SOPInstanceUID): dcmread(p) for p in directory.iterdir()}
    assert len(got) == len(sources), sorted(got)
    for source in sources:
        want = dcmread(source)
        assert got[str(want.SOPInstanceUID)] == want


async def test_getscu_retrieves_the_files(anyio_backend: str, tmp_path: pathlib.Path) -> None:
    sources = stored_files(tmp_path, 3)
    out = tmp_path / "got"
    out.mkdir()

    async def on_c_get(identifier: Dataset) -> AsyncIterator[pathlib.Path]:
        assert identifier.PatientID == "P1"
        for source in sources:
            yield source

    async with running(anyio_backend, Handlers(on_c_get=on_c_get)) as port:
        done = await dcmtk(
            "getscu", "-P", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=P1",
            "-od", str(out), HOST, str(port),
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert_received(out, sources)


async def test_movescu_to_a_dcmtk_storescp(anyio_backend: str, tmp_path: pathlib.Path) -> None:
    sources = stored_files(tmp_path, 3)
    out = tmp_path / "moved"
    out.mkdir()

    def on_c_move(identifier: Dataset, move_aet: str) -> list[pathlib.Path]:
        assert move_aet == "STORESCP"
        return sources  # a plain function returning a list serves too

    with storescp("-od", str(out)) as destination:
        handlers = Handlers(
            on_c_move=on_c_move, move_destinations={"STORESCP": (HOST, destination)}
        )
        async with running(anyio_backend, handlers) as port:
            done = await dcmtk(
                "movescu", "-P", "-aem", "STORESCP", "-k", "QueryRetrieveLevel=PATIENT",
                "-k", "PatientID=P1", HOST, str(port),
            )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert_received(out, sources)


# ------------------------------------------------- dicomul_sync and pynetdicom


async def test_our_sync_ae_as_scu_every_service(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    """dicomul_sync's AE against the async server: echo, store, find with a
    C-CANCEL, a move to an unknown destination, and every DIMSE-N service."""
    printer = "1.2.840.10008.5.1.1.16"  # Printer SOP Class: N-GET
    film_box = "1.2.840.10008.5.1.1.2"  # Basic Film Session: N-CREATE/SET/ACTION/DELETE
    seen: list[tuple[str, str | None]] = []

    async def normalized(request: ServiceRequest) -> tuple[int, Dataset | None]:
        seen.append((service_name(request.command.command_field), request.sop_instance_uid))
        reply = Dataset()
        reply.PatientID = "ANSWER"
        return 0x0000, reply

    many = [patient(f"DOE^{n}", f"P{n}") for n in range(200)]

    async def on_c_find(identifier: Dataset) -> AsyncIterator[Dataset]:
        for match in many:
            await anyio.sleep(0.001)
            yield match

    store = tmp_path / "store"
    store.mkdir()
    handlers = Handlers(
        store_directory=store,
        on_c_find=on_c_find,
        on_c_move=lambda identifier, aet: [],
        on_n_get=normalized,
        on_n_set=normalized,
        on_n_action=normalized,
        on_n_create=normalized,
        on_n_delete=normalized,
        on_n_event_report=normalized,
    )
    classes = [VERIFICATION, CT, PATIENT_ROOT_FIND, PATIENT_ROOT_MOVE, printer, film_box]
    scu = AE(ae_title="SYNCSCU", scu_sop_class=classes)
    ds = image(rows=8, columns=8)

    def session(port: int) -> dict[str, Any]:
        assoc = scu.associate(HOST, port, ae_title="ASYNCSCP")
        assert assoc.is_established
        results: dict[str, Any] = {"echo": int(assoc.send_c_echo().Status)}
        results["store"] = int(assoc.send_c_store(ds).Status)
        statuses = []
        for status, _ in assoc.send_c_find(patient("*", ""), query_model="P"):
            statuses.append(int(status))
            if len(statuses) == 3:
                assoc.send_c_cancel()
        results["find"] = statuses
        results["move"] = [int(s) for s, _ in assoc.send_c_move(patient("*", ""), "NOWHERE")]
        status, reply = assoc.send_n_create(Dataset(), film_box)
        results["create"] = (int(status.Status), status.get("AffectedSOPInstanceUID"))
        results["create_reply"] = reply.PatientID
        results["get"] = int(assoc.send_n_get([0x00100020], printer, "1.2.3")[0].Status)
        results["set"] = int(assoc.send_n_set(Dataset(), film_box, "1.2.3")[0].Status)
        results["action"] = int(assoc.send_n_action(None, 1, film_box, "1.2.3")[0].Status)
        results["delete"] = int(assoc.send_n_delete(film_box, "1.2.3")[0].Status)
        results["echo_after"] = int(assoc.send_c_echo().Status)
        assoc.release()
        return results

    async with running(anyio_backend, handlers, scp_sop_classes=classes) as port:
        results = await anyio.to_thread.run_sync(session, port)
    assert results["echo"] == results["store"] == 0x0000
    assert (store / f"{ds.SOPInstanceUID}.dcm").is_file()
    find = results["find"]
    assert find[:3] == [0xFF00] * 3, find
    assert find[-1] == 0xFE00  # cancelled (PS3.4 C.4.1.2.3)
    assert len(find) < 200
    assert results["move"] == [0xA801]  # move destination unknown
    status, uid = results["create"]
    assert status == 0x0000
    assert uid  # the server assigned the instance UID
    assert results["create_reply"] == "ANSWER"
    assert [results[k] for k in ("get", "set", "action", "delete", "echo_after")] == [0] * 5
    assert [name for name, _ in seen] == [
        "N-CREATE", "N-GET", "N-SET", "N-ACTION", "N-DELETE",
    ]  # fmt: skip
    assert seen[0][1] == uid  # the handler saw the assigned UID


async def test_pynetdicom_scu_echo_and_store(anyio_backend: str, tmp_path: pathlib.Path) -> None:
    stored: list[Dataset] = []

    async def on_c_store(dataset: Dataset) -> int:
        stored.append(dataset)
        return 0x0000

    ds = image(rows=8, columns=8)
    source = write(ds, tmp_path / "in.dcm", EXPLICIT)

    def session(port: int) -> tuple[int, int]:
        peer = pynetdicom_scu("PYNETDICOM", {VERIFICATION: None, CT: [EXPLICIT]})
        assoc = peer.associate(HOST, port, ae_title="ASYNCSCP")
        assert assoc.is_established
        try:
            return int(assoc.send_c_echo().Status), int(assoc.send_c_store(source).Status)
        finally:
            assoc.release()

    async with running(anyio_backend, Handlers(on_c_store=on_c_store)) as port:
        echo, store = await anyio.to_thread.run_sync(session, port)
    assert (echo, store) == (0x0000, 0x0000)
    (got,) = stored
    assert got.SOPInstanceUID == ds.SOPInstanceUID
    assert got.PixelData == ds.PixelData


# ---------------------------------------------------------------- rejection


async def test_wrong_called_ae_title_is_rejected(anyio_backend: str) -> None:
    async with running(anyio_backend, Handlers(), require_called_aet=True) as port:
        with pytest.raises(dicomul_asyncio.AssociationRejectedError) as rejected:
            async with package(anyio_backend).connect(HOST, port, called_ae_title="WRONG"):
                pass
        # PS3.8 Table 9-21: rejected-permanent, service-user, called AE title not recognized
        pdu = rejected.value.event.pdu
        assert (pdu.result, pdu.source, pdu.reason) == (1, 1, 7)
        async with package(anyio_backend).connect(HOST, port, called_ae_title="ASYNCSCP") as a:
            assert await a.c_echo() == 0x0000


async def test_permitted_peers_by_title_and_address(anyio_backend: str) -> None:
    """AcceptorConfig.permitted_peers through serve(): the calling title
    from a listed address is served, from another address or under another
    title rejected 1/1/7 (the adapter hands the core the peer's address)."""
    rules = {
        "ASYNCSCP": (("FRIEND", frozenset({HOST})), ("FARAWAY", frozenset({"192.0.2.1"}))),
    }
    async with running(anyio_backend, Handlers(), permitted_peers=rules) as port:
        connect = package(anyio_backend).connect
        async with connect(HOST, port, called_ae_title="ASYNCSCP", ae_title="FRIEND") as a:
            assert await a.c_echo() == 0x0000
        for calling in ("FARAWAY", "STRANGER"):
            with pytest.raises(dicomul_asyncio.AssociationRejectedError) as rejected:
                async with connect(HOST, port, called_ae_title="ASYNCSCP", ae_title=calling):
                    pass
            pdu = rejected.value.event.pdu
            assert (pdu.result, pdu.source, pdu.reason) == (1, 1, 7)


async def test_over_the_association_limit_is_rejected(anyio_backend: str) -> None:
    pkg = package(anyio_backend)
    async with running(anyio_backend, Handlers(), maximum_associations=1) as port:
        async with pkg.connect(HOST, port) as first:
            with pytest.raises(pkg.AssociationRejectedError) as rejected:
                async with pkg.connect(HOST, port):
                    pass
            # PS3.8 Table 9-21: rejected-transient, service-provider (presentation),
            # local limit exceeded
            pdu = rejected.value.event.pdu
            assert (pdu.result, pdu.source, pdu.reason) == (2, 3, 2)
            assert await first.c_echo() == 0x0000
        # released: its slot is free again
        async with pkg.connect(HOST, port) as second:
            assert await second.c_echo() == 0x0000


# ------------------------------------------------------- misbehaving handlers


async def test_a_handler_that_raises_gives_the_failure_status(anyio_backend: str) -> None:
    async def on_c_echo() -> int:
        raise RuntimeError("broken handler")

    async def on_c_store(dataset: Dataset) -> int:
        raise OSError(28, "No space left on device")

    async def on_c_find(identifier: Dataset) -> AsyncIterator[Dataset]:
        yield patient("DOE^JOHN", "P1")
        raise RuntimeError("the database went away")

    def on_c_get(identifier: Dataset) -> list[Dataset]:
        raise RuntimeError("no such study")  # at once, from a plain function

    handlers = Handlers(
        on_c_echo=on_c_echo, on_c_store=on_c_store, on_c_find=on_c_find, on_c_get=on_c_get
    )
    query = patient("*", "")
    pkg = package(anyio_backend)
    async with running(anyio_backend, handlers) as port:
        scu = AE(ae_title="SYNCSCU", scu_sop_class=[PATIENT_ROOT_GET])

        def get() -> list[int]:
            assoc = scu.associate(HOST, port, ae_title="ASYNCSCP")
            try:
                return [int(status) for status, _ in assoc.send_c_get(query, "P")]
            finally:
                assoc.release()

        assert await anyio.to_thread.run_sync(get) == [0xC000]  # unable to process
        for _ in range(2):  # the server goes on serving
            async with pkg.connect(
                HOST, port, sop_classes=[VERIFICATION, CT, PATIENT_ROOT_FIND]
            ) as a:
                assert await a.c_echo() == 0x0110  # processing failure (PS3.7 C.5)
                # an OSError while storing: Refused, out of resources (PS3.4 B.2.3)
                assert await a.c_store(image(rows=8, columns=8)) == 0xA700
                answers = [int(status) async for status, _ in a.c_find(query)]
                assert answers == [0xFF00, 0xC000]  # a match, then unable to process


# ---------------------------------------------------------- misbehaving peers


def partial_store(port: int, pdus: int, *, then_close: bool = True) -> RawPeer:
    """A raw peer that associates and sends the first ``pdus`` PDUs of a
    C-STORE (a 256 KiB data set in PDUs of at most 4 KiB) and, unless told,
    vanishes (closes its socket without an A-ABORT)."""
    peer = RawPeer(port)
    peer.request(called="ASYNCSCP", transfer_syntaxes=(EXPLICIT,))
    ds = image(rows=256, columns=512)
    body = encode_dataset(ds, EXPLICIT)
    command = c_store_rq(1, CT, str(ds.SOPInstanceUID))
    peer.conn.send_message(3, command, body)
    for chunk in split_pdus(peer.conn.data_to_send())[:pdus]:
        peer.sock.sendall(chunk)
    if then_close:
        peer.sock.close()
    return peer


async def wait_until(predicate: Any, seconds: float = 5.0) -> None:
    with anyio.fail_after(seconds):
        while not predicate():
            await anyio.sleep(0.01)


async def test_a_peer_that_vanishes_mid_store_frees_its_slot_and_leaves_no_file(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    handlers = Handlers(store_directory=store)
    pkg = package(anyio_backend)
    options = {"maximum_associations": 1, "max_pdu_length": 4096}
    async with running(anyio_backend, handlers, **options) as port:
        # mid-PDU: a PDU header promising more than comes
        peer = await anyio.to_thread.run_sync(
            functools.partial(partial_store, port, 5, then_close=False)
        )
        await wait_until(lambda: list(store.glob(".incoming-*")))  # a store under way
        peer.sock.sendall(b"\x04\x00\x00\x00\x10\x00" + b"\0" * 100)
        peer.sock.close()
        await wait_until(lambda: not list(store.iterdir()))  # nothing partial kept
        async with pkg.connect(HOST, port) as assoc:  # its slot is free at once
            assert await assoc.c_echo() == 0x0000


async def test_a_peer_that_never_sends_a_pdu_is_closed_by_artim(anyio_backend: str) -> None:
    async with running(anyio_backend, Handlers(), acse_timeout=0.5) as port:
        started = anyio.current_time()
        async with await anyio.connect_tcp(HOST, port) as silent:
            with anyio.fail_after(5):
                with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                    await silent.receive()
        waited = anyio.current_time() - started
        assert 0.4 < waited < 3, waited
        async with package(anyio_backend).connect(HOST, port) as assoc:
            assert await assoc.c_echo() == 0x0000


async def test_cancelling_serve_mid_store_aborts_and_keeps_nothing(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    handlers = Handlers(store_directory=store)
    async with running(anyio_backend, handlers, max_pdu_length=4096) as port:
        peer = await anyio.to_thread.run_sync(
            functools.partial(partial_store, port, 5, then_close=False)
        )
        await wait_until(lambda: list(store.glob(".incoming-*")))
    # serve was cancelled with a data set half received
    assert not list(store.iterdir())
    # What the server sent last: an A-ABORT PDU (PS3.8 9.3.8, type 07), not
    # just a closed connection (the server closes unread data: a reset follows).
    received = await anyio.to_thread.run_sync(peer.sock.recv, 65536)
    peer.sock.close()
    assert received[:1] == bytes([PDUType.A_ABORT])


# ----------------------------------------------------------- streaming sinks


class Collecting:
    """A streaming store sink keeping what it was given."""

    def __init__(self, request: ServiceRequest, done: dict[str, bytes]) -> None:
        self.uid = request.sop_instance_uid or ""
        self.parts: list[bytes] = []
        self.done = done

    async def write(self, data: bytes) -> None:
        await anyio.sleep(0)
        self.parts.append(data)

    async def commit(self) -> int | None:
        self.done[self.uid] = b"".join(self.parts)
        return None

    async def discard(self) -> None:
        self.parts = []


async def test_a_streaming_store_sink(anyio_backend: str, tmp_path: pathlib.Path) -> None:
    done: dict[str, bytes] = {}
    source = write(image(rows=64, columns=64), tmp_path / "in.dcm", EXPLICIT)
    handlers = Handlers(on_c_store_stream=lambda request: Collecting(request, done))
    async with running(anyio_backend, handlers, max_pdu_length=4096) as port:
        result = await dcmtk("storescu", "-xe", HOST, str(port), str(source))
    assert result.returncode == 0, result.stderr
    (got,) = done.values()
    assert got == data_set_bytes(source)


# -------------------------------------------------------------------- TLS


async def test_tls(anyio_backend: str, tmp_path: pathlib.Path) -> None:
    pki = make_pki(tmp_path)
    stored: list[str] = []

    async def on_c_store(dataset: Dataset) -> int:
        stored.append(str(dataset.SOPInstanceUID))
        return 0x0000

    ds = image(rows=8, columns=8)
    pkg = package(anyio_backend)
    handlers = Handlers(on_c_store=on_c_store)
    async with running(anyio_backend, handlers, ssl_context=pki.server_context()) as port:
        async with pkg.connect(HOST, port, ssl_context=pki.client_context()) as assoc:
            assert await assoc.c_echo() == 0x0000
            assert await assoc.c_store(ds) == 0x0000
        # a client without a certificate fails the handshake; the server goes on
        with pytest.raises(pkg.AssociationAbortedError):  # the transport error is its cause
            async with pkg.connect(
                HOST, port, ssl_context=pki.client_context(with_certificate=False)
            ) as refused:
                await refused.c_echo()
        async with pkg.connect(HOST, port, ssl_context=pki.client_context()) as assoc:
            assert await assoc.c_echo() == 0x0000
    assert stored == [str(ds.SOPInstanceUID)]


# ------------------------------------------------------------------- load


class FrugalPeer(RawPeer):
    """A raw peer reading 4 KiB at a time (a blocked recv(65536) holds its
    64 KiB buffer: 100 of them would measure the test, not the server)."""

    def next_event(self) -> object:
        while True:
            event = self.conn.next_event()
            self.sock.sendall(self.conn.data_to_send())
            if event is not NEED_DATA:
                return event
            self.conn.receive_data(self.sock.recv(4096))


def store_one(port: int, uid: str, body: bytes) -> object:
    """A raw peer's whole C-STORE of ``body`` (pre-encoded); the response event."""
    peer = FrugalPeer(port)
    try:
        peer.request(called="ASYNCSCP", transfer_syntaxes=(EXPLICIT,))
        return peer.store(uid, body)
    finally:
        peer.sock.close()


async def test_a_hundred_concurrent_associations_each_storing(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    """100 associations at once (each a thread with a blocking socket, so
    that only the server allocates under the event loop), each storing a
    256 KiB data set: all stored, none lost, and memory bounded: the peak
    traced allocation grows by less than 16 MiB, where holding every data
    set at once would take 25 MiB."""
    store = tmp_path / "store"
    store.mkdir()
    datasets = [image(rows=256, columns=512, seed=n) for n in range(100)]
    bodies = [(str(ds.SOPInstanceUID), encode_dataset(ds, EXPLICIT)) for ds in datasets]
    assert all(len(body) > 256 * 1024 for _, body in bodies)
    answers: list[object] = []
    limiter = anyio.CapacityLimiter(100)
    handlers = Handlers(store_directory=store)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        async with running(anyio_backend, handlers, maximum_associations=100) as port:

            async def one(uid: str, body: bytes) -> None:
                call = functools.partial(store_one, port, uid, body)
                answers.append(await anyio.to_thread.run_sync(call, limiter=limiter))

            async with anyio.create_task_group() as group:
                for uid, body in bodies:
                    group.start_soon(one, uid, body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [answer.command.status for answer in answers] == [0x0000] * 100  # type: ignore[attr-defined]
    names = sorted(p.name for p in store.iterdir())
    assert names == sorted(f"{uid}.dcm" for uid, _ in bodies)
    assert peak - base < 16 * 1024 * 1024, f"{(peak - base) / 2**20:.1f} MiB"


async def test_c_get_to_our_sync_ae_sends_files_as_they_are(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    """C-GET sub-operations carry a file's data set as it is on disk (its own
    syntax accepted): dicomul_sync's AE stores them byte for byte; a file
    that cannot be sent fails its sub-operation alone (Failed SOP Instance
    UID List, PS3.4 C.4.3.1.3.1)."""
    sources = stored_files(tmp_path, 2)
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(sources[0].read_bytes()[:-100])  # cut short: not whole
    out = tmp_path / "got"
    out.mkdir()

    async def on_c_get(identifier: Dataset) -> AsyncIterator[pathlib.Path]:
        for source in (sources[0], broken, sources[1]):
            yield source

    scu = AE(ae_title="GETSCU", scu_sop_class=[PATIENT_ROOT_GET], scp_sop_class=[CT])
    scu.store_directory = str(out)

    def session(port: int) -> list[tuple[int, Dataset | None]]:
        assoc = scu.associate(HOST, port, ae_title="ASYNCSCP")
        assert assoc.is_established
        try:
            return [(int(s), i) for s, i in assoc.send_c_get(patient("*", "P1"), "P")]
        finally:
            assoc.release()

    async with running(anyio_backend, Handlers(on_c_get=on_c_get)) as port:
        answers = await anyio.to_thread.run_sync(session, port)
    assert [status for status, _ in answers] == [0xFF00, 0xFF00, 0xB000]  # warning: one failed
    failed = answers[-1][1]
    assert failed is not None
    assert failed.FailedSOPInstanceUIDList == str(dcmread(broken).SOPInstanceUID)
    for source in sources:  # (the broken copy of the first left it as it was)
        uid = dcmread(source).SOPInstanceUID
        assert_same_data_set(out / f"{uid}.dcm", source)


async def test_an_idle_association_is_aborted_after_the_network_timeout(
    anyio_backend: str,
) -> None:
    async with running(anyio_backend, Handlers(), network_timeout=0.5) as port:

        def idle() -> tuple[object, float]:
            peer = RawPeer(port)
            try:
                peer.associate()
                started = time.monotonic()
                return peer.next_event(), time.monotonic() - started  # says nothing meanwhile
            finally:
                peer.sock.close()

        event, waited = await anyio.to_thread.run_sync(idle)
    assert isinstance(event, Aborted)
    assert 0.4 < waited < 3, waited


async def test_a_peer_stalling_mid_message_is_aborted_after_the_dimse_timeout(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    handlers = Handlers(store_directory=store)
    # After its A-ABORT the server waits for the peer to close (Sta13), ARTIM
    # (the ACSE timeout) bounding the wait: this peer never closes.
    options = {"dimse_timeout": 0.5, "acse_timeout": 0.5, "max_pdu_length": 4096}
    async with running(anyio_backend, handlers, **options) as port:
        peer = await anyio.to_thread.run_sync(
            functools.partial(partial_store, port, 5, then_close=False)
        )
        try:
            waited = await anyio.to_thread.run_sync(peer.closed_within, 3.0)
        finally:
            peer.sock.close()
        assert waited < 3
        await wait_until(lambda: not list(store.iterdir()))  # nothing partial kept


async def test_a_move_destination_that_cannot_be_reached_fails_each_sub_operation(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    """PS3.4 C.4.2.1.5: every sub-operation failed gives 0xA702, and the
    final response lists the instances (Failed SOP Instance UID List)."""
    sources = stored_files(tmp_path, 2)
    handlers = Handlers(
        on_c_move=lambda identifier, aet: sources,
        move_destinations={"NOWHERE": (HOST, free_port())},  # nothing listens there
    )
    scu = AE(ae_title="SYNCSCU", scu_sop_class=[PATIENT_ROOT_MOVE])

    def move(port: int) -> list[tuple[int, Dataset | None]]:
        assoc = scu.associate(HOST, port, ae_title="ASYNCSCP")
        try:
            return [(int(s), i) for s, i in assoc.send_c_move(patient("*", "P1"), "NOWHERE")]
        finally:
            assoc.release()

    async with running(anyio_backend, handlers) as port:
        answers = await anyio.to_thread.run_sync(move, port)
    assert [status for status, _ in answers] == [0xFF00, 0xA702]
    failed = answers[-1][1]
    assert failed is not None
    assert list(failed.FailedSOPInstanceUIDList) == [
        str(dcmread(source).SOPInstanceUID) for source in sources
    ]


async def test_the_directory_store_keeps_only_the_instance_asked_whole(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    """PS3.4 B.2.3: a data set naming another instance than its request, or
    cut short, is not stored (a failure status, no file); a whole one is."""
    store = tmp_path / "store"
    store.mkdir()
    ds = image(rows=16, columns=16)
    body = encode_dataset(ds, EXPLICIT)

    def session(port: int) -> list[int]:
        peer = RawPeer(port)
        try:
            peer.request(called="ASYNCSCP", transfer_syntaxes=(EXPLICIT,))
            answers = [peer.store("1.2.3.4", body), peer.store(str(ds.SOPInstanceUID), body[:-7])]
            answers.append(peer.store(str(ds.SOPInstanceUID), body))
            return [answer.command.status for answer in answers]  # type: ignore[attr-defined]
        finally:
            peer.sock.close()

    async with running(anyio_backend, Handlers(store_directory=store)) as port:
        wrong, cut, whole = await anyio.to_thread.run_sync(session, port)
    assert Status(wrong) == "Failure"
    assert Status(cut) == "Failure"
    assert whole == 0x0000
    assert [p.name for p in store.iterdir()] == [f"{ds.SOPInstanceUID}.dcm"]


async def test_a_service_without_a_handler_is_an_unrecognized_operation(
    anyio_backend: str,
) -> None:
    """PS3.7 C.5: 0x0211 for a request no handler serves (C-ECHO excepted:
    answering it is the whole service)."""
    printer = "1.2.840.10008.5.1.1.16"
    classes = [VERIFICATION, CT, PATIENT_ROOT_FIND, printer]
    scu = AE(ae_title="SYNCSCU", scu_sop_class=classes)

    def session(port: int) -> list[int]:
        assoc = scu.associate(HOST, port, ae_title="ASYNCSCP")
        try:
            return [
                int(assoc.send_c_echo().Status),
                int(assoc.send_c_store(image(rows=8, columns=8)).Status),
                *[int(s) for s, _ in assoc.send_c_find(patient("*", ""), "P")],
                int(assoc.send_n_get([0x00100010], printer, "1.2.3")[0].Status),
            ]
        finally:
            assoc.release()

    async with running(anyio_backend, Handlers(), scp_sop_classes=classes) as port:
        assert await anyio.to_thread.run_sync(session, port) == [0x0000, 0x0211, 0x0211, 0x0211]


# ------------------------------------------------- sub-operations as they go


async def test_c_move_sub_operations_name_their_originator(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    """The C-STOREs a C-MOVE relays carry the Move Originator Application
    Entity Title and Message ID of the C-MOVE (PS3.7 9.3.1.1, Table 9.3-1):
    dicomul_sync's SCP, the destination, sees them in current_request()."""
    import dicomul_sync

    sources = stored_files(tmp_path, 2)
    seen: list[tuple[str | None, int | None]] = []

    def on_c_store(dataset: Dataset) -> int:
        command = dicomul_sync.current_request().command
        seen.append(
            (command.move_originator_application_entity_title, command.move_originator_message_id)
        )
        return 0x0000

    destination = AE(ae_title="DEST", scp_sop_class=[CT])
    destination.on_c_store = on_c_store  # type: ignore[method-assign]
    mover = AE(ae_title="MOVESCU", scu_sop_class=[PATIENT_ROOT_MOVE])

    def session(port: int) -> list[int]:
        assoc = mover.associate(HOST, port, ae_title="ASYNCSCP")
        assert assoc.is_established
        try:
            return [int(s) for s, _ in assoc.send_c_move(patient("*", "P1"), "DEST", msg_id=77)]
        finally:
            assoc.release()

    with serving(destination) as destination_port:
        handlers = Handlers(
            on_c_move=lambda identifier, aet: sources,
            move_destinations={"DEST": (HOST, destination_port)},
        )
        async with running(anyio_backend, handlers) as port:
            statuses = await anyio.to_thread.run_sync(session, port)
    assert statuses == [0xFF00, 0x0000]
    assert seen == [("MOVESCU", 77)] * 2


async def test_c_get_sends_a_large_file_without_holding_it(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    """A C-GET sub-operation's file goes out through the core's push API in
    chunks read in worker threads: a 12 MiB file raises the peak traced
    allocation by far less than its size (before: read whole, then sent).
    dicomul_sync's AE receives it into its directory store, streamed too."""
    big = write(image(rows=2048, columns=3072, seed=5), tmp_path / "big.dcm", EXPLICIT)
    assert big.stat().st_size > 12 * 1024 * 1024
    out = tmp_path / "got"
    out.mkdir()

    async def on_c_get(identifier: Dataset) -> AsyncIterator[pathlib.Path]:
        yield big

    scu = AE(ae_title="GETSCU", scu_sop_class=[PATIENT_ROOT_GET], scp_sop_class=[CT])
    scu.store_directory = str(out)

    def session(port: int) -> list[int]:
        assoc = scu.associate(HOST, port, ae_title="ASYNCSCP")
        assert assoc.is_established
        try:
            return [int(s) for s, _ in assoc.send_c_get(patient("*", "P1"), "P")]
        finally:
            assoc.release()

    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        async with running(anyio_backend, Handlers(on_c_get=on_c_get)) as port:
            statuses = await anyio.to_thread.run_sync(session, port)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert statuses == [0x0000]
    assert_same_data_set(out / f"{dcmread(big, stop_before_pixels=True).SOPInstanceUID}.dcm", big)
    assert peak - base < big.stat().st_size // 4, f"{(peak - base) / 2**20:.1f} MiB"


# ------------------------------------------------- admission and notification


async def test_silent_connections_past_the_cap_close_the_oldest_not_a_real_peer(
    anyio_backend: str,
) -> None:
    """Past MAX_UNASSOCIATED connections without an association the oldest
    is closed for each new one, long before ARTIM (30 s here), and a real
    peer still associates at once (as the blocking server's accept loop)."""
    extra = 20
    async with running(anyio_backend, Handlers(), acse_timeout=30) as port:
        silent = [await anyio.connect_tcp(HOST, port) for _ in range(MAX_UNASSOCIATED + extra)]
        try:
            with anyio.fail_after(5):
                for oldest in silent[:extra]:  # closed by the server
                    with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                        await oldest.receive()
            with anyio.move_on_after(0.5) as still_open:
                await silent[-1].receive()  # the newest is kept: nothing comes
            assert still_open.cancelled_caught
            with anyio.fail_after(5):
                async with package(anyio_backend).connect(HOST, port) as assoc:
                    assert await assoc.c_echo() == 0x0000
        finally:
            for stream in silent:
                await stream.aclose()


async def test_association_notifications_and_a_hook_that_raises(anyio_backend: str) -> None:
    """The hooks of dicomul_sync.AE, with the negotiated association; a hook
    that raises (even the accept one) changes nothing for the peer."""
    seen: list[tuple[str, str]] = []

    def accepted(negotiated: Negotiated) -> None:
        seen.append(("accepted", negotiated.calling_ae_title))
        raise RuntimeError("broken hook")

    async def released(negotiated: Negotiated) -> None:
        seen.append(("released", negotiated.calling_ae_title))
        raise RuntimeError("broken hook")

    def aborted(negotiated: Negotiated | None) -> None:
        assert negotiated is not None
        seen.append(("aborted", negotiated.calling_ae_title))
        raise RuntimeError("broken hook")

    handlers = Handlers(
        on_association_accepted=accepted,
        on_association_released=released,
        on_association_aborted=aborted,
    )
    pkg = package(anyio_backend)
    async with running(anyio_backend, handlers) as port:
        async with pkg.connect(HOST, port, ae_title="FIRST") as assoc:
            assert await assoc.c_echo() == 0x0000
        await wait_until(lambda: ("released", "FIRST") in seen)
        async with pkg.connect(HOST, port, ae_title="SECOND") as assoc:
            assert await assoc.c_echo() == 0x0000
            await assoc.abort()
        await wait_until(lambda: ("aborted", "SECOND") in seen)
        async with pkg.connect(HOST, port, ae_title="THIRD") as assoc:  # still serving
            assert await assoc.c_echo() == 0x0000
    assert seen[:4] == [
        ("accepted", "FIRST"),
        ("released", "FIRST"),
        ("accepted", "SECOND"),
        ("aborted", "SECOND"),
    ]


async def test_at_the_limit_a_busy_association_is_not_displaced(anyio_backend: str) -> None:
    """An association whose request the server is working on is not idle
    (dicomul._idle), however long it takes: the newcomer is rejected (local
    limit exceeded) and the request is answered; once it is idle long
    enough, the newcomer displaces it."""
    pkg = package(anyio_backend)
    working, done = anyio.Event(), anyio.Event()

    async def on_c_echo() -> int:
        working.set()
        await done.wait()
        return GeneralStatus.SUCCESS

    handlers = Handlers(on_c_echo=on_c_echo)
    options = {"maximum_associations": 1, "displace_idle_after": 0.3}
    async with (
        running(anyio_backend, handlers, **options) as port,
        pkg.connect(HOST, port) as busy,
        anyio.create_task_group() as group,
    ):
        statuses: list[int] = []

        async def echo() -> None:
            statuses.append(int(await busy.c_echo()))

        group.start_soon(echo)
        await working.wait()
        await anyio.sleep(0.5)  # longer than displace_idle_after, but busy
        with pytest.raises(pkg.AssociationRejectedError) as rejected:
            async with pkg.connect(HOST, port):
                pass
        pdu = rejected.value.event.pdu
        assert (pdu.result, pdu.source, pdu.reason) == (2, 3, 2)
        done.set()
        await wait_until(lambda: statuses == [GeneralStatus.SUCCESS])
        await anyio.sleep(0.5)  # now idle long enough
        async with pkg.connect(HOST, port) as newcomer:
            assert await newcomer.c_echo() == 0x0000
        with pytest.raises(pkg.AssociationAbortedError):  # the A-P-ABORT it was sent
            await busy.c_echo()


async def test_a_peer_pushing_data_while_a_get_sub_operation_waits_is_aborted(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the blocking server (test_sync_robustness): what arrives while a
    C-GET sub-operation's response is awaited is held within a bound (lowered
    here); past it, an A-P-ABORT, nothing served, and the server goes on."""
    from dicomul_common import handling

    monkeypatch.setattr(handling, "MAX_HELD_DATA", 200_000)
    stored: list[Dataset] = []
    match = Dataset()
    match.SOPClassUID, match.SOPInstanceUID, match.PatientID = CT, "1.2.3.4", "1"

    async def on_c_store(dataset: Dataset) -> int:
        stored.append(dataset)
        return 0

    handlers = Handlers(on_c_get=lambda identifier: [match], on_c_store=on_c_store)
    async with running(anyio_backend, handlers) as port:
        data = await anyio.to_thread.run_sync(push_instead_of_answering_a_get, port, "ASYNCSCP", 1)
        assert_provider_abort(data)
        assert not stored  # nothing of what it pushed was served
        async with package(anyio_backend).connect(HOST, port, called_ae_title="ASYNCSCP") as assoc:
            assert (await assoc.c_echo()).Status == 0


#: The bound on what is held, lowered for the tests below (64 MiB by default).
HELD = 100_000


def gated_find(gate: Gate, count: int) -> Any:
    """An async C-FIND handler giving ``count`` matches, each once ``gate``
    lets it through (waited for in a worker thread)."""

    async def on_c_find(identifier: Dataset) -> AsyncIterator[Dataset]:
        for n in range(count):
            await anyio.to_thread.run_sync(gate.step)
            yield nth_match(n)

    return on_c_find


@pytest.mark.parametrize(
    ("service", "push"),
    [("C-FIND", "a data set"), ("C-FIND", "requests"), ("C-MOVE", "a data set")],
)
async def test_a_peer_pushing_while_a_query_is_performed_is_aborted(
    anyio_backend: str,
    service: str,
    push: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """As the blocking server (test_sync_robustness): what a peer pushes
    while a C-FIND or C-MOVE is performed, read while looking for its
    C-CANCEL (PS3.7 9.3.2.3, 9.3.4.3), was held without bound.  Now past
    the bound (lowered here) the peer gets an A-P-ABORT, the query stops,
    nothing it pushed is served, and the server goes on."""
    from dicomul_common import handling

    monkeypatch.setattr(handling, "MAX_HELD_DATA", HELD)
    gate = Gate()
    destination = AE(ae_title="DEST", scp_sop_class=[CT])
    destination.on_c_store = lambda dataset: gate.step() or 0  # type: ignore[method-assign]
    served: list[str] = []

    async def on_c_store(dataset: Dataset) -> int:
        served.append("store")
        return 0

    async def on_c_echo() -> int:
        served.append("echo")
        return 0

    pieces = a_large_store(4 * HELD) if push == "a data set" else many_echo_requests(HELD // 100)
    with (
        serving(destination) as destination_port,
        caplog.at_level(logging.WARNING, logger="dicomul"),
    ):
        handlers = Handlers(
            on_c_echo=on_c_echo,
            on_c_store=on_c_store,
            on_c_find=gated_find(gate, 300),
            on_c_move=lambda identifier, aet: [nth_match(n) for n in range(300)],
            move_destinations={"DEST": (HOST, destination_port)},
        )
        async with running(anyio_backend, handlers) as port:
            seen = await anyio.to_thread.run_sync(
                functools.partial(
                    push_while_a_query_is_served, port, "ASYNCSCP", gate, pieces, service=service
                )
            )
            assert seen.provider_abort
            assert seen.statuses
            assert set(seen.statuses) == {0xFF00}  # cut short: no final response
            assert served == []  # nothing of what it pushed was served
            async with package(anyio_backend).connect(
                HOST, port, called_ae_title="ASYNCSCP"
            ) as assoc:
                assert (await assoc.c_echo()).Status == 0
            assert served == ["echo"]
    aborted = [r.getMessage() for r in caplog.records if "Association Aborted" in r.getMessage()]
    assert aborted == [
        f"Association Aborted: the peer sent over {HELD} bytes of other requests' data "
        f"while a {service} was performed (beyond its operations window)"
    ]


async def test_a_cancel_and_a_store_within_the_window_are_served(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the blocking server: a C-STORE within a window of two (PS3.7
    D.3.3.3) and a C-CANCEL sent while a C-FIND is performed are served,
    twice; each store is over half the bound (lowered here)."""
    from dicomul_common import handling

    monkeypatch.setattr(handling, "MAX_HELD_DATA", HELD)
    gate = Gate()
    stored: list[str] = []

    async def on_c_store(dataset: Dataset) -> int:
        stored.append(dataset.SOPInstanceUID)
        return 0

    stores = []
    for n in range(2):
        instance = nth_match(100 + n)
        instance.TextValue = "x" * (HELD * 6 // 10)  # UT: no maximum length
        stores.append((instance.SOPInstanceUID, encode_dataset(instance, IMPLICIT)))
    handlers = Handlers(on_c_store=on_c_store, on_c_find=gated_find(gate, 300))
    async with running(anyio_backend, handlers, maximum_operations_performed=2) as port:
        rounds = await anyio.to_thread.run_sync(
            cancel_a_query_with_a_store_pipelined, port, "ASYNCSCP", gate, stores
        )
    for answers in rounds:
        *pending, cancelled, store = answers
        assert pending
        assert set(pending) == {("C-FIND", 0xFF00)}
        assert (cancelled, store) == (("C-FIND", 0xFE00), ("C-STORE", 0x0000))
    assert stored == [uid for uid, _ in stores]


async def test_the_offered_window_lets_four_stores_be_outstanding(anyio_backend: str) -> None:
    """``maximum_operations_performed=4`` (PS3.7 D.3.3.3): four tasks of the
    async client keep up to four C-STOREs outstanding on one association,
    each answered by its Message ID; with the default (1) no window is
    offered and the client stays synchronous."""
    stored: list[str] = []

    async def on_c_store(dataset: Dataset) -> int:
        await anyio.sleep(0.05)  # a slow archive: requests pile up meanwhile
        stored.append(str(dataset.SOPInstanceUID))
        return 0

    images = [image(rows=16, columns=16, seed=seed) for seed in range(8)]
    pkg = package(anyio_backend)
    handlers = Handlers(on_c_store=on_c_store)
    peak = 0
    statuses: list[int] = []
    async with (
        running(anyio_backend, handlers, maximum_operations_performed=4) as port,
        pkg.connect(
            HOST, port, called_ae_title="ASYNCSCP", sop_classes=[CT], max_operations=4
        ) as assoc,
    ):
        assert assoc.negotiated.requestor_max_invoked == 4

        async def watch() -> None:
            nonlocal peak
            while len(statuses) < len(images):
                peak = max(peak, len(assoc.outstanding_requests))
                await anyio.sleep(0.005)

        async def store(batch: list[Dataset]) -> None:
            for ds in batch:
                statuses.append(int((await assoc.c_store(ds)).Status))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(watch)
            for n in range(4):
                tasks.start_soon(store, images[n::4])
    assert statuses == [0] * 8
    assert sorted(stored) == sorted(str(ds.SOPInstanceUID) for ds in images)
    assert 2 <= peak <= 4
    async with (
        running(anyio_backend, handlers) as port,
        pkg.connect(
            HOST, port, called_ae_title="ASYNCSCP", sop_classes=[CT], max_operations=4
        ) as assoc,
    ):
        assert assoc.negotiated.requestor_max_invoked == 1
    with pytest.raises(ValueError, match="0 \\(no limit\\) to 65535"):
        await pkg.serve(handlers, port=0, maximum_operations_performed=70000)
