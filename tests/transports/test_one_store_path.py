"""Every adapter's directory store is dicomul_common's CheckedStore: the
blocking SCP's DirectorySink and the async SCU's C-GET store (the async
SCP's is tested in conformance/test_async_server.py) answer Success only
once the data set is whole, names the instance asked and is on disk, the
PS3.4 B.2.3 / Table B.2-1 status otherwise, and keep nothing partial."""

from __future__ import annotations

import logging
import pathlib

import pytest
from dicomul_anyio._scu_services import StoreTarget, SubOperationServer
from dicomul_common.requests import ServiceRequest
from dicomul_sync._sinks import DirectorySink, GuardedSink
from pydicom.dataset import Dataset

from dicomul import (
    AcceptorConfig,
    AssociationRequest,
    Command,
    CommandField,
    CommandReceived,
    DataSetFragment,
    GeneralStatus,
    Negotiated,
    StoreStatus,
    build_associate_rq,
    c_store_rq,
    encode_dataset,
    negotiate,
    propose_contexts,
)

CT = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
UID = "1.2.826.0.1.3680043.9.7.2"

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def data_set(instance: str = UID) -> bytes:
    ds = Dataset()
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = instance
    ds.PatientName = "ONE^PATH"
    return encode_dataset(ds, EXPLICIT)


def negotiated() -> Negotiated:
    request = AssociationRequest(
        calling_ae_title="SCU", called_ae_title="SCP", contexts=propose_contexts([CT], [EXPLICIT])
    )
    config = AcceptorConfig.for_sop_classes(
        ae_title="SCP", scp_sop_classes=[CT], transfer_syntaxes=[EXPLICIT]
    )
    _, result = negotiate(build_associate_rq(request), config)
    assert result is not None
    return result


def files(directory: pathlib.Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# ------------------------------------------------ the blocking SCP's sink


class _Archive:
    """The AE as far as DirectorySink uses it."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.store_directory = str(directory)
        self.stored: list[pathlib.Path] = []

    def on_c_stored(self, path: pathlib.Path) -> None:
        self.stored.append(path)


def sync_store(directory: pathlib.Path, data: bytes) -> tuple[int, _Archive]:
    archive = _Archive(directory)
    request = ServiceRequest(c_store_rq(1, CT, UID), 1, EXPLICIT, negotiated())
    sink = GuardedSink(DirectorySink, archive, request, command_field=CommandField.C_STORE_RQ)
    for start in range(0, len(data), 7):
        sink.write(memoryview(data)[start : start + 7])
    return sink.finish(), archive


def test_the_sync_directory_sink_stores_a_whole_matching_data_set(
    tmp_path: pathlib.Path,
) -> None:
    status, archive = sync_store(tmp_path, data_set())
    assert status == GeneralStatus.SUCCESS
    assert archive.stored == [tmp_path / f"{UID}.dcm"]
    assert archive.stored[0].read_bytes().endswith(data_set())


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (data_set("1.2.3.4"), StoreStatus.DATA_SET_DOES_NOT_MATCH_SOP_CLASS),
        (data_set()[:-4], StoreStatus.CANNOT_UNDERSTAND),
    ],
)
def test_the_sync_directory_sink_refuses_what_the_check_refuses_in_one_line(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture, data: bytes, status: int
) -> None:
    with caplog.at_level(logging.ERROR, logger="dicomul"):
        answered, archive = sync_store(tmp_path, data)
    assert answered == status
    assert archive.stored == []
    assert files(tmp_path) == []
    (line,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert line.getMessage().startswith("refusing the data set: ")
    assert line.getMessage().endswith(f"answering 0x{status:04X}")
    assert line.exc_info is None


# ------------------------------------------- the async SCU's C-GET store


async def get_store(
    directory: pathlib.Path, data: bytes, *, cut: bool = False
) -> list[tuple[int, Command]]:
    """A C-STORE sub-operation of a C-GET (PS3.4 C.4.3.3) arriving in
    pieces at the SCU's SubOperationServer; the responses it sends.  With
    ``cut`` the association ends before the last piece."""
    sent: list[tuple[int, Command]] = []

    async def respond(context_id: int, command: Command, body: bytes | None) -> None:
        assert body is None  # a C-STORE response carries no data set
        sent.append((context_id, command))

    server = SubOperationServer(negotiated(), respond)
    server.target = StoreTarget(store_directory=directory)
    await server.serve(CommandReceived(context_id=1, command=c_store_rq(5, CT, UID)))
    pieces = [data[start : start + 9] for start in range(0, len(data), 9)]
    for n, piece in enumerate(pieces[:-1] if cut else pieces):
        await server.serve(DataSetFragment(context_id=1, data=piece, is_last=n == len(pieces) - 1))
    await server.close()
    return sent


async def test_the_c_get_store_answers_success_once_the_file_is_in_place(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    ((context_id, response),) = await get_store(tmp_path, data_set())
    assert (context_id, response.status) == (1, GeneralStatus.SUCCESS)
    assert response.message_id_being_responded_to == 5
    assert files(tmp_path) == [f"{UID}.dcm"]
    assert (tmp_path / f"{UID}.dcm").read_bytes().endswith(data_set())


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (data_set("1.2.3.4"), StoreStatus.DATA_SET_DOES_NOT_MATCH_SOP_CLASS),
        (data_set()[:-4], StoreStatus.CANNOT_UNDERSTAND),
    ],
)
async def test_the_c_get_store_refuses_what_the_check_refuses(
    anyio_backend: str, tmp_path: pathlib.Path, data: bytes, status: int
) -> None:
    """Before, the SCU's C-GET store wrote any data set under the UID the
    command named and answered Success."""
    ((_, response),) = await get_store(tmp_path, data)
    assert response.status == status
    assert files(tmp_path) == []


async def test_the_c_get_store_keeps_nothing_of_a_transfer_cut_short(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    assert await get_store(tmp_path, data_set(), cut=True) == []
    assert files(tmp_path) == []


async def test_the_c_get_store_into_a_missing_directory_is_out_of_resources(
    anyio_backend: str, tmp_path: pathlib.Path
) -> None:
    ((_, response),) = await get_store(tmp_path / "missing", data_set())
    assert response.status == StoreStatus.OUT_OF_RESOURCES
