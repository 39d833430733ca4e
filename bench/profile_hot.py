"""Time and profile dicomul's per-message path, core alone or over sockets.

Usage::

    python bench/profile_hot.py core-echo [--count N] [--repeat R] [--profile]
    python bench/profile_hot.py core-store [--count N] [--size BYTES] [--max-pdu N] [--profile]
    python bench/profile_hot.py sync-echo [--count N] [--profile scu|scp]
    python bench/profile_hot.py sync-store [--count N] [--size BYTES] [--max-pdu N]
                                           [--profile scu|scp]

``core-*`` drive a requestor and an acceptor :class:`dicomul.Connection` in
memory, one adapter loop of a few lines with no socket: what is left is
the core's own per-message work.  ``sync-*`` run the blocking adapter over
127.0.0.1: this process's ``dicomul_sync`` SCU against a ``dicomul
storescp --ignore`` process, or (``--profile scp``) this process's SCP,
the worker thread profiled, against an SCU process of ``_peer_scu.py``
(``--profile scp-cpu``: not profiled, the worker thread's CPU time per
operation printed, association included: steadier than the rates on a
busy machine).
Each prints the rate; ``--profile`` adds cProfile's top functions (by
internal time).  These are the profiles the speed work (issue 16) was
guided by; ``run_peers.py`` makes the figures that count.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pathlib
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

import peers

from dicomul import (
    NEED_DATA,
    AcceptAssociation,
    AcceptorConfig,
    AssociationRequest,
    CommandReceived,
    Connection,
    DataSetFragment,
    RequestAssociation,
    Role,
    SupportedContext,
    c_echo_rq,
    c_store_rq,
    propose_contexts,
    response_for,
)

VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"


def timed(work: Callable[[], None], *, profile: bool, repeat: int) -> float:
    """Seconds ``work`` takes: the best of ``repeat`` runs (the one least
    disturbed by the rest of a shared machine), or one profiled run."""
    if profile:
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.runcall(work)
        elapsed = time.perf_counter() - started
        show(profiler)
        return elapsed
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def show(profile: cProfile.Profile, top: int = 35) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    print(out.getvalue())


# ------------------------------------------------------------------ in memory


def _pump(conn: Connection, other: Connection, sink: list[object]) -> None:
    """Hand what ``conn`` queued to ``other`` and take ``other``'s events."""
    data = conn.data_to_send()
    if data:
        conn.wrote(now=0.0)
        other.receive_data(data, now=0.0)
    while (event := other.next_event()) is not NEED_DATA:
        sink.append(event)


def _associated(max_pdu: int) -> tuple[Connection, Connection]:
    scu, scp = Connection(Role.REQUESTOR), Connection(Role.ACCEPTOR)
    request = AssociationRequest(
        calling_ae_title="SCU",
        called_ae_title="SCP",
        contexts=propose_contexts([VERIFICATION, CT], [EXPLICIT]),
        max_pdu_length=max_pdu,
    )
    supported = SupportedContext(transfer_syntaxes=(EXPLICIT,))
    config = AcceptorConfig(
        ae_title="SCP", supported={VERIFICATION: supported, CT: supported}, max_pdu_length=max_pdu
    )
    scu.send(RequestAssociation(request=request), now=0.0)
    scp.transport_connected(now=0.0)
    scu.transport_connected(now=0.0)
    events: list[object] = []
    _pump(scu, scp, events)
    scp.send(AcceptAssociation(config=config), now=0.0)
    _pump(scp, scu, events)
    assert scu.can_send_messages, events
    assert scp.can_send_messages, events
    return scu, scp


def core_echo(args: argparse.Namespace) -> None:
    count = args.count
    scu, scp = _associated(16384)
    got: list[object] = []

    def work() -> None:
        for message_id in range(1, count + 1):
            request = c_echo_rq(message_id)
            scu.send_message(1, request, now=0.0)
            _pump(scu, scp, got)
            (received,) = got
            got.clear()
            assert isinstance(received, CommandReceived)
            scp.send_message(1, response_for(received.command, 0), now=0.0)
            _pump(scp, scu, got)
            got.clear()

    elapsed = timed(work, profile=bool(args.profile), repeat=args.repeat)
    print(f"core-echo: {count / elapsed:,.0f} round trips/s ({elapsed * 1e6 / count:.1f} µs each)")


def core_store(args: argparse.Namespace) -> None:
    count, size, max_pdu = args.count, args.size, args.max_pdu
    scu, scp = _associated(max_pdu)
    data = os.urandom(size)
    chunk = 256 * 1024
    got: list[object] = []

    def work() -> None:
        for message_id in range(1, count + 1):
            request = c_store_rq(message_id, CT, f"1.2.3.{message_id}")
            message = scu.start_message(3, request, length=size, now=0.0)
            for start in range(0, size, chunk):
                message.push(memoryview(data)[start : start + chunk], now=0.0)
                _pump(scu, scp, got)
            message.finish(now=0.0)
            _pump(scu, scp, got)
            received = [e for e in got if isinstance(e, DataSetFragment)]
            assert sum(len(f.data) for f in received) == size
            command = got[0]
            assert isinstance(command, CommandReceived)
            got.clear()
            scp.send_message(3, response_for(command.command, 0), now=0.0)
            _pump(scp, scu, got)
            got.clear()

    elapsed = timed(work, profile=bool(args.profile), repeat=args.repeat)
    print(
        f"core-store: {count * size / elapsed / 1e6:,.0f} MB/s, {count / elapsed:,.0f} "
        f"messages/s ({size} bytes, max PDU {max_pdu})"
    )


# ------------------------------------------------------------------ sockets


@contextlib.contextmanager
def scp_process(max_pdu: int) -> Iterator[int]:
    port = peers.free_port()
    command = [*peers.dicomul_console_script(), "storescp", "--ignore"]
    proc = subprocess.Popen([*command, f"--max-pdu={max_pdu}", str(port)])
    try:
        deadline = time.monotonic() + 20
        while not peers.listening(port):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the SCP did not start")
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait()


def data_files(directory: pathlib.Path, count: int, size: int) -> list[str]:
    return [str(p) for p in peers.peer_data.make_series(directory, count, size)]


def sync_scu(op: str, args: argparse.Namespace) -> None:
    count, size, max_pdu = args.count, args.size, args.max_pdu
    from dicomul_sync import AE

    ae = AE(ae_title="PROFILE", scu_sop_class=[VERIFICATION, CT], transfer_syntax=[EXPLICIT])
    with tempfile.TemporaryDirectory() as tmp, scp_process(max_pdu) as port:
        files = data_files(pathlib.Path(tmp), count, size) if op == "store" else []
        assoc = ae.associate("127.0.0.1", port, max_pdu=max_pdu or None)
        assert assoc.is_established

        def work() -> None:
            if op == "echo":
                for _ in range(count):
                    assert assoc.echo().status == 0  # type: ignore[union-attr]
            else:
                for path in files:
                    assert assoc.send_c_store(path).Status == 0  # type: ignore[union-attr]

        cpu = time.process_time()
        elapsed = timed(work, profile=bool(args.profile), repeat=args.repeat)
        cpu = time.process_time() - cpu
        assoc.release()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    report(op, count, size, elapsed)
    runs = count * (1 if args.profile else args.repeat)
    print(
        f"  CPU per operation: SCU {cpu / runs * 1e6:.0f} µs, SCP "
        f"{(children.ru_utime + children.ru_stime) / runs * 1e6:.0f} µs (association included)"
    )


def sync_scp(op: str, args: argparse.Namespace) -> None:
    """This process's SCP (its worker thread profiled) against an SCU process."""
    count, size, max_pdu = args.count, args.size, args.max_pdu
    import threading

    from dicomul_sync import AE
    from dicomul_sync.server import Server

    profile = cProfile.Profile()
    serve_one = Server._serve_one
    thread_cpu: list[float] = []

    def profiled_serve_one(self: Server, *args: object) -> None:
        if args_cpu_only:
            started = time.thread_time()
            try:
                serve_one(self, *args)  # type: ignore[arg-type]
            finally:
                thread_cpu.append(time.thread_time() - started)
            return
        profile.enable()
        try:
            serve_one(self, *args)  # type: ignore[arg-type]
        finally:
            profile.disable()

    args_cpu_only = args.profile == "scp-cpu"

    Server._serve_one = profiled_serve_one  # type: ignore[method-assign]
    ae = AE(ae_title="PROFILE", port=peers.free_port(), transfer_syntax=[EXPLICIT])
    ae.scp_sop_class = [VERIFICATION, CT]
    ae.maximum_pdu_size = max_pdu
    from dicomul_sync.apps.storescp import Discard

    ae.on_c_store_stream = lambda request: Discard()  # as storescp --ignore
    server = threading.Thread(target=ae.start, daemon=True)
    server.start()
    while not peers.listening(ae.port):
        time.sleep(0.05)
    with tempfile.TemporaryDirectory() as tmp:
        files = data_files(pathlib.Path(tmp), count, size) if op == "store" else []
        command = [sys.executable, str(peers.BENCH / "_peer_scu.py"), f"--count={count}"]
        command += [f"--max-pdu={max_pdu}", "dicomul-sync", op, "127.0.0.1", str(ae.port)]
        done = subprocess.run([*command, *files], capture_output=True, text=True, check=True)
    ae.stop()
    print(done.stdout.strip().splitlines()[-1])
    if args_cpu_only:
        print(f"  SCP worker thread CPU per operation: {sum(thread_cpu) / count * 1e6:.1f} µs")
        return
    show(profile)


def report(op: str, count: int, size: int, elapsed: float) -> None:
    if op == "echo":
        print(f"sync-echo: {count / elapsed:,.0f} round trips/s")
    else:
        print(f"sync-store: {count * size / elapsed / 1e6:,.0f} MB/s, {count / elapsed:,.0f}/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("what", choices=("core-echo", "core-store", "sync-echo", "sync-store"))
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5, help="runs; the best is shown")
    parser.add_argument("--size", type=int, default=512 * 1024)
    parser.add_argument("--max-pdu", type=int, default=16384)
    parser.add_argument("--profile", nargs="?", const="scu", choices=("scu", "scp", "scp-cpu"))
    args = parser.parse_args()
    if args.what == "core-echo":
        core_echo(args)
    elif args.what == "core-store":
        core_store(args)
    elif args.profile in ("scp", "scp-cpu"):
        sync_scp(args.what.split("-")[1], args)
    else:
        sync_scu(args.what.split("-")[1], args)


if __name__ == "__main__":
    main()
