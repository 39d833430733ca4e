"""Small messages never wait on Nagle's algorithm or a delayed ACK.

With Nagle's algorithm on (TCP_NODELAY off), a small write waits for the
peer to acknowledge what is still in flight, and a peer that delays its ACK
(Linux: up to 40 ms) turns each small exchange into a 40 ms pause.  Two
things keep it away, and these tests guard both, at every adapter, in both
roles, with DCMTK as the peer:

* every TCP socket dicomul writes on has TCP_NODELAY set;
* what the engine produces at once leaves in one write: an A-ASSOCIATE, a
  C-ECHO request or response, a C-STORE request with its data set (command
  and data-set PDUs together), a C-STORE response, a release.  Two writes
  for one message is exactly the pattern Nagle holds up (write, write, read).

The writes are counted where every adapter ends up, the socket object's
``send``/``sendall``/``sendmsg`` (asyncio's and trio's transports call them
too), with the PDUs each write carried.
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
import socket
import subprocess
import threading
from collections.abc import Callable
from typing import Any

import anyio
import pytest
import trio
from dcmtk_tools import dcmtk_path
from peers import HOST, serving, storescp
from test_apps_echo import ENV
from test_sync_seed_examples import ct_file

from dicomul.testing import split_pdus

CT = "1.2.840.10008.5.1.4.1.1.2"
VERIFICATION = "1.2.840.10008.1.1"
#: PDU types (PS3.8 9.3.1).
RQ, AC, P_DATA, RELEASE_RQ, RELEASE_RP = 0x01, 0x02, 0x04, 0x05, 0x06


@dataclasses.dataclass
class Write:
    """One write call on a TCP socket: the PDU types it carried (in order)
    and whether the socket had TCP_NODELAY set at the time."""

    pdus: list[int]
    nodelay: bool


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[Write]:
    """Every write this process makes on an IPv4/IPv6 TCP socket while the
    test runs.  Each write must carry whole PDUs: a PDU cut across writes is
    itself a second small write."""
    recorded: list[Write] = []
    lock = threading.Lock()

    def record(sock: Any, data: Any, gathered: bool) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
            joined = b"".join(bytes(b) for b in (data if gathered else [data]))
            nodelay = bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            with lock:
                recorded.append(Write([p[0] for p in split_pdus(joined)], nodelay))

    def counting(cls: type, name: str) -> Callable[..., Any]:
        original = getattr(cls, name)

        def write(sock: Any, data: Any, *args: Any) -> Any:
            record(sock, data, name == "sendmsg")
            return original(sock, data, *args)

        return write

    def counting_async(cls: type, name: str) -> Callable[..., Any]:
        original = getattr(cls, name)

        async def write(sock: Any, data: Any, *args: Any) -> Any:
            record(sock, data, name == "sendmsg")
            return await original(sock, data, *args)

        return write

    for name in ("send", "sendall", "sendmsg"):
        monkeypatch.setattr(socket.socket, name, counting(socket.socket, name))
    # trio's sockets call the standard socket's methods as they were when
    # trio was imported: count at trio's own socket class.
    with socket.socket() as plain:
        trio_socket = type(trio.socket.from_stdlib_socket(plain))
    for name in ("send", "sendmsg"):
        monkeypatch.setattr(trio_socket, name, counting_async(trio_socket, name))
    return recorded


def assert_nodelay_and(writes: list[Write], expected: list[list[int]]) -> None:
    assert writes, "nothing was written"
    assert all(w.nodelay for w in writes), "a write on a socket without TCP_NODELAY"
    assert [w.pdus for w in writes] == expected


def small_ct(tmp_path: pathlib.Path) -> pathlib.Path:
    return ct_file(tmp_path / "small.dcm", rows=16)  # about 1 KiB of data set


# ----------------------------------------------------------------- requestor


def test_sync_requestor(writes: list[Write], tmp_path: pathlib.Path) -> None:
    from dicomul_sync import AE
    from pydicom import dcmread

    dataset = dcmread(small_ct(tmp_path))
    with storescp("--ignore") as port:
        writes.clear()  # wait_listening's probes write nothing, but be sure
        ae = AE(ae_title="SMALL", scu_sop_class=[VERIFICATION, CT])
        assoc = ae.associate(HOST, port)
        assert assoc.is_established
        assert assoc.send_c_echo().Status == 0
        assert assoc.send_c_store(dataset).Status == 0
        assoc.release()
    # The C-STORE's command and data set: P-DATA PDUs in one write.
    assert_nodelay_and(writes, [[RQ], [P_DATA], [P_DATA, P_DATA], [RELEASE_RQ]])


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_requestor(writes: list[Write], tmp_path: pathlib.Path, backend: str) -> None:
    import dicomul_asyncio

    path = small_ct(tmp_path)

    async def main(port: int) -> None:
        async with dicomul_asyncio.connect(HOST, port, sop_classes=[VERIFICATION, CT]) as assoc:
            assert (await assoc.c_echo()).Status == 0
            assert (await assoc.c_store(str(path))).Status == 0

    with storescp("--ignore") as port:
        writes.clear()
        anyio.run(main, port, backend=backend)
    assert_nodelay_and(writes, [[RQ], [P_DATA], [P_DATA, P_DATA], [RELEASE_RQ]])


# ------------------------------------------------------------------ acceptor


def dcmtk_clients(port: int, path: pathlib.Path) -> None:
    """DCMTK's echoscu, then storescu with one small file, into ``port``."""
    for tool, *args in (("echoscu",), ("storescu", str(path))):
        done = subprocess.run(
            [dcmtk_path(tool), HOST, str(port), *args],
            capture_output=True, text=True, timeout=60, check=False, env=ENV,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr


#: What an acceptor writes for an echo association, then a store one.
ACCEPTOR_WRITES = [[AC], [P_DATA], [RELEASE_RP], [AC], [P_DATA], [RELEASE_RP]]


def test_sync_acceptor(writes: list[Write], tmp_path: pathlib.Path) -> None:
    from dicomul_sync import AE

    ae = AE(ae_title="SMALL", scp_sop_class=[VERIFICATION, CT])
    ae.on_c_store = lambda dataset: 0x0000
    path = small_ct(tmp_path)
    with serving(ae) as port:
        writes.clear()
        dcmtk_clients(port, path)
    assert_nodelay_and(writes, ACCEPTOR_WRITES)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_acceptor(writes: list[Write], tmp_path: pathlib.Path, backend: str) -> None:
    import dicomul_asyncio

    path = small_ct(tmp_path)

    async def stored(dataset: Any) -> int:
        return 0x0000

    async def main() -> None:
        handlers = dicomul_asyncio.Handlers(on_c_store=stored)
        async with anyio.create_task_group() as tasks:
            port = await tasks.start(
                functools.partial(
                    dicomul_asyncio.serve, handlers, host=HOST, port=0,
                    scp_sop_classes=[VERIFICATION, CT],
                )
            )  # fmt: skip
            writes.clear()
            await anyio.to_thread.run_sync(dcmtk_clients, port, path)
            tasks.cancel_scope.cancel()

    anyio.run(main, backend=backend)
    assert_nodelay_and(writes, ACCEPTOR_WRITES)
