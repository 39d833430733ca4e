"""One behaviour suite, written once, run against the three adapters
(issue 15, Tests): the blocking ``dicomul_sync`` and the async
``dicomul_asyncio`` / ``dicomul_trio``, each as SCU and as SCP, through the
facade of ``_adapters.py``.  Echo and store run the full 3x3 matrix (SCU
adapter x SCP adapter); the other scenarios run each adapter as SCU against
one common SCP and each as SCP against one common SCU (the blocking one),
or each against a raw misbehaving peer.  An async adapter runs under its
own anyio backend (anyio's pytest plugin); an asyncio SCU against a trio
SCP runs the server in a portal of its own.

Where an adapter lacks a feature by design, the scenario asserts the
documented difference (:data:`_adapters.CAPABILITIES`)."""

from __future__ import annotations

import functools
import logging
import pathlib
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest
from _adapters import (
    ADAPTERS,
    CAPABILITIES,
    HOST,
    EndedError,
    NotEstablishedError,
    Scp,
    backend_for,
    connect,
    serving,
)
from corpus import assert_same_data_set, data_set_bytes, image, write
from dicomul_sync import AE
from peers import RawAcceptor, RawPeer, free_port
from peers import serving as sync_serving
from pydicom import dcmread
from pydicom.dataset import Dataset
from test_async_server import partial_store
from test_careless_input import success
from test_sync_services import COMMITMENT, MPPS, NormalizedSCP
from tls_certs import Pki, make_pki

from dicomul import Aborted, PDUType

pytestmark = pytest.mark.anyio

VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
PATIENT_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.1.2"
PATIENT_ROOT_GET = "1.2.840.10008.5.1.4.1.2.1.3"

#: Every SCU adapter against every SCP adapter.
MATRIX = [(scu, scp) for scu in ADAPTERS for scp in ADAPTERS]
#: Each adapter as SCU against the common SCP, and as SCP against the
#: common SCU (the blocking adapter both times; once together).
COMMON = [(scu, "sync") for scu in ADAPTERS] + [("sync", scp) for scp in ADAPTERS[1:]]
pair = pytest.mark.parametrize(("scu", "scp"), COMMON)
matrix = pytest.mark.parametrize(("scu", "scp"), MATRIX)
each_scu = pytest.mark.parametrize("scu", ADAPTERS)
each_scp = pytest.mark.parametrize("scp", ADAPTERS)


@pytest.fixture
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """The SCU's framework if it is async, else the SCP's (asyncio if
    neither is): read from the test's own parameters."""
    params = request.node.callspec.params
    return backend_for(params.get("scu", "sync"), params.get("scp", "sync"))


def sources(tmp_path: pathlib.Path, count: int, size: int = 32) -> list[pathlib.Path]:
    return [
        write(image(rows=size, columns=size, seed=n), tmp_path / f"src{n}.dcm", EXPLICIT)
        for n in range(count)
    ]


def uid_of(path: pathlib.Path) -> str:
    return str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def patient(patient_id: str = "P1") -> Dataset:
    identifier = Dataset()
    identifier.QueryRetrieveLevel, identifier.PatientID = "PATIENT", patient_id
    return identifier


async def served_soon(port: int, *, called: str = "BEHAVE", seconds: float = 5.0) -> float:
    """Seconds until a new association (the blocking SCU) is accepted and
    echoed: tried again while the SCP rejects it (its slot still held)."""
    started = time.monotonic()
    with anyio.fail_after(seconds):
        while True:
            try:
                async with connect("sync", port, called=called) as assoc:
                    assert await assoc.c_echo() == 0x0000
                    return time.monotonic() - started
            except NotEstablishedError as exc:
                if not exc.rejected:
                    raise
                await anyio.sleep(0.05)


async def wait_until(predicate: Any, seconds: float = 5.0) -> None:
    with anyio.fail_after(seconds):
        while not predicate():
            await anyio.sleep(0.01)


# --------------------------------------------------------------- echo, store


@matrix
async def test_echo(scu: str, scp: str) -> None:
    async with serving(scp, Scp()) as port, connect(scu, port) as assoc:
        assert await assoc.c_echo() == 0x0000
        assert await assoc.c_echo() == 0x0000
        assert assoc.is_established


@matrix
async def test_store_a_dataset_and_a_path(scu: str, scp: str, tmp_path: pathlib.Path) -> None:
    """A path goes as it is (its syntax accepted): the stored file is the
    same data set byte for byte after the meta; a Dataset is encoded."""
    store = tmp_path / "store"
    store.mkdir()
    ds = image(rows=24, columns=24, seed=7)
    (path,) = sources(tmp_path, 1, size=64)
    async with (
        serving(scp, Scp(sop_classes=[CT], store_directory=store)) as port,
        connect(scu, port, sop_classes=[CT], transfer_syntaxes=[EXPLICIT]) as assoc,
    ):
        assert await assoc.c_store(ds) == 0x0000
        assert await assoc.c_store(path) == 0x0000
    assert_same_data_set(store / f"{uid_of(path)}.dcm", path)
    assert dcmread(store / f"{ds.SOPInstanceUID}.dcm").PixelData == ds.PixelData
    assert sorted(p.name for p in store.iterdir()) == sorted(
        [f"{uid_of(path)}.dcm", f"{ds.SOPInstanceUID}.dcm"]
    )


@pair
async def test_store_a_file_in_a_syntax_not_accepted_is_re_encoded(
    scu: str, scp: str, tmp_path: pathlib.Path
) -> None:
    """A native file whose syntax (Explicit VR) was not accepted goes in the
    accepted one (Implicit VR): the same data set once decoded."""
    store = tmp_path / "store"
    store.mkdir()
    (path,) = sources(tmp_path, 1)
    implicit = "1.2.840.10008.1.2"
    async with (
        serving(scp, Scp(sop_classes=[CT], store_directory=store)) as port,
        connect(scu, port, sop_classes=[CT], transfer_syntaxes=[implicit]) as assoc,
    ):
        assert await assoc.c_store(path) == 0x0000
    stored = dcmread(store / f"{uid_of(path)}.dcm")
    assert stored.file_meta.TransferSyntaxUID == implicit
    assert stored == dcmread(path)


async def chunks_of(data: bytes, size: int = 5000) -> AsyncIterator[bytes]:
    for at in range(0, len(data), size):
        await anyio.sleep(0)
        yield data[at : at + size]


def test_only_the_blocking_scu_lacks_streams_and_cancellation() -> None:
    """The documented differences (README, Tests): the scenarios below run
    with every SCU that has the capability, so this is what they leave out."""
    assert [name for name, can in CAPABILITIES.items() if not can.stream] == ["sync"]
    assert [name for name, can in CAPABILITIES.items() if not can.cancels] == ["sync"]


@pytest.mark.parametrize(
    ("scu", "scp"), [(scu, scp) for scu, scp in MATRIX if CAPABILITIES[scu].stream]
)
async def test_store_a_stream(scu: str, scp: str, tmp_path: pathlib.Path) -> None:
    """An async source of the encoded data set (the blocking SCU has none)."""
    store = tmp_path / "store"
    store.mkdir()
    (path,) = sources(tmp_path, 1, size=64)
    async with (
        serving(scp, Scp(sop_classes=[CT], store_directory=store)) as port,
        connect(scu, port, sop_classes=[CT], transfer_syntaxes=[EXPLICIT]) as assoc,
    ):
        status = await assoc.c_store(
            chunks_of(data_set_bytes(path)),
            sop_class_uid=CT,
            sop_instance_uid=uid_of(path),
            transfer_syntax=EXPLICIT,
        )
        assert status == 0x0000
    assert_same_data_set(store / f"{uid_of(path)}.dcm", path)


class Collecting:
    """A store sink (the blocking vocabulary) keeping what it was given."""

    def __init__(self, request: Any, done: dict[str, bytes], discarded: list[str]) -> None:
        self.uid = str(request.sop_instance_uid)
        self.parts: list[bytes] = []
        self.done, self.discarded = done, discarded

    def write(self, data: bytes | memoryview) -> None:
        self.parts.append(bytes(data))

    def commit(self) -> int | None:
        self.done[self.uid] = b"".join(self.parts)
        return None

    def discard(self) -> None:
        self.discarded.append(self.uid)


@pair
async def test_an_scp_store_sink_gets_the_data_set_as_sent(
    scu: str, scp: str, tmp_path: pathlib.Path
) -> None:
    """A streaming sink is handed the data set's bytes undecoded, fragment by
    fragment (PDUs of at most 4 KiB here), and commits once; a peer gone
    mid-data-set has its sink discarded, nothing committed."""
    done: dict[str, bytes] = {}
    discarded: list[str] = []
    (path,) = sources(tmp_path, 1, size=64)
    scp_side = Scp(
        ae_title="ASYNCSCP",  # partial_store's called title
        sop_classes=[CT],
        max_pdu_length=4096,
        on_c_store_stream=lambda request: Collecting(request, done, discarded),
    )
    async with serving(scp, scp_side) as port:
        async with connect(
            scu, port, called="ASYNCSCP", sop_classes=[CT], transfer_syntaxes=[EXPLICIT]
        ) as assoc:
            assert await assoc.c_store(path) == 0x0000
        assert done == {uid_of(path): data_set_bytes(path)}
        await anyio.to_thread.run_sync(functools.partial(partial_store, port, 5))
        await wait_until(lambda: discarded)
    assert len(done) == 1


# ----------------------------------------------------------- query/retrieve


@pair
async def test_find_left_early_is_cancelled_and_the_association_goes_on(
    scu: str, scp: str
) -> None:
    produced: list[int] = []

    def on_c_find(identifier: Dataset) -> Iterator[Dataset]:
        for n in range(400 if identifier.PatientID == "*" else 2):
            time.sleep(0.005)
            produced.append(n)
            match = patient(f"P{n}")
            match.PatientName = f"DOE^{n}"
            yield match

    classes = [VERIFICATION, PATIENT_ROOT_FIND]
    scp_side = Scp(sop_classes=classes, handlers={"on_c_find": on_c_find})
    async with serving(scp, scp_side) as port, connect(scu, port, sop_classes=classes) as assoc:
        answers = await assoc.c_find(patient("*"), stop_after=3)
        assert [status for status, _ in answers] == [0xFF00] * 3
        assert [str(m.PatientName) for _, m in answers if m is not None] == [
            "DOE^0", "DOE^1", "DOE^2",
        ]  # fmt: skip
        assert await assoc.c_echo() == 0x0000  # the same association, after the drain
        assert assoc.is_established
        # a whole query afterwards ends with its final Success
        answers = await assoc.c_find(patient("P1"))
        assert [status for status, _ in answers] == [0xFF00, 0xFF00, 0x0000]
    assert len(produced) < 402  # the first query stopped on the C-CANCEL


@pair
async def test_a_find_handler_status_ends_the_query(scu: str, scp: str) -> None:
    """A non-pending (status, dataset) from the handler is the final
    response (PS3.4 C.4.1.1.4): here Failed, unable to process (0xC001)."""

    def on_c_find(identifier: Dataset) -> Iterator[Any]:
        yield patient("P1")
        yield 0xC001, None
        yield patient("NEVER")  # pragma: no cover - the query has ended

    classes = [PATIENT_ROOT_FIND]
    scp_side = Scp(sop_classes=classes, handlers={"on_c_find": on_c_find})
    async with serving(scp, scp_side) as port, connect(scu, port, sop_classes=classes) as assoc:
        answers = await assoc.c_find(patient("*"))
    assert [status for status, _ in answers] == [0xFF00, 0xC001]
    assert answers[0][1] is not None
    assert answers[0][1].PatientID == "P1"


@pair
async def test_get(scu: str, scp: str, tmp_path: pathlib.Path) -> None:
    files = sources(tmp_path, 3)
    got = tmp_path / "got"
    got.mkdir()

    def on_c_get(identifier: Dataset) -> list[pathlib.Path]:
        return files if identifier.PatientID == "P1" else []

    scp_side = Scp(
        sop_classes=[PATIENT_ROOT_GET], scu_sop_classes=[CT], handlers={"on_c_get": on_c_get}
    )
    async with (
        serving(scp, scp_side) as port,
        connect(
            scu,
            port,
            sop_classes=[PATIENT_ROOT_GET],
            scp_sop_classes=[CT],
            transfer_syntaxes=[EXPLICIT],
            get_directory=got,
        ) as assoc,
    ):
        answers = await assoc.c_get(patient("P1"))
    assert [status for status, _ in answers] == [0xFF00, 0xFF00, 0x0000]
    for source in files:
        assert_same_data_set(got / f"{uid_of(source)}.dcm", source)


@pair
async def test_move_to_a_storage_scp(scu: str, scp: str, tmp_path: pathlib.Path) -> None:
    files = sources(tmp_path, 2)
    moved = tmp_path / "moved"
    moved.mkdir()
    destination = AE(ae_title="DEST", scp_sop_class=[CT], transfer_syntax=[EXPLICIT])
    destination.store_directory = str(moved)
    with sync_serving(destination) as dest_port:
        scp_side = Scp(
            sop_classes=[PATIENT_ROOT_MOVE],
            handlers={"on_c_move": lambda identifier, aet: files},
            move_destinations={"DEST": (HOST, dest_port)},
        )
        async with (
            serving(scp, scp_side) as port,
            connect(scu, port, sop_classes=[PATIENT_ROOT_MOVE]) as assoc,
        ):
            answers = await assoc.c_move(patient("P1"), "DEST")
            unknown = await assoc.c_move(patient("P1"), "NOWHERE")
    assert [status for status, _ in answers] == [0xFF00, 0x0000]
    assert [status for status, _ in unknown] == [0xA801]  # PS3.4 C.4.2.1.5
    for source in files:
        assert_same_data_set(moved / f"{uid_of(source)}.dcm", source)


# ------------------------------------------------------------------ DIMSE-N


@pair
async def test_every_n_service(scu: str, scp: str) -> None:
    recorder = NormalizedSCP()
    handlers = {
        f"on_n_{name}": getattr(recorder, name)
        for name in ("event_report", "get", "set", "action", "create", "delete")
    }
    classes = [MPPS, COMMITMENT]
    attributes = Dataset()
    attributes.PerformedProcedureStepStatus = "IN PROGRESS"
    async with (
        serving(scp, Scp(sop_classes=classes, handlers=handlers)) as port,
        connect(scu, port, sop_classes=classes) as assoc,
    ):
        status, reply = await assoc.n("create", attributes, MPPS)
        assert status.Status == 0x0000
        assigned = status.AffectedSOPInstanceUID  # PS3.7 10.1.5.1.4
        assert reply is not None
        assert reply.PerformedProcedureStepStatus == "IN PROGRESS"
        status, reply = await assoc.n("set", attributes, MPPS, assigned)
        assert (status.Status, status.AffectedSOPInstanceUID) == (0, assigned)
        assert reply is not None
        assert reply.PerformedProcedureStepStatus == "COMPLETED"
        status, reply = await assoc.n("get", [0x00100010, 0x00100020], MPPS, assigned)
        assert reply is not None
        assert (reply.PatientName, reply.PatientID) == ("N^GET", "NG1")
        status, reply = await assoc.n("action", attributes, 1, COMMITMENT, "1.2.3.9")
        assert (status.Status, status.ActionTypeID) == (0, 1)
        assert reply is not None
        assert reply.TransactionUID == "1.2.3.5"
        status, _ = await assoc.n("event_report", None, 2, COMMITMENT, "1.2.3.9")
        assert (status.Status, status.EventTypeID) == (0, 2)
        status, reply = await assoc.n("delete", MPPS, assigned)
        assert (status.Status, reply) == (0, None)
    fields = [r.command.command_field for r in recorder.requests]
    assert fields == [0x0140, 0x0120, 0x0110, 0x0130, 0x0100, 0x0150]
    assert recorder.requests[0].sop_instance_uid == assigned


# -------------------------------------------------------- rejection, abort


@pair
async def test_wrong_called_ae_title_is_rejected(scu: str, scp: str) -> None:
    async with serving(scp, Scp(require_called_aet=True)) as port:
        with pytest.raises(NotEstablishedError) as refused:
            async with connect(scu, port, called="WRONG"):
                pass  # pragma: no cover - never established
        # PS3.8 Table 9-21: rejected-permanent, service-user, called AE title not recognized
        assert refused.value.rejection == (1, 1, 7)
        async with connect(scu, port) as assoc:  # the right title: served
            assert await assoc.c_echo() == 0x0000


def aborted_records(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("Association Aborted")
    ]


@pair
async def test_a_release_by_the_scu_is_seen_by_the_scp(
    scu: str, scp: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A-RELEASE (PS3.8 7.2): the SCP logs it and frees its only slot."""
    caplog.set_level(logging.INFO)
    async with serving(scp, Scp(maximum_associations=1)) as port:
        async with connect(scu, port) as assoc:
            assert await assoc.c_echo() == 0x0000
            await assoc.release()
            assert not assoc.is_established
        await wait_until(
            lambda: any(r.getMessage() == "Association Released" for r in caplog.records)
        )
        assert not aborted_records(caplog)
        assert await served_soon(port) < 1


@pair
async def test_an_abort_by_the_scu_is_seen_by_the_scp(
    scu: str, scp: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with serving(scp, Scp(maximum_associations=1)) as port:
        async with connect(scu, port) as assoc:
            assert await assoc.c_echo() == 0x0000
            await assoc.abort()
            assert not assoc.is_established
            with pytest.raises(EndedError):
                await assoc.c_echo()
        await wait_until(lambda: aborted_records(caplog))  # the SCP logged it
        async with connect(scu, port) as again:  # and freed its only slot
            assert await again.c_echo() == 0x0000


@each_scp
async def test_an_abort_mid_store_keeps_nothing_and_frees_the_slot(
    scp: str, tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A peer sends part of a data set, then an A-ABORT (PS3.8 7.3): the SCP
    sees the abort, keeps no partial file (PS3.4 B.2.3), frees its slot."""
    caplog.set_level(logging.INFO)
    store = tmp_path / "store"
    store.mkdir()
    scp_side = Scp(
        ae_title="ASYNCSCP",  # partial_store's called title
        sop_classes=[VERIFICATION, CT],
        store_directory=store,
        maximum_associations=1,
        max_pdu_length=4096,
    )
    async with serving(scp, scp_side) as port:
        peer = await anyio.to_thread.run_sync(
            functools.partial(partial_store, port, 5, then_close=False)
        )
        try:
            await wait_until(lambda: list(store.iterdir()))  # a store under way
            # An A-ABORT PDU by hand (PS3.8 9.3.8: type 07, source 0, the
            # service-user): the peer's engine is mid-message.
            peer.sock.sendall(bytes([PDUType.A_ABORT, 0, 0, 0, 0, 4, 0, 0, 0, 0]))
            await wait_until(lambda: aborted_records(caplog))
            await wait_until(lambda: not list(store.iterdir()))
        finally:
            peer.sock.close()
        assert await served_soon(port, called="ASYNCSCP") < 2


@pytest.mark.parametrize(
    ("scu", "scp"), [(scu, scp) for scu, scp in MATRIX if CAPABILITIES[scu].cancels]
)
async def test_a_task_cancelled_mid_store_aborts_and_the_scp_keeps_nothing(
    scu: str, scp: str, tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    store = tmp_path / "store"
    store.mkdir()

    async def slow(size: int = 4_000_000, chunk: int = 65536) -> AsyncIterator[bytes]:
        for _ in range(0, size, chunk):
            await anyio.sleep(0.01)
            yield bytes(chunk)

    scp_side = Scp(sop_classes=[VERIFICATION, CT], store_directory=store, maximum_associations=1)
    async with serving(scp, scp_side) as port:
        async with connect(scu, port, sop_classes=[CT], transfer_syntaxes=[EXPLICIT]) as assoc:
            with anyio.move_on_after(0.3) as scope:
                await assoc.c_store(
                    slow(), sop_class_uid=CT, sop_instance_uid="1.2.3", transfer_syntax=EXPLICIT
                )
            assert scope.cancelled_caught
            assert not assoc.is_established
        await wait_until(lambda: aborted_records(caplog))  # an A-ABORT, seen as such
        await wait_until(lambda: not list(store.iterdir()))
        assert await served_soon(port) < 2


@pair
async def test_a_handler_that_raises_gives_the_failure_status_and_the_association_goes_on(
    scu: str, scp: str
) -> None:
    def on_c_echo() -> int:
        raise RuntimeError("broken handler")

    def on_c_store(dataset: Dataset) -> int:
        raise OSError(28, "No space left on device")

    def on_c_find(identifier: Dataset) -> Iterator[Dataset]:
        yield patient("P1")
        raise RuntimeError("the database went away")

    classes = [VERIFICATION, CT, PATIENT_ROOT_FIND]
    handlers = {"on_c_echo": on_c_echo, "on_c_store": on_c_store, "on_c_find": on_c_find}
    async with (
        serving(scp, Scp(sop_classes=classes, handlers=handlers)) as port,
        connect(scu, port, sop_classes=classes) as assoc,
    ):
        assert await assoc.c_echo() == 0x0110  # processing failure (PS3.7 C.5)
        assert await assoc.c_store(image(rows=8, columns=8)) == 0xA700  # out of resources
        answers = await assoc.c_find(patient("*"))
        assert [status for status, _ in answers] == [0xFF00, 0xC000]  # unable to process
        assert await assoc.c_echo() == 0x0110  # still established, still served
        assert assoc.is_established


@pair
async def test_retrieve_and_n_handlers_that_raise_give_their_failure_status(
    scu: str, scp: str, tmp_path: pathlib.Path
) -> None:
    """PS3.4 C.4.2.1.5 / C.4.3.1.4: 0xC000 (unable to process) for a C-GET
    or C-MOVE whose handler raises; PS3.7 C.5: 0x0110 for an N service."""

    def broken(*_: object) -> Any:
        raise RuntimeError("no such study")

    classes = [VERIFICATION, PATIENT_ROOT_GET, PATIENT_ROOT_MOVE, MPPS]
    handlers = {"on_c_get": broken, "on_c_move": broken, "on_n_get": broken}
    scp_side = Scp(
        sop_classes=classes,
        scu_sop_classes=[CT],
        handlers=handlers,
        move_destinations={"DEST": (HOST, 104)},
    )
    got = tmp_path / "got"
    got.mkdir()
    async with (
        serving(scp, scp_side) as port,
        connect(scu, port, sop_classes=classes, scp_sop_classes=[CT], get_directory=got) as assoc,
    ):
        assert [s for s, _ in await assoc.c_get(patient())] == [0xC000]
        assert [s for s, _ in await assoc.c_move(patient(), "DEST")] == [0xC000]
        status, reply = await assoc.n("get", [0x00100010], MPPS, "1.2.3")
        assert (status.Status, reply) == (0x0110, None)
        assert await assoc.c_echo() == 0x0000
    assert not list(got.iterdir())


@pytest.mark.parametrize(("scu", "scp"), COMMON)
async def test_a_service_without_a_handler_is_an_unrecognized_operation(
    scu: str, scp: str, tmp_path: pathlib.Path
) -> None:
    """PS3.7 C.5: 0x0211 for a request no handler serves; C-ECHO answers
    Success (answering it is the whole service)."""
    classes = [VERIFICATION, CT, PATIENT_ROOT_FIND, PATIENT_ROOT_GET, MPPS]
    async with (
        serving(scp, Scp(sop_classes=classes, scu_sop_classes=[CT])) as port,
        connect(
            scu, port, sop_classes=classes, scp_sop_classes=[CT], get_directory=tmp_path
        ) as assoc,
    ):
        assert await assoc.c_echo() == 0x0000
        status, _ = await assoc.n("get", [0x00100010], MPPS, "1.2.3")
        assert status.Status == 0x0211
        assert await assoc.c_store(image(rows=8, columns=8)) == 0x0211
        assert [s for s, _ in await assoc.c_find(patient("*"))] == [0x0211]
        assert [s for s, _ in await assoc.c_get(patient("*"))] == [0x0211]


@pair
async def test_get_with_a_file_that_cannot_be_sent_fails_that_sub_operation_alone(
    scu: str, scp: str, tmp_path: pathlib.Path
) -> None:
    """PS3.4 C.4.3.1.3.1: Warning (0xB000) with the Failed SOP Instance UID
    List when some sub-operations failed; the others are stored."""
    files = sources(tmp_path, 2)
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(files[0].read_bytes()[:-100])  # cut short
    got = tmp_path / "got"
    got.mkdir()
    scp_side = Scp(
        sop_classes=[PATIENT_ROOT_GET],
        scu_sop_classes=[CT],
        handlers={"on_c_get": lambda identifier: [files[0], broken, files[1]]},
    )
    async with (
        serving(scp, scp_side) as port,
        connect(
            scu,
            port,
            sop_classes=[PATIENT_ROOT_GET],
            scp_sop_classes=[CT],
            transfer_syntaxes=[EXPLICIT],
            get_directory=got,
        ) as assoc,
    ):
        answers = await assoc.c_get(patient())
    assert [status for status, _ in answers] == [0xFF00, 0xFF00, 0xB000]
    failed = answers[-1][1]
    assert failed is not None
    assert failed.FailedSOPInstanceUIDList == uid_of(broken)
    for source in files:
        assert_same_data_set(got / f"{uid_of(source)}.dcm", source)


@pair
async def test_a_move_destination_that_cannot_be_reached_fails_each_sub_operation(
    scu: str, scp: str, tmp_path: pathlib.Path
) -> None:
    """PS3.4 C.4.2.1.5: every sub-operation failed gives 0xA702 and the
    Failed SOP Instance UID List."""
    files = sources(tmp_path, 2)
    with silent_listener() as closed:
        nowhere = closed.getsockname()[1]
    scp_side = Scp(
        sop_classes=[PATIENT_ROOT_MOVE],
        handlers={"on_c_move": lambda identifier, aet: files},
        move_destinations={"NOWHERE": (HOST, nowhere)},  # nothing listens there
    )
    async with (
        serving(scp, scp_side) as port,
        connect(scu, port, sop_classes=[PATIENT_ROOT_MOVE]) as assoc,
    ):
        answers = await assoc.c_move(patient(), "NOWHERE")
    assert answers[-1][0] == 0xA702
    failed = answers[-1][1]
    assert failed is not None
    assert sorted(failed.FailedSOPInstanceUIDList) == sorted(uid_of(f) for f in files)


# ------------------------------------------------------------------ timeouts


def silent_listener() -> socket.socket:
    """A listening socket that accepts (in the kernel's backlog) and never
    says a word."""
    return socket.create_server((HOST, 0))


@each_scu
async def test_scu_gives_up_on_a_peer_that_never_answers_the_request(scu: str) -> None:
    """ACSE timeout (PS3.8 9.1.1, ARTIM on the requestor): the A-ASSOCIATE-RQ
    is never answered."""
    with silent_listener() as listener:
        port = listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(NotEstablishedError):
            async with connect(scu, port, acse_timeout=0.5):
                pass  # pragma: no cover - never established
        assert 0.4 < time.monotonic() - started < 3


@each_scu
async def test_scu_gives_up_on_a_silent_peer_at_the_dimse_timeout(scu: str) -> None:
    with RawAcceptor(lambda command: None) as silent:
        async with connect(scu, silent.port, dimse_timeout=0.5) as assoc:
            started = time.monotonic()
            with pytest.raises(EndedError):
                await assoc.c_echo()
            assert 0.4 < time.monotonic() - started < 3
            assert not assoc.is_established
    assert "Aborted" in silent.seen  # PS3.8 7.3: an A-ABORT, not just a close


@each_scu
async def test_scu_gives_up_on_a_silent_peer_at_the_network_timeout(scu: str) -> None:
    """No DIMSE timeout, a network timeout: a peer that goes quiet after
    accepting a request costs that long, then an A-ABORT."""
    with RawAcceptor(lambda command: None) as silent:
        async with connect(scu, silent.port, dimse_timeout=None, network_timeout=0.5) as assoc:
            started = time.monotonic()
            with pytest.raises(EndedError):
                await assoc.c_echo()
            assert 0.4 < time.monotonic() - started < 3
            assert not assoc.is_established
    assert "Aborted" in silent.seen


@each_scu
async def test_an_scu_idle_by_its_own_choice_is_not_aborted(scu: str) -> None:
    """The network timeout bounds a wait for the peer: an SCU that sends
    nothing for longer than it keeps its association (all three agree)."""
    with RawAcceptor(success) as peer:
        async with connect(scu, peer.port, network_timeout=0.3) as assoc:
            await anyio.sleep(0.6)
            assert assoc.is_established
            assert await assoc.c_echo() == 0x0000
    assert "Aborted" not in peer.seen


@each_scp
async def test_scp_closes_a_peer_that_never_sends_a_pdu(scp: str) -> None:
    """ARTIM (PS3.8 9.1.1, Sta2): closed after the ACSE timeout; served after."""
    async with serving(scp, Scp(acse_timeout=0.5, maximum_associations=1)) as port:

        def silent() -> float:
            with socket.create_connection((HOST, port), timeout=5) as sock:
                started = time.monotonic()
                assert sock.recv(100) == b""
                return time.monotonic() - started

        waited = await anyio.to_thread.run_sync(silent)
        assert 0.4 < waited < 3, waited
        async with connect("sync", port) as assoc:
            assert await assoc.c_echo() == 0x0000


def abort_then_close(peer: RawPeer, seconds: float = 5.0) -> tuple[bytes, float, float]:
    """What a raw peer receives until the other side closes: (first bytes,
    seconds until they came, seconds until the close)."""
    started = time.monotonic()
    peer.sock.settimeout(seconds)
    first, first_at = b"", 0.0
    while data := peer.sock.recv(65536):
        if not first:
            first, first_at = data, time.monotonic() - started
    return first, first_at, time.monotonic() - started


@each_scp
async def test_scp_aborts_a_peer_stalling_mid_message_at_the_dimse_timeout(
    scp: str, tmp_path: pathlib.Path
) -> None:
    """An A-ABORT at the DIMSE timeout (PS3.8 9.3.8: PDU type 07), then the
    close: at once (async) or when ARTIM expires in Sta13 (sync, PS3.8
    9.2: AA-1 starts ARTIM): within the ACSE timeout either way."""
    store = tmp_path / "store"
    store.mkdir()
    scp_side = Scp(
        ae_title="ASYNCSCP",  # partial_store's called title
        sop_classes=[CT],
        store_directory=store,
        dimse_timeout=0.5,
        acse_timeout=0.5,
        max_pdu_length=4096,
    )
    async with serving(scp, scp_side) as port:
        peer = await anyio.to_thread.run_sync(
            functools.partial(partial_store, port, 5, then_close=False)
        )
        try:
            first, first_at, closed_at = await anyio.to_thread.run_sync(abort_then_close, peer)
        finally:
            peer.sock.close()
        assert first[:1] == bytes([PDUType.A_ABORT])
        assert 0.4 < first_at < 2, first_at
        assert closed_at - first_at < 1.5
        await wait_until(lambda: not list(store.iterdir()))  # nothing partial kept


@each_scp
async def test_scp_aborts_an_idle_association_at_the_network_timeout(scp: str) -> None:
    async with serving(scp, Scp(network_timeout=0.5)) as port:

        def idle() -> tuple[object, float]:
            peer = RawPeer(port)
            try:
                peer.associate()
                started = time.monotonic()
                return peer.next_event(), time.monotonic() - started
            finally:
                peer.sock.close()

        event, waited = await anyio.to_thread.run_sync(idle)
    assert isinstance(event, Aborted)
    assert 0.4 < waited < 3, waited


# ---------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pair
async def test_tls(scu: str, scp: str, pki: Pki, tmp_path: pathlib.Path) -> None:
    """PS3.15 B.1 (the TLS Secure Transport Connection Profile), mutual
    authentication; the file stored byte for byte over it."""
    store = tmp_path / "store"
    store.mkdir()
    (path,) = sources(tmp_path, 1)
    scp_side = Scp(
        sop_classes=[VERIFICATION, CT],
        store_directory=store,
        ssl_context=pki.server_context(require_client=True),
    )
    async with (
        serving(scp, scp_side) as port,
        connect(
            scu,
            port,
            sop_classes=[VERIFICATION, CT],
            transfer_syntaxes=[EXPLICIT],
            ssl_context=pki.client_context(),
        ) as assoc,
    ):
        assert await assoc.c_echo() == 0x0000
        assert await assoc.c_store(path) == 0x0000
    assert_same_data_set(store / f"{uid_of(path)}.dcm", path)


@pytest.mark.parametrize(("scu", "scp"), COMMON)
async def test_tls_without_a_client_certificate_is_not_established(
    scu: str, scp: str, pki: Pki
) -> None:
    """The server requires a client certificate; the handshake fails (TLS
    1.2 here, so that it fails within the handshake itself, not on the
    first read after it); the SCP goes on serving."""
    server = pki.server_context(require_client=True)
    server.maximum_version = ssl.TLSVersion.TLSv1_2
    async with serving(scp, Scp(ssl_context=server)) as port:
        with pytest.raises(NotEstablishedError):
            async with connect(scu, port, ssl_context=pki.client_context(with_certificate=False)):
                pass  # pragma: no cover - never established
        async with connect(scu, port, ssl_context=pki.client_context()) as assoc:
            assert await assoc.c_echo() == 0x0000


@pytest.mark.parametrize(("scu", "scp"), [(scu, "sync") for scu in ADAPTERS])
async def test_a_peer_that_cannot_be_reached_is_not_established(scu: str, scp: str) -> None:
    with pytest.raises(NotEstablishedError):
        async with connect(scu, free_port()):
            pass  # pragma: no cover - never established


# ---------------------------------------------------------- vanishing peers


@each_scp
async def test_scp_frees_a_peer_that_vanishes_mid_pdu_and_keeps_serving(
    scp: str, tmp_path: pathlib.Path
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    scp_side = Scp(
        ae_title="ASYNCSCP",  # partial_store's called title
        sop_classes=[VERIFICATION, CT],
        store_directory=store,
        maximum_associations=1,
        max_pdu_length=4096,
    )
    async with serving(scp, scp_side) as port:
        peer = await anyio.to_thread.run_sync(
            functools.partial(partial_store, port, 5, then_close=False)
        )
        # a PDU header promising more than comes, then gone
        peer.sock.sendall(b"\x04\x00\x00\x00\x10\x00" + b"\0" * 100)
        peer.sock.close()
        assert await served_soon(port, called="ASYNCSCP") < 2  # its only slot freed
        assert not list(store.iterdir())  # nothing partial kept


class VanishingAcceptor:
    """Accepts one association, then answers the first request with the
    header of a P-DATA-TF PDU and a few of the bytes it promises, and hangs
    up (no A-ABORT): a peer gone mid-PDU."""

    def __init__(self) -> None:
        self.listener = socket.create_server((HOST, 0))
        self.port = int(self.listener.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> VanishingAcceptor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.close()
        self._thread.join(5)

    def _serve(self) -> None:
        from dicomul import (
            NEED_DATA,
            AcceptAssociation,
            AcceptorConfig,
            AssociationRequested,
            CommandReceived,
            Connection,
            Role,
            SupportedContext,
        )

        sock, _ = self.listener.accept()
        conn = Connection(Role.ACCEPTOR)
        conn.transport_connected()
        with sock:
            while data := sock.recv(65536):
                conn.receive_data(data)
                while (event := conn.next_event()) is not NEED_DATA:
                    if isinstance(event, AssociationRequested):
                        supported = {
                            pc.abstract_syntax_uid: SupportedContext(
                                transfer_syntaxes=pc.transfer_syntax_uids
                            )
                            for pc in event.request.presentation_contexts
                        }
                        config = AcceptorConfig(ae_title="VANISH", supported=supported)
                        conn.send(AcceptAssociation(config=config))
                        sock.sendall(conn.data_to_send())
                    elif isinstance(event, CommandReceived):
                        sock.sendall(b"\x04\x00\x00\x00\x10\x00" + b"\0" * 100)
                        return


@each_scu
async def test_scu_whose_peer_vanishes_mid_pdu_ends_the_association(scu: str) -> None:
    """The operation ends with the adapter's "association ended" outcome
    (not a stream error, not a hang); the association is no longer established."""
    with VanishingAcceptor() as peer:
        async with connect(scu, peer.port, dimse_timeout=5) as assoc:
            started = time.monotonic()
            with pytest.raises(EndedError):
                await assoc.c_echo()
            assert time.monotonic() - started < 2
            assert not assoc.is_established


@each_scp
async def test_over_the_association_limit_a_newcomer_is_rejected(scp: str) -> None:
    """Without idle displacement, every SCP rejects the association over its
    limit: rejected-transient, service-provider (presentation), local limit
    exceeded (PS3.8 Table 9-21); the one it serves goes on."""
    async with (
        serving(scp, Scp(maximum_associations=1)) as port,
        connect("sync", port) as first,
    ):
        with pytest.raises(NotEstablishedError) as refused:
            async with connect("sync", port):
                pass  # pragma: no cover - never established
        assert refused.value.rejection == (2, 3, 2)
        assert await first.c_echo() == 0x0000


@each_scp
async def test_at_the_limit_an_idle_association_is_displaced(
    scp: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every SCP gives the slot of an association idle at least
    ``displace_idle_after`` to a new peer: the idle one gets an A-P-ABORT
    (PS3.8 7.4), the newcomer is served; one idle for less is kept and the
    newcomer rejected (local limit exceeded, PS3.8 Table 9-21).  The warning
    names the displaced peer."""
    caplog.set_level(logging.WARNING, logger="dicomul")
    assert CAPABILITIES[scp].displaces_idle
    async with serving(scp, Scp(maximum_associations=1, displace_idle_after=0.5)) as port:
        idle = await anyio.to_thread.run_sync(RawPeer, port)
        try:
            await anyio.to_thread.run_sync(idle.associate)
            # idle for less than displace_idle_after: kept, the newcomer refused
            with pytest.raises(NotEstablishedError) as refused:
                async with connect("sync", port):
                    pass  # pragma: no cover - never established
            assert refused.value.rejection == (2, 3, 2)
            await anyio.sleep(0.7)
            async with connect("sync", port) as newcomer:
                assert await newcomer.c_echo() == 0x0000
            event = await anyio.to_thread.run_sync(idle.next_event)
            assert isinstance(event, Aborted)
            # A-P-ABORT: source service-provider (2), reason not specified (PS3.8 Table 9-26)
            assert event.source == 2
            host, peer_port = idle.sock.getsockname()[:2]
            await wait_until(lambda: "displaced at the association limit" in caplog.text)
            assert f"({host}:{peer_port})" in caplog.text
        finally:
            idle.sock.close()
