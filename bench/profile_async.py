"""Time and profile the async adapters (dicomul_anyio) over 127.0.0.1.

Usage::

    python bench/profile_async.py scu BACKEND OP [--peer IMPL] [--count N]
                                  [--size BYTES] [--max-pdu N] [--repeat R] [--profile]
    python bench/profile_async.py scp BACKEND OP [--peer IMPL] ...

BACKEND is ``asyncio`` or ``trio``; OP is ``echo`` (``--count`` C-ECHOs on
one association), ``store`` (a C-STORE of ``--count`` files of about
``--size`` bytes, on one association) or ``assoc`` (``--count`` times
associate, C-ECHO, release).

``scu``: this process runs the SCU (``dicomul_BACKEND.connect``) against an
SCP process of ``_peer_scp.py`` (``--peer``, ``dicomul-sync`` by default,
discarding); ``scp``: this process runs ``dicomul_BACKEND.serve`` (a
discarding sink) against an SCU process of ``_peer_scu.py``.  Each run
prints this process's CPU time per operation (steadier than wall-clock on
a shared machine) and, in ``scu`` mode, the SCP process's; the best of
``--repeat`` runs is kept.  ``--profile`` adds cProfile's top functions
(by internal time, or in the order ``PROFILE_SORT`` names: ``cumulative``)
of one more run, the main thread's only (a worker thread's file reads are
not in it).  The figures that count are ``run_peers.py``'s; this is what
the async speed work (issue 16) was guided by.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pathlib
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import peers

BENCH = pathlib.Path(__file__).resolve().parent
VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
SYNTAXES = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def scp_process(impl: str, max_pdu: int) -> Iterator[tuple[int, int]]:
    """An SCP process of ``_peer_scp.py``: its port and pid."""
    port = peers.free_port()
    command = [sys.executable, str(BENCH / "_peer_scp.py"), impl, str(port)]
    proc = subprocess.Popen([*command, f"--max-pdu={max_pdu}"])
    try:
        deadline = time.monotonic() + 20
        while not peers.listening(port):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the SCP did not start")
            time.sleep(0.05)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait()


def run_scu(args: argparse.Namespace, files: list[str], port: int) -> float:
    """One SCU run in this process; its CPU seconds."""
    if args.backend == "sync":
        return run_sync_scu(args, files, port)
    import anyio

    module = __import__(f"dicomul_{args.backend}")
    options: dict[str, object] = {
        "sop_classes": [VERIFICATION, CT],
        "transfer_syntaxes": SYNTAXES,
        "max_pdu_length": args.max_pdu,
    }

    async def main() -> None:
        if args.op == "assoc":
            for _ in range(args.count):
                async with module.connect("127.0.0.1", port, **options) as assoc:
                    assert (await assoc.c_echo()).Status == 0
            return
        async with module.connect("127.0.0.1", port, **options) as assoc:
            if args.op == "echo":
                for _ in range(args.count):
                    assert (await assoc.c_echo()).Status == 0
            else:
                for path in files:
                    assert (await assoc.c_store(path)).Status == 0

    started = time.process_time()
    anyio.run(main, backend=args.backend)
    return time.process_time() - started


def run_sync_scu(args: argparse.Namespace, files: list[str], port: int) -> float:
    """:func:`run_scu` with the blocking adapter, for reference."""
    from dicomul_sync import AE

    ae = AE(ae_title="PROFILE", scu_sop_class=[VERIFICATION, CT], transfer_syntax=SYNTAXES)
    started = time.process_time()
    for _ in range(args.count if args.op == "assoc" else 1):
        assoc = ae.associate("127.0.0.1", port, max_pdu=args.max_pdu or None)
        assert assoc.is_established
        if args.op == "echo":
            for _ in range(args.count):
                assert assoc.echo().status == 0  # type: ignore[union-attr]
        elif args.op == "store":
            for path in files:
                assert assoc.send_c_store(path).Status == 0
        else:
            assert assoc.echo().status == 0  # type: ignore[union-attr]
        assoc.release()
    return time.process_time() - started


def run_scp(args: argparse.Namespace, files: list[str]) -> tuple[float, float]:
    """One SCP run in this process against an SCU process: this process's
    CPU seconds and the wall-clock seconds the SCU took."""
    import anyio

    module = __import__(f"dicomul_{args.backend}")
    port = peers.free_port()
    result: list[float] = []

    class Sink:
        async def write(self, data: bytes | memoryview) -> None:
            pass

        async def commit(self) -> int | None:
            return None

        async def discard(self) -> None:
            pass

    async def on_c_echo(*_: object) -> int:
        return 0

    async def on_c_store_stream(*_: object) -> Sink:
        return Sink()

    handlers = module.Handlers(on_c_echo=on_c_echo, on_c_store_stream=on_c_store_stream)
    op = "echo" if args.op == "echo" else args.op
    scu = [sys.executable, str(BENCH / "_peer_scu.py")]
    scu += [f"--count={args.count}", f"--max-pdu={args.max_pdu}"]
    scu += [args.peer, op, "127.0.0.1", str(port), *files]

    async def main() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(
                lambda: module.serve(
                    handlers,
                    host="127.0.0.1",
                    port=port,
                    scp_sop_classes=[VERIFICATION, CT],
                    transfer_syntaxes=SYNTAXES,
                    max_pdu_length=args.max_pdu,
                )
            )
            while not peers.listening(port):
                await anyio.sleep(0.02)
            started, wall = time.process_time(), time.perf_counter()
            done = await anyio.run_process(scu, check=True)
            result.extend([time.process_time() - started, time.perf_counter() - wall])
            del done
            group.cancel_scope.cancel()

    anyio.run(main, backend=args.backend)
    return result[0], result[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("role", choices=["scu", "scp"])
    parser.add_argument("backend", choices=["asyncio", "trio", "sync"])
    parser.add_argument("op", choices=["echo", "store", "assoc"])
    parser.add_argument("--peer", default=None, help="the other process's impl")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--size", type=int, default=512 * 1024)
    parser.add_argument("--max-pdu", type=int, default=16384)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    if args.peer is None:
        args.peer = "dicomul-sync" if args.role == "scu" else f"dicomul-{args.backend}"
    files: list[str] = []
    if args.op == "store":
        directory = pathlib.Path(tempfile.gettempdir()) / f"dicomul-prof-{args.size}"
        made = peers.peer_data.make_series(directory, args.count, args.size)
        files = [str(p) for p in made]
    unit = "file" if args.op == "store" else args.op
    best: tuple[float, float] | None = None
    for _ in range(args.repeat):
        if args.role == "scu":
            with scp_process(args.peer, args.max_pdu) as (port, pid):
                before = _cpu_of(pid)
                wall = time.perf_counter()
                cpu = run_scu(args, files, port)
                wall = time.perf_counter() - wall
                other = _cpu_of(pid) - before
        else:
            cpu, wall = run_scp(args, files)
            other = float("nan")
        print(
            f"{args.role} {args.backend} {args.op}: {cpu / args.count * 1e6:,.0f} us CPU/{unit}"
            f" (peer {other / args.count * 1e6:,.0f}), wall {args.count / wall:,.0f} {unit}s/s",
            flush=True,
        )
        if best is None or cpu < best[0]:
            best = (cpu, other)
    assert best is not None
    print(
        f"BEST {args.role} {args.backend} {args.op}: {best[0] / args.count * 1e6:,.0f} us/{unit}"
    )
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        if args.role == "scu":
            with scp_process(args.peer, args.max_pdu) as (port, _pid):
                run_scu(args, files, port)
        else:
            run_scp(args, files)
        profiler.disable()
        out = io.StringIO()
        order = os.environ.get("PROFILE_SORT", "tottime")  # or cumulative...
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(35)
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
