"""The async SCU (``dicomul_asyncio.connect`` / ``dicomul_trio.connect``, one
implementation on anyio) against DCMTK's storescp and dicomul's blocking SCP,
on each backend (anyio's pytest plugin runs every test on asyncio and trio)."""

from __future__ import annotations

import pathlib
import threading

import dicomul_asyncio
import dicomul_trio
import pytest
from corpus import image, write
from dicomul_sync import AE
from peers import RawAcceptor, serving, storescp
from pydicom import dcmread
from pydicom.dataset import Dataset

CT = "1.2.840.10008.5.1.4.1.1.2"
PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"

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
            assert (await assoc.c_echo()).Status == 0x0000
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
