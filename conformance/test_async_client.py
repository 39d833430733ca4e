"""The async SCU (``dicomul_asyncio.connect`` / ``dicomul_trio.connect``, one
implementation on anyio) against DCMTK's storescp and dicomul's blocking SCP,
on each backend (anyio's pytest plugin runs every test on asyncio and trio)."""

from __future__ import annotations

import contextlib
import pathlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import anyio
import anyio.abc
import dicomul_asyncio
import dicomul_trio
import pytest
from corpus import assert_same_data_set, data_set_bytes, image, write
from dicomul_sync import AE
from peers import RawAcceptor, serving, storescp
from pydicom import dcmread
from pydicom.dataset import Dataset
from test_careless_input import success
from test_sync_dcmqrscp import (
    ARCHIVE,
    DESTINATION,
    STUDIES,
    STUDY_ROOT_FIND,
    STUDY_ROOT_GET,
    STUDY_ROOT_MOVE,
    make_images,
    running_dcmqrscp,
    study_uid,
)
from test_sync_services import (
    COMMITMENT,
    MPPS,
    PATIENT_ROOT_GET,
    NormalizedSCP,
    assert_same_files,
    query,
    retrieve_scp,
)
from tls_certs import Pki, make_pki

from dicomul import IMPLEMENTATION_CLASS_UID

CT = "1.2.840.10008.5.1.4.1.1.2"
PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
VERIFICATION = "1.2.840.10008.1.1"
EXPLICIT = "1.2.840.10008.1.2.1"
HOST = "127.0.0.1"

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def package(backend: str):  # type: ignore[no-untyped-def]
    return dicomul_asyncio if backend == "asyncio" else dicomul_trio


async def test_echo_and_store_to_dcmtk_storescp(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    ds = image(rows=16, columns=16)
    with storescp("-od", str(out)) as port:
        async with package(anyio_backend).connect(
            "127.0.0.1", port, called_ae_title="STORESCP"
        ) as assoc:
            assert (await assoc.c_echo()).Status == 0x0000
            assert (await assoc.c_store(ds)).Status == 0x0000
            assert assoc.is_established
    (stored,) = out.iterdir()
    assert stored.name.endswith(str(ds.SOPInstanceUID))


async def test_store_a_file_and_find_on_our_scp(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    source = write(image(rows=16, columns=16), tmp_path / "in.dcm", "1.2.840.10008.1.2.1")
    scp = AE(ae_title="SCP", port=0, scp_sop_class=["1.2.840.10008.1.1", CT, PATIENT_ROOT_FIND])
    scp.store_directory = str(tmp_path / "out")
    (tmp_path / "out").mkdir()

    def on_c_find(identifier: Dataset):  # type: ignore[no-untyped-def]
        for name in ("DOE^JOHN", "DOE^JANE"):
            match = Dataset()
            match.PatientName, match.QueryRetrieveLevel = name, "PATIENT"
            yield match

    scp.on_c_find = on_c_find  # type: ignore[method-assign]
    released = threading.Event()
    scp.on_association_released = lambda *_: released.set()  # type: ignore[method-assign]
    query = Dataset()
    query.QueryRetrieveLevel, query.PatientName = "PATIENT", "DOE*"
    with serving(scp) as port:
        async with package(anyio_backend).connect(
            "127.0.0.1", port, sop_classes=[CT, PATIENT_ROOT_FIND]
        ) as assoc:
            assert (await assoc.c_store(source)).Status == 0x0000
            answers = [(int(status), match) async for status, match in assoc.c_find(query)]
        assert released.wait(5)  # leaving the block released it
    assert [status for status, _ in answers] == [0xFF00, 0xFF00, 0x0000]
    assert [str(match.PatientName) for _, match in answers[:2]] == ["DOE^JOHN", "DOE^JANE"]
    (stored,) = (tmp_path / "out").iterdir()
    assert dcmread(stored) == dcmread(source)  # (re-encoded in the accepted syntax)


async def test_a_rejection_raises(anyio_backend: str) -> None:
    scp = AE(ae_title="SCP", port=0, scp_sop_class=["1.2.840.10008.1.1"])
    scp.require_called_aet = True  # our own title only
    with (
        serving(scp) as port,
        pytest.raises(dicomul_asyncio.AssociationRejectedError, match="rejected"),
    ):
        async with package(anyio_backend).connect("127.0.0.1", port, called_ae_title="OTHER"):
            pass  # pragma: no cover - never established


async def test_an_exception_in_the_block_aborts_the_association(anyio_backend: str) -> None:
    scp = AE(ae_title="SCP", port=0, scp_sop_class=["1.2.840.10008.1.1"])
    aborted = threading.Event()
    scp.on_association_aborted = lambda *_: aborted.set()  # type: ignore[method-assign]

    async def fail_inside(port: int) -> None:
        async with package(anyio_backend).connect("127.0.0.1", port) as assoc:
            echo = await assoc.c_echo()
            assert echo.Status == 0x0000
            assert echo == 0x0000  # compares as its status, too
            assert echo != 0x0110
            assert int(echo) == 0x0000
            raise KeyError("the caller's own failure")

    with serving(scp) as port:
        with pytest.raises(KeyError):
            await fail_inside(port)
        assert aborted.wait(5)


async def test_abort_sends_an_a_abort_pdu_before_closing(anyio_backend: str) -> None:
    # The peer must see the A-ABORT itself (PS3.8 7.3), not only a closed
    # connection: the Driver once dropped the PDU that Connection.send returned.
    with RawAcceptor(lambda command: None) as peer:
        async with package(anyio_backend).connect(
            "127.0.0.1", peer.port, sop_classes=["1.2.840.10008.1.1"]
        ) as assoc:
            await assoc.abort()
            assert not assoc.is_established
    assert peer.seen[:2] == ["AssociationRequested", "Aborted"]


async def test_a_peer_that_never_answers_is_given_up_at_the_dimse_timeout(
    anyio_backend: str,
) -> None:
    with RawAcceptor(lambda command: None) as silent:
        async with package(anyio_backend).connect(
            "127.0.0.1", silent.port, sop_classes=["1.2.840.10008.1.1"], dimse_timeout=0.5
        ) as assoc:
            with pytest.raises(dicomul_asyncio.AssociationAbortedError, match="DIMSE timeout"):
                await assoc.c_echo()


# ------------------------------------------------------------------ C-STORE


async def chunks_of(data: bytes, size: int = 7777) -> AsyncIterator[bytes]:
    """``data`` as an async source, in uneven chunks, yielding to the loop."""
    for at in range(0, len(data), size):
        await anyio.sleep(0)
        yield data[at : at + size]


async def test_a_dataset_a_file_and_a_stream_reach_storescp_byte_for_byte(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    ds = image(rows=64, columns=64, seed=1)
    as_file = write(image(rows=256, columns=256, seed=2), tmp_path / "a.dcm", EXPLICIT)
    streamed = write(image(rows=128, columns=128, seed=3), tmp_path / "b.dcm", EXPLICIT)
    meta = dcmread(streamed, stop_before_pixels=True)
    with storescp("-od", str(out)) as port:
        async with package(anyio_backend).connect(
            "127.0.0.1", port, called_ae_title="STORESCP", transfer_syntaxes=[EXPLICIT]
        ) as assoc:
            assert (await assoc.c_store(ds)).Status == 0x0000
            assert (await assoc.c_store(as_file)).Status == 0x0000
            status = await assoc.c_store(
                chunks_of(data_set_bytes(streamed)),
                sop_class_uid=CT,
                sop_instance_uid=str(meta.SOPInstanceUID),
                transfer_syntax=EXPLICIT,
            )
            assert status.Status == 0x0000
    stored = {path.name.split(".", 1)[1]: path for path in out.iterdir()}
    assert_same_data_set(stored[str(meta.SOPInstanceUID)], streamed)
    assert_same_data_set(stored[str(dcmread(as_file).SOPInstanceUID)], as_file)
    assert dcmread(stored[str(ds.SOPInstanceUID)]).PixelData == ds.PixelData


async def test_a_stream_in_an_unaccepted_syntax_is_refused_before_sending(
    anyio_backend: str,
) -> None:
    scp = AE(ae_title="SCP", port=0, scp_sop_class=[CT])
    scp.on_c_store = lambda dataset, *_: 0x0000  # type: ignore[method-assign]
    with serving(scp) as port:
        async with package(anyio_backend).connect(
            "127.0.0.1", port, sop_classes=[CT], transfer_syntaxes=[EXPLICIT]
        ) as assoc:
            with pytest.raises(dicomul_asyncio.NoAcceptedContextError):
                await assoc.c_store(
                    chunks_of(b"\0" * 8),
                    sop_class_uid=CT,
                    sop_instance_uid="1.2.3",
                    transfer_syntax="1.2.840.10008.1.2",
                )
            with pytest.raises(TypeError, match="sop_class_uid"):
                await assoc.c_store(chunks_of(b""))
            assert (await assoc.c_store(image(rows=8, columns=8))).Status == 0x0000


async def test_a_stream_to_our_sync_scp_is_stored_as_sent(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    source = write(image(rows=300, columns=300), tmp_path / "in.dcm", EXPLICIT)
    (tmp_path / "out").mkdir()
    scp = AE(ae_title="SCP", port=0, scp_sop_class=[CT], transfer_syntax=[EXPLICIT])
    scp.store_directory = str(tmp_path / "out")
    uid = str(dcmread(source, stop_before_pixels=True).SOPInstanceUID)
    with serving(scp) as port:
        async with package(anyio_backend).connect(
            "127.0.0.1", port, sop_classes=[CT], max_pdu_length=4096
        ) as assoc:
            status = await assoc.c_store(
                chunks_of(data_set_bytes(source), size=100_003),
                sop_class_uid=CT,
                sop_instance_uid=uid,
                transfer_syntax=EXPLICIT,
            )
            assert status.Status == 0x0000
    assert_same_data_set(tmp_path / "out" / f"{uid}.dcm", source)


async def test_four_tasks_store_at_once_within_the_accepted_window(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    # dicomul_sync's AE offers a window of 4 (PS3.7 D.3.3.3): it performs
    # requests in turn, and pipelined ones wait in its receive buffer.
    received: list[str] = []

    def on_c_store(dataset: Dataset, *_: object) -> int:
        time.sleep(0.1)  # a slow archive: requests pile up meanwhile
        received.append(str(dataset.SOPInstanceUID))
        return 0x0000

    scp = AE(ae_title="SCP", port=0, scp_sop_class=[CT])
    scp.maximum_operations_performed = 4
    scp.on_c_store = on_c_store  # type: ignore[method-assign]
    images = [image(rows=64, columns=64, seed=seed) for seed in range(8)]
    statuses: list[int] = []
    peak = 0
    with serving(scp) as port:
        async with package(anyio_backend).connect(
            "127.0.0.1", port, sop_classes=[CT], max_operations=4
        ) as assoc:
            assert assoc.negotiated.requestor_max_invoked == 4

            async def store(batch: list[Dataset]) -> None:
                nonlocal peak
                for ds in batch:
                    statuses.append(int((await assoc.c_store(ds)).Status))
                    peak = max(peak, len(assoc.outstanding_requests) + 1)

            async def watch() -> None:
                nonlocal peak
                while len(statuses) < len(images):
                    peak = max(peak, len(assoc.outstanding_requests))
                    await anyio.sleep(0.01)

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(watch)
                for n in range(4):
                    tasks.start_soon(store, images[n::4])
            assert assoc.is_established
    assert statuses == [0x0000] * 8
    assert sorted(received) == sorted(str(ds.SOPInstanceUID) for ds in images)
    assert 2 <= peak <= 4  # pipelined, and never past the window


async def test_a_task_cancelled_mid_store_aborts_the_association(anyio_backend: str) -> None:
    big = bytes(6_000_000)  # to a 1 MB/s reader: cancelled well before its end
    with RawAcceptor(success, read_rate=1_000_000) as peer:
        async with package(anyio_backend).connect(
            "127.0.0.1", peer.port, sop_classes=[CT], transfer_syntaxes=[EXPLICIT]
        ) as assoc:
            with anyio.move_on_after(0.5) as scope:
                await assoc.c_store(
                    chunks_of(big, size=65536),
                    sop_class_uid=CT,
                    sop_instance_uid="1.2.3",
                    transfer_syntax=EXPLICIT,
                )
            assert scope.cancelled_caught
            assert not assoc.is_established
            with pytest.raises(dicomul_asyncio.AssociationAbortedError):
                await assoc.c_echo()
    assert peer.seen[0] == "AssociationRequested"
    assert "Aborted" in peer.seen  # an A-ABORT after whole PDUs, not a torn one


async def test_a_store_slower_than_the_dimse_timeout_is_not_aborted(anyio_backend: str) -> None:
    # Issue 15: 12 MB to a peer reading 3 MB a second (4 seconds), a
    # 2-second DIMSE timeout: the wait for the response begins once the data
    # set is written.  (Written means handed to the kernel, whose send buffer
    # grows to 4 MB here: the peer reads that tail, over a second, after the
    # last write; the timeout is chosen above it.)
    with RawAcceptor(success, read_rate=3_000_000) as peer:
        async with package(anyio_backend).connect(
            "127.0.0.1", peer.port, sop_classes=[CT], dimse_timeout=2
        ) as assoc:
            started = anyio.current_time()
            status = await assoc.c_store(image(rows=1024, columns=1024, frames=6))
            assert status.Status == 0x0000
            assert anyio.current_time() - started > 3
            assert assoc.is_established


# --------------------------------------------------------- queries, C-GET


async def test_leaving_a_find_early_cancels_it_and_the_association_goes_on(
    anyio_backend: str,
) -> None:
    cancelled = threading.Event()

    def on_c_find(identifier: Dataset):  # type: ignore[no-untyped-def]
        for n in range(1000):
            match = Dataset()
            match.PatientName, match.QueryRetrieveLevel = f"DOE^{n}", "PATIENT"
            time.sleep(0.01)
            yield match
        cancelled.set()  # pragma: no cover - the query is cancelled first

    scp = AE(ae_title="SCP", port=0, scp_sop_class=[VERIFICATION, PATIENT_ROOT_FIND])
    scp.on_c_find = on_c_find  # type: ignore[method-assign]
    query = Dataset()
    query.QueryRetrieveLevel, query.PatientName = "PATIENT", "DOE*"
    with serving(scp) as port:
        async with package(anyio_backend).connect(
            "127.0.0.1", port, sop_classes=[VERIFICATION, PATIENT_ROOT_FIND], dimse_timeout=5
        ) as assoc:
            seen = 0
            async with contextlib.aclosing(assoc.c_find(query)) as answers:
                async for _status, _ in answers:
                    seen += 1
                    if seen == 3:
                        break
            assert not assoc.outstanding_requests  # cancelled and drained
            assert assoc.last_response is not None
            assert assoc.last_response.Status == 0xFE00  # Cancel (PS3.4 C.4.1.1.4)
            # a plain break, left to the event loop to close
            async for _status, _ in assoc.c_find(query):
                break
            assert (await assoc.c_echo()).Status == 0x0000
            assert assoc.is_established
    assert not cancelled.is_set()


async def test_c_get_from_our_sync_scp_into_a_directory_and_a_handler(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    files = [
        write(image(rows=32, columns=32, seed=n), tmp_path / f"{n}.dcm", EXPLICIT)
        for n in range(3)
    ]
    scp, _ = retrieve_scp(files)
    out = tmp_path / "out"
    out.mkdir()
    handled: list[Dataset] = []

    async def on_c_store(dataset: Dataset) -> int:
        await anyio.sleep(0)
        handled.append(dataset)
        return 0x0000

    with serving(scp) as port:
        async with package(anyio_backend).connect(
            "127.0.0.1",
            port,
            called_ae_title="QRSCP",
            sop_classes=[PATIENT_ROOT_GET],
            scp_sop_classes=[CT],
            transfer_syntaxes=[EXPLICIT],
        ) as assoc:
            answers = [s async for s, _ in assoc.c_get(query("ALL"), store_directory=out)]
            assert answers == [0xFF00, 0xFF00, 0x0000]  # Pending after each but the last
            assert assoc.last_response is not None
            assert assoc.last_response.NumberOfCompletedSuboperations == 3
            answers = [s async for s, _ in assoc.c_get(query("ALL"), on_c_store=on_c_store)]
            assert answers[-1] == 0x0000
    assert_same_files(out, files)
    assert sorted(str(ds.SOPInstanceUID) for ds in handled) == sorted(
        str(dcmread(f).SOPInstanceUID) for f in files
    )
    # Each carries its File Meta Information (PS3.10 7.1), as the blocking
    # adapter's do, so that it is saved as a Part 10 file as it is.
    for dataset in handled:
        meta = dataset.file_meta
        assert meta.TransferSyntaxUID == EXPLICIT
        assert meta.MediaStorageSOPClassUID == CT
        assert meta.MediaStorageSOPInstanceUID == dataset.SOPInstanceUID
        assert meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
        saved = tmp_path / f"saved-{dataset.SOPInstanceUID}.dcm"
        dataset.save_as(saved, enforce_file_format=True)
        reread = dcmread(saved)
        assert reread == dataset
        assert reread.file_meta.TransferSyntaxUID == EXPLICIT
        assert reread.file_meta.MediaStorageSOPInstanceUID == dataset.SOPInstanceUID


# ---------------------------------------------- dcmqrscp, C-MOVE to storescp


@pytest.fixture(scope="module")
def dcmtk_archive(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[int, dict[pathlib.Path, Dataset], pathlib.Path]]:
    """dcmqrscp filled with ten CT images, its move destination DCMTK's
    storescp: (archive port, images, the storescp's output directory)."""
    tmp = tmp_path_factory.mktemp("async-dcmqrscp")
    images = make_images(tmp)
    moved = tmp / "moved"
    moved.mkdir()
    with contextlib.ExitStack() as stack:
        destination_port = stack.enter_context(storescp("-od", str(moved)))
        port = stack.enter_context(running_dcmqrscp(tmp, destination_port, images))
        yield port, images, moved


def study_query(study: str) -> Dataset:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = study_uid(study)
    return identifier


async def test_c_get_from_dcmqrscp(
    anyio_backend: str,
    tmp_path: pathlib.Path,
    dcmtk_archive: tuple[int, dict[pathlib.Path, Dataset], pathlib.Path],
) -> None:
    port, images, _ = dcmtk_archive
    wanted = {ds.SOPInstanceUID: path for path, ds in images.items() if ds.StudyID == "S11"}
    async with package(anyio_backend).connect(
        "127.0.0.1",
        port,
        called_ae_title=ARCHIVE,
        sop_classes=[STUDY_ROOT_GET],
        scp_sop_classes=[CT],
        transfer_syntaxes=[EXPLICIT],
        dimse_timeout=10,
    ) as assoc:
        answers = [
            s async for s, _ in assoc.c_get(study_query("S11"), "S", store_directory=tmp_path)
        ]
    assert answers[-1] == 0x0000
    assert len(answers) == len(wanted) + 1
    assert {path.name for path in tmp_path.iterdir()} == {f"{sop}.dcm" for sop in wanted}
    for sop, source in wanted.items():
        assert_same_data_set(tmp_path / f"{sop}.dcm", source)


async def test_c_find_against_dcmqrscp_then_leaving_early_cancels(
    anyio_backend: str, dcmtk_archive: tuple[int, dict[pathlib.Path, Dataset], pathlib.Path]
) -> None:
    """Study Root C-FIND at STUDY level: a Pending per study with the keys
    asked, then Success; a second query left after its first match is
    cancelled and read to its end (dcmqrscp's Success with every match, or
    Cancel, PS3.7 9.3.2.3), and the association still serves a third."""
    port, _, _ = dcmtk_archive
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = "PID001"
    query.StudyID = ""
    query.StudyDescription = ""
    async with package(anyio_backend).connect(
        "127.0.0.1", port, called_ae_title=ARCHIVE, sop_classes=[STUDY_ROOT_FIND]
    ) as assoc:
        answers = [(s, i) async for s, i in assoc.c_find(query, "S")]
        async with contextlib.aclosing(assoc.c_find(query, "S")) as matches:
            async for status, _ in matches:
                assert status == 0xFF00
                break
        again = [s async for s, _ in assoc.c_find(query, "S")]
    assert [s for s, _ in answers] == [0xFF00, 0xFF00, 0x0000]
    found = {(i.StudyID, i.StudyDescription) for _, i in answers[:-1]}
    assert found == {(sid, v[2]) for sid, v in STUDIES.items() if v[0] == "PID001"}
    assert again == [0xFF00, 0xFF00, 0x0000]


async def test_c_move_from_dcmqrscp_to_storescp(
    anyio_backend: str, dcmtk_archive: tuple[int, dict[pathlib.Path, Dataset], pathlib.Path]
) -> None:
    port, images, moved = dcmtk_archive
    wanted = {ds.SOPInstanceUID: path for path, ds in images.items() if ds.StudyID == "S12"}
    async with package(anyio_backend).connect(
        "127.0.0.1", port, called_ae_title=ARCHIVE, sop_classes=[STUDY_ROOT_MOVE]
    ) as assoc:
        answers = [s async for s, _ in assoc.c_move(study_query("S12"), DESTINATION, "S")]
        assert assoc.last_response is not None
        assert assoc.last_response.NumberOfCompletedSuboperations == len(wanted)
    assert answers[-1] == 0x0000
    stored = {path.name.split(".", 1)[1]: path for path in moved.iterdir()}
    for sop, source in wanted.items():
        assert_same_data_set(stored[sop], source)


# ------------------------------------------------------------------ DIMSE-N


async def test_every_n_service_against_our_sync_scp(anyio_backend: str) -> None:
    recorder = NormalizedSCP()
    scp = AE(ae_title="NSCP", port=0, scp_sop_class=[MPPS, COMMITMENT])
    recorder.install(scp)
    attributes = Dataset()
    attributes.PerformedProcedureStepStatus = "IN PROGRESS"
    with serving(scp) as port:
        async with package(anyio_backend).connect(
            "127.0.0.1", port, called_ae_title="NSCP", sop_classes=[MPPS, COMMITMENT]
        ) as assoc:
            status, reply = await assoc.n_create(attributes, MPPS)
            assert status.Status == 0x0000
            assigned = status.AffectedSOPInstanceUID  # PS3.7 10.1.5.1.4
            assert reply is not None
            assert reply.PerformedProcedureStepStatus == "IN PROGRESS"
            status, reply = await assoc.n_set(attributes, MPPS, assigned)
            assert (status.Status, status.AffectedSOPInstanceUID) == (0, assigned)
            assert reply is not None
            assert reply.PerformedProcedureStepStatus == "COMPLETED"
            status, reply = await assoc.n_get([0x00100010, 0x00100020], MPPS, assigned)
            assert reply is not None
            assert (reply.PatientName, reply.PatientID) == ("N^GET", "NG1")
            status, reply = await assoc.n_action(attributes, 1, COMMITMENT, "1.2.3.9")
            assert status.ActionTypeID == 1
            assert reply is not None
            assert reply.TransactionUID == "1.2.3.5"
            status, reply = await assoc.n_event_report(None, 2, COMMITMENT, "1.2.3.9")
            assert status.EventTypeID == 2
            status, reply = await assoc.n_delete(MPPS, assigned)
            assert (status.Status, reply) == (0, None)
    fields = [r.command.command_field for r in recorder.requests]
    assert fields == [0x0140, 0x0120, 0x0110, 0x0130, 0x0100, 0x0150]
    assert recorder.requests[2].command.attribute_identifier_list == (0x00100010, 0x00100020)


async def test_pipelined_requests_to_the_sync_scp_are_each_answered_by_message_id(
    anyio_backend: str,
) -> None:
    """Four tasks keep the sync SCP's window of 4 full (PS3.7 D.3.3.3); it
    performs the requests one by one and answers each with its own Message
    ID Being Responded To (PS3.7 9.3.1.2), so every task gets the status of
    its own instance: a different one per instance here, some with a
    warning, some refused, and a C-ECHO among them."""
    seen: list[int] = []

    def on_c_store(dataset: Dataset, *_: object) -> int:
        time.sleep(0.05)  # the others arrive meanwhile
        number = int(dataset.ImageComments)
        seen.append(number)
        return (0x0000, 0xB000, 0xA700)[number % 3]

    scp = AE(ae_title="SCP", port=0, scp_sop_class=[VERIFICATION, CT])
    scp.maximum_operations_performed = 4
    scp.on_c_store = on_c_store  # type: ignore[method-assign]
    outcome: dict[int, int] = {}
    with serving(scp) as port:
        async with package(anyio_backend).connect(
            "127.0.0.1", port, sop_classes=[VERIFICATION, CT], max_operations=4
        ) as assoc:
            assert assoc.negotiated.requestor_max_invoked == 4
            peak = 0

            async def store(numbers: range) -> None:
                for number in numbers:
                    ds = image(rows=16, columns=16, seed=number)
                    ds.ImageComments = str(number)
                    outcome[number] = int((await assoc.c_store(ds)).Status)

            async def echo() -> None:
                outcome[-1] = int((await assoc.c_echo()).Status)

            async def watch() -> None:
                nonlocal peak
                while len(outcome) < 13:
                    peak = max(peak, len(assoc.outstanding_requests))
                    await anyio.sleep(0.005)

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(watch)
                for first in range(3):
                    tasks.start_soon(store, range(first, 12, 3))
                tasks.start_soon(echo)
            assert assoc.is_established
    assert outcome.pop(-1) == 0x0000
    assert outcome == {n: (0x0000, 0xB000, 0xA700)[n % 3] for n in range(12)}
    assert sorted(seen) == list(range(12))
    assert 2 <= peak <= 4  # outstanding together, never past the window


async def test_a_wait_for_a_response_starts_its_timer_when_another_task_finishes_sending(
    anyio_backend: str,
) -> None:
    """One task waits for its C-ECHO response while another streams a C-STORE
    (window of 2): no DIMSE timer runs while a message goes out, and the one
    that starts when it is finished must reach the task already reading."""

    def on_c_echo() -> int:
        time.sleep(3)  # far past the DIMSE timeout
        return 0x0000

    scp = AE(ae_title="SCP", port=0, scp_sop_class=[VERIFICATION, CT])
    scp.maximum_operations_performed = 2
    scp.on_c_echo = on_c_echo  # type: ignore[method-assign]
    scp.on_c_store = lambda dataset, *_: 0x0000  # type: ignore[method-assign]

    async def slow_source() -> AsyncIterator[bytes]:
        yield b"\0" * 1000
        await anyio.sleep(1)  # the message stays open a second
        yield b"\0" * 1000

    outcome: list[str] = []
    with serving(scp) as port:
        async with package(anyio_backend).connect(
            "127.0.0.1",
            port,
            sop_classes=[VERIFICATION, CT],
            transfer_syntaxes=[EXPLICIT],
            max_operations=2,
            dimse_timeout=0.5,
        ) as assoc:
            started = anyio.current_time()

            async def echo() -> None:
                with pytest.raises(dicomul_asyncio.AssociationAbortedError, match="DIMSE"):
                    await assoc.c_echo()
                outcome.append("echo gave up")

            async def store() -> None:
                await anyio.sleep(0.1)
                with contextlib.suppress(dicomul_asyncio.AssociationAbortedError):
                    await assoc.c_store(
                        slow_source(),
                        sop_class_uid=CT,
                        sop_instance_uid="1.2.3",
                        transfer_syntax=EXPLICIT,
                    )

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(echo)
                tasks.start_soon(store)
            elapsed = anyio.current_time() - started
    assert outcome == ["echo gave up"]
    assert 1.1 < elapsed < 2.5  # the store's end, plus the timeout; not the 3 s answer


# ---------------------------------------------------------------- proposing


async def proposal_sent(connecting: Callable[[int], Awaitable[object]]) -> Any:
    """The A-ASSOCIATE-RQ that ``connecting(port)`` sends to a listener that
    reads it and hangs up (so the connection is never established)."""
    from dicomul import pdu

    received = bytearray()
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)

        async def take_one(stream: anyio.abc.SocketStream) -> None:
            async with stream:
                while len(received) < 6 or len(received) < 6 + int.from_bytes(received[2:6]):
                    received.extend(await stream.receive())
            tasks.cancel_scope.cancel()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(listener.serve, take_one)
            with pytest.raises(dicomul_asyncio.AssociationAbortedError):
                await connecting(port)
    return pdu.decode(bytes(received))


async def test_connect_proposes_verification_and_storage_by_default(anyio_backend: str) -> None:
    async def connecting(port: int) -> None:
        async with package(anyio_backend).connect("127.0.0.1", port):
            pass  # pragma: no cover - never established

    rq = await proposal_sent(connecting)
    proposed = [pc.abstract_syntax.uid for pc in rq.presentation_contexts]
    assert len(proposed) == 128  # as many as an association carries (PS3.8 9.3.2.2)
    assert proposed[0] == VERIFICATION
    assert CT in proposed
    assert rq.user_information.asynchronous_operations_window is None  # synchronous


async def test_connect_proposes_identity_window_and_the_c_get_storage_roles(
    anyio_backend: str,
) -> None:
    from dicomul import UserIdentity, UserIdentityType

    identity = UserIdentity(
        identity_type=UserIdentityType.USERNAME_AND_PASSCODE,
        primary_field=b"alice",
        secondary_field=b"secret",
    )

    async def connecting(port: int) -> None:
        async with package(anyio_backend).connect(
            "127.0.0.1",
            port,
            ae_title="ASYNCSCU",
            called_ae_title="ARCHIVE",
            sop_classes=[PATIENT_ROOT_GET],
            scp_sop_classes=[CT],
            max_pdu_length=32768,
            max_operations=4,
            user_identity=identity,
        ):
            pass  # pragma: no cover - never established

    rq = await proposal_sent(connecting)
    info = rq.user_information
    assert (rq.calling_ae_title.strip(), rq.called_ae_title.strip()) == (b"ASYNCSCU", b"ARCHIVE")
    assert info.maximum_length == 32768
    window = info.asynchronous_operations_window
    assert (window.max_operations_invoked, window.max_operations_performed) == (4, 1)
    (role,) = info.role_selections  # PS3.7 D.3.3.4: SCP of CT storage, for C-GET
    assert (role.sop_class_uid.rstrip(b"\0"), role.scu_role, role.scp_role) == (CT.encode(), 0, 1)
    (user,) = [s for s in info.sub_items if type(s).__name__ == "UserIdentityRQSubItem"]
    assert (user.primary_field, user.secondary_field) == (b"alice", b"secret")


# ---------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


async def test_stores_pipelined_over_mutual_tls(
    anyio_backend: str, pki: Pki, tmp_path: pathlib.Path
) -> None:
    # Reading and writing at once on one TLS stream (PS3.15 B.1), from
    # several tasks: the window of 4 keeps requests and responses crossing.
    scp = AE(ae_title="TLSSCP", scp_sop_class=[VERIFICATION, CT])
    scp.maximum_operations_performed = 4
    scp.ssl_context = pki.server_context(require_client=True)
    scp.store_directory = str(tmp_path)
    files = [
        write(image(rows=128, columns=128, seed=n), tmp_path / f"{n}.src", EXPLICIT)
        for n in range(6)
    ]
    statuses: list[int] = []
    with serving(scp) as port:
        async with package(anyio_backend).connect(
            "localhost",
            port,
            called_ae_title="TLSSCP",
            sop_classes=[VERIFICATION, CT],
            ssl_context=pki.client_context(),
            transfer_syntaxes=[EXPLICIT],  # the files' own: sent as they are
            max_operations=4,
        ) as assoc:
            assert (await assoc.c_echo()).Status == 0x0000

            async def store(path: pathlib.Path) -> None:
                statuses.append(int((await assoc.c_store(path)).Status))

            async with anyio.create_task_group() as tasks:
                for path in files:
                    tasks.start_soon(store, path)
    assert statuses == [0x0000] * len(files)
    for path in files:
        uid = dcmread(path, stop_before_pixels=True).SOPInstanceUID
        assert_same_data_set(tmp_path / f"{uid}.dcm", path)


# ------------------------------------------------------------ vanishing peers


async def test_a_peer_that_vanishes_mid_store_gives_association_aborted(
    anyio_backend: str,
) -> None:
    """An acceptor that takes part of a data set and hangs up: the C-STORE
    raises AssociationAbortedError (not a stream error), nothing hangs."""
    from dicomul import (
        NEED_DATA,
        AcceptAssociation,
        AcceptorConfig,
        AssociationRequested,
        Connection,
        Role,
        SupportedContext,
    )

    async def vanish(stream: anyio.abc.SocketStream) -> None:
        conn = Connection(Role.ACCEPTOR)
        conn.transport_connected()
        taken = 0
        async with stream:
            while taken < 200_000:
                data = await stream.receive()
                taken += len(data)
                conn.receive_data(data)
                while (event := conn.next_event()) is not NEED_DATA:
                    if isinstance(event, AssociationRequested):
                        config = AcceptorConfig(
                            ae_title="VANISH",
                            supported={CT: SupportedContext(transfer_syntaxes=(EXPLICIT,))},
                        )
                        conn.send(AcceptAssociation(config=config))
                        await stream.send(conn.data_to_send())

    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(listener.serve, vanish)
            with anyio.fail_after(10):
                async with package(anyio_backend).connect(
                    "127.0.0.1", port, sop_classes=[CT], transfer_syntaxes=[EXPLICIT]
                ) as assoc:
                    with pytest.raises(dicomul_asyncio.AssociationAbortedError):
                        await assoc.c_store(
                            chunks_of(bytes(20_000_000), size=1 << 20),
                            sop_class_uid=CT,
                            sop_instance_uid="1.2.3",
                            transfer_syntax=EXPLICIT,
                        )
                    assert not assoc.is_established
            tasks.cancel_scope.cancel()


async def test_a_query_whose_cancel_is_never_answered_ends_in_an_abort(
    anyio_backend: str,
) -> None:
    """The drain after a C-CANCEL is bounded: a peer that keeps quiet after
    one Pending match costs one DIMSE timeout, then the association is
    aborted (PS3.8 7.3) rather than left with a request outstanding."""
    from dicomul import CommandField, GeneralStatus, response_for

    def one_pending(command: Any) -> Any:
        if command.command_field == CommandField.C_FIND_RQ:
            return response_for(command, GeneralStatus.PENDING, with_data_set=False)
        return None  # the C-CANCEL: nothing, ever

    query = Dataset()
    query.QueryRetrieveLevel, query.PatientName = "PATIENT", "*"
    with RawAcceptor(one_pending) as peer:
        async with package(anyio_backend).connect(
            "127.0.0.1", peer.port, sop_classes=[PATIENT_ROOT_FIND], dimse_timeout=0.5
        ) as assoc:
            started = anyio.current_time()
            async with contextlib.aclosing(assoc.c_find(query)) as answers:
                async for status, _ in answers:
                    assert status == 0xFF00
                    break
            assert anyio.current_time() - started < 3
            assert not assoc.is_established
    assert "Aborted" in peer.seen


async def test_c_store_carries_the_move_originator_fields(anyio_backend: str) -> None:
    """``move_originator_ae_title`` / ``move_originator_message_id`` go into
    the C-STORE-RQ (PS3.7 9.3.1.1, Table 9.3-1: (0000,1030), (0000,1031))
    for a Dataset and a streamed data set alike; without them neither field
    is sent; one without the other, or a bad value, is refused before
    anything is sent."""
    import dicomul_sync

    from dicomul import encode_dataset

    seen: list[tuple[str | None, int | None]] = []

    def on_c_store(dataset: Dataset, *_: object) -> int:
        command = dicomul_sync.current_request().command
        seen.append(
            (command.move_originator_application_entity_title, command.move_originator_message_id)
        )
        return 0x0000

    scp = AE(ae_title="SCP", port=0, scp_sop_class=[CT])
    scp.on_c_store = on_c_store  # type: ignore[method-assign]
    ds = image(rows=8, columns=8, seed=3)

    async def streamed() -> AsyncIterator[bytes]:
        yield encode_dataset(ds, EXPLICIT)

    with serving(scp) as port:
        async with package(anyio_backend).connect(
            "127.0.0.1", port, sop_classes=[CT], transfer_syntaxes=[EXPLICIT]
        ) as assoc:
            await assoc.c_store(ds, move_originator_ae_title="MOVER", move_originator_message_id=9)
            await assoc.c_store(
                streamed(),
                sop_class_uid=CT,
                sop_instance_uid=str(ds.SOPInstanceUID),
                transfer_syntax=EXPLICIT,
                move_originator_ae_title="OTHER",
                move_originator_message_id=65535,
            )
            await assoc.c_store(ds)
            for kwargs, error in [
                ({"move_originator_ae_title": "MOVER"}, TypeError),
                ({"move_originator_message_id": 1}, TypeError),
                (
                    {"move_originator_ae_title": "A" * 17, "move_originator_message_id": 1},
                    ValueError,
                ),
                (
                    {"move_originator_ae_title": "MOVER", "move_originator_message_id": 70000},
                    ValueError,
                ),
            ]:
                with pytest.raises(error, match=r"move_originator|AE"):
                    await assoc.c_store(ds, **kwargs)  # type: ignore[arg-type]
            assert (await assoc.c_store(ds)).Status == 0x0000  # nothing half sent
    assert seen == [("MOVER", 9), ("OTHER", 65535), (None, None), (None, None)]


# ------------------------------------------- N-EVENT-REPORT from the peer


class _EventReporter:
    """A raw acceptor (the core on a blocking socket, in a thread) that, on
    the SCU's C-ECHO, first sends a Storage Commitment N-EVENT-REPORT-RQ
    (event type 1, its Event Information a Transaction UID; PS3.4 J.3.3),
    reads the response, then answers the C-ECHO: the SCU serves the report
    while it waits for its own response."""

    def __init__(self) -> None:
        import socket

        self.listener = socket.create_server((HOST, 0))
        self.port = self.listener.getsockname()[1]
        self.response: Any = None
        self.reply: Dataset | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        from dicomul import (
            NEED_DATA,
            AcceptAssociation,
            AcceptorConfig,
            AssociationRequested,
            CommandField,
            CommandReceived,
            Connection,
            ConnectionClosed,
            DataSetFragment,
            ReleaseRequested,
            RespondRelease,
            Role,
            SupportedContext,
            decode_dataset,
            encode_dataset,
            n_event_report_rq,
        )

        sock, _ = self.listener.accept()
        conn = Connection(Role.ACCEPTOR)
        conn.transport_connected()
        reply = bytearray()
        with sock:
            while data := sock.recv(65536):
                conn.receive_data(data)
                while (event := conn.next_event()) is not NEED_DATA:
                    if isinstance(event, AssociationRequested):
                        config = AcceptorConfig(
                            ae_title="REPORTER",
                            supported={
                                uid: SupportedContext(transfer_syntaxes=(EXPLICIT,))
                                for uid in (VERIFICATION, COMMITMENT)
                            },
                        )
                        conn.send(AcceptAssociation(config=config))
                    elif isinstance(event, CommandReceived):
                        command = event.command
                        if command.command_field == CommandField.C_ECHO_RQ:
                            self.echo, self.echo_context = command, event.context_id
                            info = Dataset()
                            info.TransactionUID = "1.2.3.4.5"
                            report = n_event_report_rq(7, COMMITMENT, "1.2.840.10008.1.20.1.1", 1)
                            context = conn.negotiated.context_for(COMMITMENT)  # type: ignore[union-attr]
                            conn.send_message(
                                context.context_id, report, encode_dataset(info, EXPLICIT)
                            )
                        elif command.command_field == CommandField.N_EVENT_REPORT_RSP:
                            self.response = command
                            if not command.has_data_set:
                                self._answer_echo(conn)
                    elif isinstance(event, DataSetFragment):
                        reply += event.data
                        if event.is_last:
                            self.reply = decode_dataset(bytes(reply), EXPLICIT)
                            self._answer_echo(conn)
                    elif isinstance(event, ReleaseRequested):
                        conn.send(RespondRelease())
                    if isinstance(event, ConnectionClosed):
                        return
                    sock.sendall(conn.data_to_send())

    def _answer_echo(self, conn: Any) -> None:
        from dicomul import response_for

        conn.send_message(self.echo_context, response_for(self.echo, 0x0000))


async def _echo_while_reported(backend: str, **options: Any) -> _EventReporter:
    reporter = _EventReporter()
    async with package(backend).connect(
        HOST, reporter.port, sop_classes=[VERIFICATION, COMMITMENT], **options
    ) as assoc:
        with anyio.fail_after(10):
            assert await assoc.c_echo() == 0x0000
    return reporter


async def test_an_n_event_report_from_the_peer_goes_to_its_handler(anyio_backend: str) -> None:
    """Storage Commitment's result comes as an N-EVENT-REPORT on the SCU's
    association (PS3.4 J.3.3): the handler gets the request, its Event
    Information decoded; its (status, Event Reply) is the response, which
    echoes the Event Type ID (PS3.7 10.1.1.1)."""
    from dicomul_common.requests import ServiceRequest, current_request

    seen: list[ServiceRequest] = []

    async def on_report(request: ServiceRequest) -> tuple[int, Dataset]:
        assert current_request() is request
        seen.append(request)
        reply = Dataset()
        reply.TransactionUID = request.dataset.TransactionUID  # type: ignore[union-attr]
        return 0x0000, reply

    reporter = await _echo_while_reported(anyio_backend, on_n_event_report=on_report)
    (request,) = seen
    assert request.command.event_type_id == 1
    assert request.sop_class_uid == COMMITMENT
    assert request.dataset is not None
    assert request.dataset.TransactionUID == "1.2.3.4.5"
    response = reporter.response
    assert (response.status, response.event_type_id) == (0x0000, 1)
    assert response.message_id_being_responded_to == 7
    assert reporter.reply is not None
    assert reporter.reply.TransactionUID == "1.2.3.4.5"


async def test_an_n_event_report_without_a_handler_is_not_recognised(anyio_backend: str) -> None:
    reporter = await _echo_while_reported(anyio_backend)
    assert reporter.response.status == 0x0211  # unrecognized operation
    assert not reporter.response.has_data_set


async def test_an_n_event_report_handler_that_raises_gives_a_processing_failure(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    def on_report(request: Any) -> None:
        raise RuntimeError("no such transaction")

    reporter = await _echo_while_reported(anyio_backend, on_n_event_report=on_report)
    assert reporter.response.status == 0x0110  # processing failure (PS3.7 C.4.1)
    assert "no such transaction" in caplog.text


async def test_an_n_event_report_larger_than_the_bound_is_refused_unread(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A report's Event Information is kept whole for its handler, so it is
    bounded (MAX_REQUEST_DATA_SET, here lowered to 10 bytes): past it the
    handler is not called and the peer gets the resource-limitation status."""
    from dicomul_anyio import _scu_services
    from dicomul_common.handling import CollectedDataSet

    from dicomul import CommandField, HandlerOutcome, outcome_status

    monkeypatch.setattr(_scu_services, "CollectedDataSet", lambda: CollectedDataSet(limit=10))
    called: list[object] = []
    reporter = await _echo_while_reported(anyio_backend, on_n_event_report=called.append)
    assert called == []
    expected = outcome_status(CommandField.N_EVENT_REPORT_RQ, HandlerOutcome.OUT_OF_RESOURCES)
    assert reporter.response.status == expected
    assert "over 10 bytes" in caplog.text
