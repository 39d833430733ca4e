"""Measure the two concurrency models for the blocking SCP and print the README's tables.

Usage::

    .venv/bin/python bench/server_models.py [--runs N] [--scenarios abcde] [--models A,B,B+pool]

The blocking-transport issue asks for one of two models, measured first:

* **A, threads**: the shipped server, ``dicomul_sync.AE.start()``
  (``transports/dicomul_sync/server.py``): a ``selectors`` accept loop hands
  each accepted socket to a worker of a ``ThreadPoolExecutor`` of
  ``maximum_associations + 1`` threads, which runs a blocking loop around
  its :class:`dicomul.Connection` until the association ends.
* **B, one selectors loop** (:class:`SelectorServer`, only in this file): one
  thread owns every socket, non-blocking; each socket's bytes go into its
  own :class:`dicomul.Connection`, and what the engine answers is written
  when the socket can take it.  Timers (ARTIM and the timeouts) come from a
  heap of ``Connection.next_deadline`` values and bound the ``select()``.
  Handlers run either inline in the loop (**B**) or in a worker pool
  (**B+pool**): the association's socket is then not read until the handler
  has answered, and the worker wakes the loop through a socket pair.

Both serve C-ECHO and C-STORE with the same application work: the data set
is collected, decoded with pydicom and handed to an ``on_c_store`` that
discards it and returns 0 (model B's :class:`PendingStore` repeats what
dicomul_sync does there, so that only the concurrency model differs).  Model
B serves nothing else.  Both negotiate with
``AcceptAssociation(config=AcceptorConfig(...))`` built from the same AE
attributes as ``Server.config()``.

Each server runs in its own process (``multiprocessing``, spawn), so that
``time.process_time()`` there is the server's CPU time and nothing else's;
the clients are DCMTK's ``echoscu`` and ``storescu`` run with
``TCP_NODELAY=1``.  The scenarios:

a. C-ECHO throughput on one association (``echoscu --repeat N``);
b. N concurrent ``echoscu`` processes, each one association of a few echoes;
c. concurrent ``storescu`` of a few-MB CT image (made with pydicom);
d. one ``echoscu`` while K idle TCP connections are held open (connected,
   never sending), against a server left at the default
   ``maximum_associations = 10``: model A's pool then has 11 workers;
e. 4 concurrent ``echoscu`` against a C-ECHO handler that blocks 20 ms
   (standing for an fsync or a database call).

The models' servers run side by side and take turns run by run, in a
rotating order, so that load from the rest of the machine falls on all of
them alike.  Each figure is the best (fastest) of ``--runs`` runs, with the
server's CPU time in that run.  The defaults take about 70 seconds on two
cores.  ``--quick`` shrinks every load, for a smoke run of a few seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import heapq
import itertools
import multiprocessing
import os
import pathlib
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection as Pipe

from dicomul_sync import AE
from dicomul_sync.server import acceptor_config

from dicomul import (
    NEED_DATA,
    AcceptAssociation,
    AssociationRequested,
    Command,
    CommandField,
    CommandReceived,
    Connection,
    ConnectionClosed,
    DataSetFragment,
    ReleaseRequested,
    RespondRelease,
    Role,
    State,
    decode_dataset,
)

HOST = "127.0.0.1"
VERIFICATION = "1.2.840.10008.1.1"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
IMPLICIT_VR_LE = "1.2.840.10008.1.2"

#: Bytes asked of each recv(), as dicomul_sync asks.
RECEIVE_SIZE = 65536
#: States in which the acceptor may still send responses (PS3.8 Evt9: Sta6, Sta8).
SERVING = frozenset({State.STA6, State.STA8})
#: Statuses answered when a handler raises, as dicomul_sync's server does:
#: processing failure (PS3.7 C.4), and for C-STORE cannot understand (PS3.4 B.2.3).
PROCESSING_FAILURE = 0x0110
STORE_CANNOT_UNDERSTAND = 0xC000

MODELS = ("A", "B", "B+pool")
MODEL_NAMES = {
    "A": "thread per association (the shipped AE.start)",
    "B": "one selectors loop, handlers inline",
    "B+pool": "one selectors loop, handlers in a pool of threads",
}


# --------------------------------------------------------------------------
# Model B: one selectors loop for every socket


def call_handler(handler: Callable[[], object], failure: int) -> int:
    """Run a user handler; a raise becomes ``failure`` (as in dicomul_sync's server)."""
    try:
        result = handler()
    except Exception:
        return failure
    status = getattr(result, "Status", result)
    return 0 if status is None else int(status)  # type: ignore[call-overload]


class PendingStore:
    """A C-STORE being received, for the AE's ``on_c_store(dataset)``.

    The same work as dicomul_sync's server does without a ``store_directory``:
    each fragment copied to ``bytes``, the whole joined, decoded with pydicom
    and handed to the handler.  (Kept here, not imported, so that this file
    depends on the public API only.)
    """

    __slots__ = ("ae", "command", "context_id", "parts", "transfer_syntax")

    def __init__(self, ae: AE, conn: Connection, context_id: int, command: Command) -> None:
        self.ae = ae
        self.context_id = context_id
        self.command = command
        assert conn.negotiated is not None
        self.transfer_syntax = conn.negotiated.contexts[context_id].transfer_syntax
        self.parts: list[bytes] = []

    def write(self, data: bytes | memoryview) -> None:
        self.parts.append(bytes(data))

    def finish(self) -> int:
        data = b"".join(self.parts)
        self.parts = []
        return call_handler(
            lambda: self.ae.on_c_store(decode_dataset(data, self.transfer_syntax)),
            STORE_CANNOT_UNDERSTAND,
        )


class _Peer:
    """One accepted socket and its engine, as the loop sees them."""

    __slots__ = ("busy", "closed", "conn", "counted", "deadline", "events", "out", "sock", "store")

    def __init__(self, sock: socket.socket, conn: Connection) -> None:
        self.sock = sock
        self.conn = conn
        self.out = bytearray()  # bytes the socket has not taken yet
        self.events = 0  # the selector interest registered now
        self.counted = False  # holds one of the AE's association slots
        self.busy = False  # a handler runs in the pool: read nothing meanwhile
        self.closed = False
        self.store: PendingStore | None = None
        self.deadline: float | None = None  # the deadline last pushed on the heap


class SelectorServer:
    """Model B: one thread, one ``selectors`` loop, every socket non-blocking.

    ``handler_threads=0`` runs handlers inline in the loop; otherwise they
    run in a pool of that many threads and the loop stops reading the
    association until its handler has answered (no pipelining, as in model
    A, and no unbounded buffering).  Same AE attributes, same handlers, same
    association counting as ``dicomul_sync.server``.
    """

    def __init__(self, ae: AE, *, handler_threads: int = 0) -> None:
        self.ae = ae
        self.config = acceptor_config(ae)
        self.handler_threads = handler_threads
        self.listener: socket.socket | None = None
        self._selector = selectors.DefaultSelector()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._stopping = threading.Event()
        self._peers: set[_Peer] = set()
        self._active = 0
        self._accepting = False
        self._heap: list[tuple[float, int, _Peer]] = []
        self._order = itertools.count()
        self._pool: ThreadPoolExecutor | None = None
        # Finished pool work: (peer, future, respond), appended by the workers.
        self._done: deque[tuple[_Peer, Future[int], Callable[[int], None]]] = deque()

    def bind(self) -> int:
        listener = socket.create_server(("", self.ae.port), reuse_port=False)
        listener.setblocking(False)
        self.listener = listener
        return int(listener.getsockname()[1])

    def stop(self) -> None:
        """End :meth:`serve` soon; unlike model A, it closes every connection at once."""
        self._stopping.set()
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # a wake-up is pending, or serve() is over
            self._wake_writer.send(b"\0")

    def serve(self) -> None:
        if self.listener is None:
            self.bind()
        assert self.listener is not None
        self._selector.register(self._wake_reader, selectors.EVENT_READ, None)
        self._resume_accepting()
        if self.handler_threads:
            self._pool = ThreadPoolExecutor(self.handler_threads, thread_name_prefix="handler")
        try:
            while not self._stopping.is_set():
                for key, mask in self._selector.select(self._timeout()):
                    peer = key.data
                    if key.fileobj is self.listener:
                        self._accept()
                    elif peer is None:
                        self._completions()
                    elif not peer.closed:
                        if mask & selectors.EVENT_WRITE:
                            self._flush(peer)
                        if mask & selectors.EVENT_READ and not peer.closed:
                            self._read(peer)
                self._fire_timers()
        finally:
            for peer in list(self._peers):
                self._close(peer)
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            self._selector.close()
            self.listener.close()
            self._wake_reader.close()
            self._wake_writer.close()

    # ------------------------------------------------------------ sockets

    def _resume_accepting(self) -> None:
        assert self.listener is not None
        if not self._accepting:
            self._selector.register(self.listener, selectors.EVENT_READ, None)
            self._accepting = True

    def _accept(self) -> None:
        assert self.listener is not None
        while True:
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            except OSError:
                # Out of file descriptors (EMFILE) or the like: stop accepting
                # until a connection closes, instead of spinning or dying.
                self._selector.unregister(self.listener)
                self._accepting = False
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            ae = self.ae
            conn = Connection(
                Role.ACCEPTOR,
                acse_timeout=ae.acse_timeout,
                dimse_timeout=ae.dimse_timeout,
                network_timeout=ae.network_timeout,
            )
            peer = _Peer(sock, conn)
            self._peers.add(peer)
            conn.transport_connected(now=time.monotonic())
            peer.out += conn.data_to_send()
            self._flush(peer)

    def _read(self, peer: _Peer) -> None:
        try:
            data = peer.sock.recv(RECEIVE_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        peer.conn.receive_data(data, now=time.monotonic())
        self._pump(peer)

    def _flush(self, peer: _Peer) -> None:
        """Write what the socket takes now; then set the selector interest."""
        if peer.counted and peer.conn.state in (State.STA1, State.STA13):
            self._release_slot(peer)  # before the peer can read our RJ/RP and retry
        failed = False
        while peer.out:
            try:
                sent = peer.sock.send(peer.out)
            except BlockingIOError:
                break
            except OSError:
                failed = True
                break
            del peer.out[:sent]
        if failed:
            peer.out.clear()
            peer.conn.receive_data(b"", now=time.monotonic())
            self._pump(peer)
            return
        self._interest(peer)

    def _interest(self, peer: _Peer) -> None:
        if peer.closed:
            return
        want = (0 if peer.busy else selectors.EVENT_READ) | (
            selectors.EVENT_WRITE if peer.out else 0
        )
        if want == peer.events:
            return
        if not peer.events:
            self._selector.register(peer.sock, want, peer)
        elif not want:
            self._selector.unregister(peer.sock)
        else:
            self._selector.modify(peer.sock, want, peer)
        peer.events = want

    def _close(self, peer: _Peer) -> None:
        if peer.closed:
            return
        with contextlib.suppress(OSError):
            peer.sock.send(peer.out)  # a last A-ABORT or the like, if it fits
        if peer.events:
            self._selector.unregister(peer.sock)
        peer.sock.close()
        peer.closed = True
        self._release_slot(peer)
        peer.store = None
        self._peers.discard(peer)
        self._resume_accepting()

    # ------------------------------------------------------------- timers

    def _schedule(self, peer: _Peer) -> None:
        deadline = peer.conn.next_deadline
        if deadline != peer.deadline:
            peer.deadline = deadline
            if deadline is not None:
                heapq.heappush(self._heap, (deadline, next(self._order), peer))

    def _timeout(self) -> float | None:
        heap = self._heap
        while heap:
            deadline, _, peer = heap[0]
            if peer.closed or peer.deadline != deadline:
                heapq.heappop(heap)  # stale: that peer's deadline moved
                continue
            return max(0.0, deadline - time.monotonic())
        return None

    def _fire_timers(self) -> None:
        now = time.monotonic()
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, peer = heapq.heappop(heap)
            if peer.closed or peer.deadline != deadline:
                continue
            peer.deadline = None
            if peer.busy:  # as in model A, no timer fires while a handler runs
                continue
            peer.conn.handle_timeout(now=now)
            self._pump(peer)

    # ------------------------------------------------------------- engine

    def _pump(self, peer: _Peer) -> None:
        """Take the engine's events until it needs data (or a handler is out)."""
        conn = peer.conn
        while not peer.busy:
            event = conn.next_event()
            peer.out += conn.data_to_send()
            if event is NEED_DATA:
                break
            if isinstance(event, ConnectionClosed):
                self._close(peer)
                return
            self._handle(peer, event)
        self._schedule(peer)
        self._flush(peer)

    def _handle(self, peer: _Peer, event: object) -> None:
        conn = peer.conn
        if isinstance(event, AssociationRequested):
            peer.counted = True
            self._active += 1
            conn.send(
                AcceptAssociation(config=self.config, active_associations=self._active - 1),
                now=time.monotonic(),
            )
        elif isinstance(event, CommandReceived):
            command = event.command
            if command.command_field == CommandField.C_ECHO_RQ:
                self._run(
                    peer,
                    lambda: call_handler(self.ae.on_c_echo, PROCESSING_FAILURE),
                    event.context_id,
                    command,
                    CommandField.C_ECHO_RSP,
                )
            elif command.command_field == CommandField.C_STORE_RQ:
                peer.store = PendingStore(self.ae, conn, event.context_id, command)
        elif isinstance(event, DataSetFragment):
            store = peer.store
            if store is None:
                return
            store.write(event.data)
            if event.is_last:
                peer.store = None
                self._run(
                    peer, store.finish, store.context_id, store.command, CommandField.C_STORE_RSP
                )
        elif isinstance(event, ReleaseRequested):
            conn.send(RespondRelease(), now=time.monotonic())
        # Aborted and anything else: the engine has done what the table says.

    def _run(
        self,
        peer: _Peer,
        work: Callable[[], int],
        context_id: int,
        request: Command,
        field: int,
    ) -> None:
        """Run a handler (inline, or in the pool) and answer with its status."""

        def respond(status: int) -> None:
            if peer.conn.state not in SERVING:
                return  # aborted meanwhile
            response = Command(
                command_field=field,
                message_id_being_responded_to=request.message_id,
                affected_sop_class_uid=request.affected_sop_class_uid,
                affected_sop_instance_uid=request.affected_sop_instance_uid,
                status=status,
            )
            peer.conn.send_message(context_id, response)
            peer.out += peer.conn.data_to_send()

        if self._pool is None:
            respond(work())
            return
        peer.busy = True
        future = self._pool.submit(work)

        def done(finished: Future[int]) -> None:
            self._done.append((peer, finished, respond))
            self._wake()

        future.add_done_callback(done)

    def _completions(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_reader.recv(4096):
                pass
        while self._done:
            peer, future, respond = self._done.popleft()
            peer.busy = False
            if peer.closed:
                continue
            respond(future.result())  # call_handler and finish() never raise
            self._pump(peer)  # events that arrived meanwhile; reading resumes

    def _release_slot(self, peer: _Peer) -> None:
        if peer.counted:
            peer.counted = False
            self._active -= 1


# --------------------------------------------------------------------------
# The server process


@dataclasses.dataclass(frozen=True)
class ServerSettings:
    """What a server process is started with (picklable for spawn)."""

    model: str
    port: int
    maximum_associations: int
    echo_delay: float = 0.0
    handler_threads: int = 8


def _discard(dataset: object) -> int:
    return 0


def _make_ae(settings: ServerSettings) -> AE:
    ae = AE(
        ae_title="BENCHSCP", port=settings.port, scp_sop_class=[VERIFICATION, CT_IMAGE_STORAGE]
    )
    ae.maximum_associations = settings.maximum_associations
    ae.on_c_store = _discard  # type: ignore[method-assign]
    if settings.echo_delay:
        delay = settings.echo_delay

        def slow_echo() -> int:
            time.sleep(delay)  # stands for blocking work: an fsync, a database call
            return 0

        ae.on_c_echo = slow_echo  # type: ignore[method-assign]
    return ae


def _server_main(settings: ServerSettings, pipe: Pipe) -> None:
    """Run one server; answer ``stats`` and ``stop`` on ``pipe`` from a second thread."""
    ae = _make_ae(settings)
    run: Callable[[], object]
    stop: Callable[[], object]
    if settings.model == "A":
        run, stop = ae.start, ae.stop
    else:
        threads = settings.handler_threads if settings.model == "B+pool" else 0
        server = SelectorServer(ae, handler_threads=threads)
        server.bind()
        run, stop = server.serve, server.stop

    def control() -> None:
        while True:
            request = pipe.recv()
            if request == "stats":
                # The control thread itself is left out of the count.
                pipe.send((time.process_time(), threading.active_count() - 1))
            elif request == "stop":
                stop()
                return

    threading.Thread(target=control, daemon=True).start()
    run()
    pipe.send("stopped")


class ServerProcess:
    """A server model in a child process: its port, CPU time and thread count."""

    def __init__(self, settings: ServerSettings) -> None:
        context = multiprocessing.get_context("spawn")
        self.settings = settings
        self.port = settings.port
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_server_main, args=(settings, child), daemon=True)
        self._process.start()
        wait_listening(self.port, self._process.is_alive)

    def stats(self) -> tuple[float, int]:
        """(CPU seconds used so far, threads other than the control thread)."""
        self._pipe.send("stats")
        cpu, threads = self._pipe.recv()
        return float(cpu), int(threads)

    def stop(self, timeout: float = 15) -> None:
        self._pipe.send("stop")
        if self._pipe.poll(timeout):
            self._pipe.recv()
        self._process.join(timeout)
        if self._process.is_alive():
            print(f"  note: {self.settings.model} did not stop in {timeout} s", file=sys.stderr)
            self._process.kill()
            self._process.join()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def wait_listening(port: int, alive: Callable[[], bool], deadline_seconds: float = 30) -> None:
    """Return once something accepts connections on ``port`` (the child has started)."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            if not alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on port {port} did not start") from None
            time.sleep(0.02)  # the child is still importing


@contextlib.contextmanager
def running(settings: ServerSettings) -> Iterator[ServerProcess]:
    server = ServerProcess(settings)
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------
# Clients


def dcmtk(tool: str) -> str:
    """DCMTK's own tool, not pynetdicom's console script of the same name."""
    conformance = str(pathlib.Path(__file__).resolve().parent.parent / "conformance")
    if conformance not in sys.path:
        sys.path.append(conformance)
    from dcmtk_tools import dcmtk_path

    return dcmtk_path(tool)


CLIENT_ENV = {**os.environ, "TCP_NODELAY": "1"}


def echo_command(port: int, repeat: int) -> list[str]:
    return [dcmtk("echoscu"), "--repeat", str(repeat), HOST, str(port)]


def store_command(port: int, path: pathlib.Path, repeat: int) -> list[str]:
    return [dcmtk("storescu"), "--repeat", str(repeat), HOST, str(port), str(path)]


def make_ct_file(directory: pathlib.Path, megabytes: float) -> pathlib.Path:
    """A CT Image of about ``megabytes`` MiB of 16-bit pixels, Implicit VR Little Endian."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, generate_uid

    columns = 1024
    rows = max(1, round(megabytes * 1024 * 1024 / 2 / columns))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(CT_IMAGE_STORAGE)
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = UID(IMPLICIT_VR_LE)
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.PatientName = "Bench^Server"
    ds.PatientID = "BENCH"
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    size = rows * columns * 2
    ds.PixelData = (bytes(range(256)) * (size // 256 + 1))[:size]
    ds["PixelData"].VR = "OW"
    path = directory / "ct.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


# --------------------------------------------------------------------------
# Measurements


@dataclasses.dataclass
class Run:
    """One measured run: wall-clock, server CPU, clients that failed."""

    wall: float
    cpu: float
    failed: int  # exited non-zero, or killed at the timeout
    clients: int
    threads: int
    timed_out: int = 0  # killed at the timeout


def run_clients(server: ServerProcess, commands: Sequence[list[str]], timeout: float) -> Run:
    """Start every command at once; wait for all; the server's CPU time over that span."""
    cpu_before, _ = server.stats()
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            command, env=CLIENT_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for command in commands
    ]
    failed = timed_out = 0
    for proc in procs:
        try:
            code = proc.wait(max(0.0, started + timeout - time.perf_counter()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = -1
            timed_out += 1
        failed += code != 0
    wall = time.perf_counter() - started
    cpu_after, threads = server.stats()
    return Run(wall, cpu_after - cpu_before, failed, len(procs), threads, timed_out)


def best(runs: Sequence[Run]) -> Run:
    """The fastest run among those with the fewest failures."""
    return min(runs, key=lambda run: (run.failed, run.wall))


def failures(run: Run) -> str:
    return f" **{run.failed}/{run.clients} failed**" if run.failed else ""


def rate_cells(work: float, unit: str) -> Callable[[list[Run]], list[str]]:
    """Throughput, wall-clock, server CPU and CPU per unit of work, of the best run."""

    def cells(runs: list[Run]) -> list[str]:
        run = best(runs)
        return [
            f"{work / run.wall:,.0f}{failures(run)}",
            f"{run.wall:.2f} s",
            f"{run.cpu:.2f} s",
            f"{run.cpu / work * 1e6:,.0f} µs",
        ]

    return cells


def latency_cells(wait: float) -> Callable[[list[Run]], list[str]]:
    def cells(runs: list[Run]) -> list[str]:
        run = best(runs)
        if run.timed_out:
            return [f"**no answer in {wait:g} s**", "-", str(run.threads)]
        if run.failed:  # echoscu gave up first (its ACSE timeout is 30 s)
            return [f"**echoscu failed after {run.wall:.1f} s**", "-", str(run.threads)]
        worst = max(r.wall for r in runs)
        return [f"{run.wall * 1e3:.0f} ms", f"{worst * 1e3:.0f} ms", str(run.threads)]

    return cells


@dataclasses.dataclass(frozen=True)
class Task:
    """One line of a table: a load to run against each model."""

    scenario: str
    load: str
    run: Callable[[ServerProcess], Run]
    cells: Callable[[list[Run]], list[str]]
    #: A run that failed (timed out) would only fail again: do not repeat it.
    once_failed: bool = False


@dataclasses.dataclass
class Options:
    runs: int
    echoes: int
    concurrency: list[int]
    echoes_per_client: int
    store_clients: list[int]
    files_per_client: int
    file_mb: float
    idle: list[int]
    idle_wait: float
    handler_delay: float
    slow_clients: int
    slow_echoes: int
    handler_threads: int
    maximum_associations: int


def echo_task(scenario: str, load: str, clients: int, repeat: int) -> Task:
    def run(server: ServerProcess) -> Run:
        return run_clients(server, [echo_command(server.port, repeat)] * clients, 120)

    return Task(scenario, load, run, rate_cells(clients * repeat, "echo"))


def store_task(clients: int, repeat: int, path: pathlib.Path) -> Task:
    megabytes = path.stat().st_size / 1e6

    def run(server: ServerProcess) -> Run:
        return run_clients(server, [store_command(server.port, path, repeat)] * clients, 300)

    load = f"{clients} x storescu --repeat {repeat}, {megabytes:.1f} MB file"
    return Task("c", load, run, rate_cells(clients * repeat * megabytes, "MB"))


def idle_task(k: int, wait: float) -> Task:
    def run(server: ServerProcess) -> Run:
        idle = [socket.create_connection((HOST, server.port)) for _ in range(k)]
        try:
            return run_clients(server, [echo_command(server.port, 1)], wait)
        finally:
            for sock in idle:
                sock.close()

    return Task("d", f"{k} idle connections", run, latency_cells(wait), once_failed=True)


def groups(
    options: Options, scenarios: str, ct: pathlib.Path | None
) -> list[tuple[int, float, list[Task]]]:
    """(maximum_associations, handler delay, tasks): one set of servers each."""
    throughput: list[Task] = []
    if "a" in scenarios:
        n = options.echoes
        throughput.append(echo_task("a", f"echoscu --repeat {n}", 1, n))
    if "b" in scenarios:
        per = options.echoes_per_client
        for clients in options.concurrency:
            load = f"{clients} x echoscu --repeat {per}"
            throughput.append(echo_task("b", load, clients, per))
    if "c" in scenarios and ct is not None:
        for clients in options.store_clients:
            throughput.append(store_task(clients, options.files_per_client, ct))
    idle = [idle_task(k, options.idle_wait) for k in options.idle] if "d" in scenarios else []
    slow: list[Task] = []
    if "e" in scenarios:
        clients, per = options.slow_clients, options.slow_echoes
        load = (
            f"{clients} x echoscu --repeat {per}, handler blocks "
            f"{options.handler_delay * 1e3:g} ms"
        )
        slow.append(echo_task("e", load, clients, per))
    return [
        (options.maximum_associations, 0.0, throughput),
        (10, 0.0, idle),  # the AE's default, so model A's pool has 11 workers
        (options.maximum_associations, options.handler_delay, slow),
    ]


#: (scenario, load) -> model -> cells
Results = dict[tuple[str, str], dict[str, list[str]]]


def measure(options: Options, models: Sequence[str], scenarios: str) -> Results:
    """Every task against every model.  The models' servers run side by side
    and take turns, run by run, in a rotating order, so that a disturbance
    from the rest of the machine is spread over all of them."""
    results: Results = {}
    with tempfile.TemporaryDirectory(prefix="dicomul-bench-") as tmp:
        ct = make_ct_file(pathlib.Path(tmp), options.file_mb) if "c" in scenarios else None
        for maximum, delay, tasks in groups(options, scenarios, ct):
            if not tasks:
                continue
            with contextlib.ExitStack() as stack:
                servers = {
                    model: stack.enter_context(
                        running(
                            ServerSettings(
                                model, free_port(), maximum, delay, options.handler_threads
                            )
                        )
                    )
                    for model in models
                }
                for task in tasks:
                    runs: dict[str, list[Run]] = {model: [] for model in models}
                    for i in range(options.runs):
                        turn = i % len(models)
                        for model in [*models[turn:], *models[:turn]]:
                            done = runs[model]
                            if task.once_failed and done and done[-1].failed:
                                continue
                            done.append(task.run(servers[model]))
                    results[(task.scenario, task.load)] = {
                        model: task.cells(done) for model, done in runs.items()
                    }
                    print(f"  measured ({task.scenario}) {task.load}", file=sys.stderr)
    return results


_RATE = ["echo/s", "wall", "server CPU", "server CPU per echo"]
#: scenario -> (heading, column headings after "load" and "model")
SCENARIOS = {
    "a": ("(a) C-ECHO throughput on one association", _RATE),
    "b": ("(b) concurrent associations: echoscu processes started at once", _RATE),
    "c": (
        "(c) concurrent C-STORE: storescu processes started at once",
        ["MB/s", "wall", "server CPU", "server CPU per MB"],
    ),
    "d": (
        "(d) one echoscu (1 echo) while K idle connections are held open; maximum_associations 10",
        ["echoscu time, best", "worst", "server threads"],
    ),
    "e": ("(e) a C-ECHO handler that blocks (4 associations at once)", _RATE),
}


def format_tables(results: Results, models: Sequence[str], title: str) -> str:
    """One Markdown table per scenario, a line per load and model."""
    lines = [f"**{title}**", ""]
    for scenario, (heading, columns) in SCENARIOS.items():
        loads = [(load, cells) for (s, load), cells in results.items() if s == scenario]
        if not loads:
            continue
        lines += [
            heading,
            "",
            "| load | model | " + " | ".join(columns) + " |",
            "|---|---|" + "---:|" * len(columns),
        ]
        for load, cells in loads:
            for model in models:
                lines.append(f"| {load} | {model} | " + " | ".join(cells[model]) + " |")
        lines.append("")
    lines.append("Models: " + "; ".join(f"**{m}**, {MODEL_NAMES[m]}" for m in models) + ".")
    return "\n".join(lines)


def environment() -> str:
    """One line naming the machine, Python, dicomul (where it was imported from) and DCMTK."""
    import platform

    import dicomul

    package = pathlib.Path(dicomul.__file__).resolve().parent
    try:
        revision = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
            cwd=package,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        revision = f"imported from {package.parent}"
    version = subprocess.run(
        [dcmtk("echoscu"), "--version"], capture_output=True, text=True, check=False
    ).stdout.split("\n", 1)[0]
    return (
        f"{platform.system()} {platform.release()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs; {platform.python_implementation()} "
        f"{platform.python_version()}; dicomul {dicomul.__version__} ({revision}); "
        f"DCMTK {version.strip('$ ').removeprefix('dcmtk: ').removeprefix('echoscu ')}"
    )


def int_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main(argv: list[str] | None = None) -> int:
    """Parse the options, measure, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add = parser.add_argument
    add("--runs", type=int, default=5, help="runs per figure; the best is kept (default 5)")
    add("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    add("--scenarios", default="abcde", help="which of a b c d e to run (default all)")
    add("--echoes", type=int, default=5000, help="(a) echoes on one association (5000)")
    add("--concurrency", type=int_list, default=[1, 4, 16, 64], help="(b) clients (1,4,16,64)")
    add("--echoes-per-client", type=int, default=50, help="(b) echoes per association (50)")
    add("--store-clients", type=int_list, default=[1, 4], help="(c) storescu processes (1,4)")
    add("--files-per-client", type=int, default=8, help="(c) stores per association (8)")
    add("--file-mb", type=float, default=4.0, help="(c) pixel data in MiB (4)")
    add("--idle", type=int_list, default=[0, 10, 11, 200], help="(d) idle conns (0,10,11,200)")
    add("--idle-wait", type=float, default=3.0, help="(d) seconds echoscu may take (3)")
    add("--handler-delay", type=float, default=0.02, help="(e) seconds the handler blocks")
    add("--slow-clients", type=int, default=4, help="(e) concurrent echoscu (4)")
    add("--slow-echoes", type=int, default=10, help="(e) echoes per association (10)")
    add("--handler-threads", type=int, default=8, help="B+pool: handler threads (8)")
    add(
        "--maximum-associations",
        type=int,
        default=100,
        help="AE.maximum_associations for a, b, c and e (100; d uses the default 10)",
    )
    add("--quick", action="store_true", help="tiny loads, one run: a smoke run of seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.echoes, args.concurrency, args.echoes_per_client = 1, 50, [1, 4], 5
        args.store_clients, args.files_per_client, args.file_mb = [2], 1, 0.5
        args.idle, args.idle_wait, args.slow_echoes = [0, 11], 1.0, 2
    models = [m for m in args.models.split(",") if m]
    if unknown := set(models) - set(MODELS):
        parser.error(f"unknown models: {', '.join(sorted(unknown))}")
    options = Options(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Options)})
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    results = measure(options, models, args.scenarios)
    title = (
        f"best of {options.runs} runs, {datetime.date.today().isoformat()}, "
        f"{time.perf_counter() - started:.0f} s in all, load average {load_before:.2f} "
        f"before and {os.getloadavg()[0]:.2f} after: {environment()}"
    )
    print(format_tables(results, models, title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
