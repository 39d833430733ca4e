"""The async server (``dicomul_asyncio.serve`` / ``dicomul_trio.serve``, one
implementation on anyio) against DCMTK's SCUs, pynetdicom, dicomul's
blocking AE and raw peers, on each backend (anyio's pytest plugin runs
every test on asyncio and trio)."""

from __future__ import annotations

import contextlib
import functools
import pathlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import dicomul_asyncio
import dicomul_trio
import pytest
from corpus import assert_same_data_set, image, write
from dcmtk_tools import dcmtk_path
from dicomul_anyio import Handlers

HOST = "127.0.0.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"

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
    async with anyio.create_task_group() as group:
        serve = functools.partial(package(backend).serve, handlers, port=0, host=HOST, **options)
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
        from pydicom import dcmread

        uid = dcmread(source).SOPInstanceUID
        assert_same_data_set(store / f"{uid}.dcm", source)
    assert not list(store.glob(".incoming-*"))
