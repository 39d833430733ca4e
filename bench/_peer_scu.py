"""One SCU process of the peer benchmark: do the work, time it inside, print JSON.

Usage::

    python bench/_peer_scu.py IMPL OP HOST PORT [--count N] [--max-pdu N]
                              [--window W] [FILE-OR-DIR ...]

IMPL is ``dicomul-sync``, ``dicomul-asyncio``, ``dicomul-trio`` or
``pynetdicom`` (DCMTK's tools are run as they are by ``peers.py``).  OP is

* ``assoc``: ``--count`` times associate, C-ECHO, release;
* ``echo``: one association, ``--count`` C-ECHOs;
* ``store``: one association, a C-STORE of every file (directories are
  listed in name order); with the async adapters, ``--window`` of them
  outstanding at once: ``connect(max_operations=W)`` proposes that
  asynchronous operations window (PS3.7 D.3.3.3) and the run stops with
  an error unless the SCP grants all of it.

The last line on stdout is one JSON object: ``elapsed`` (seconds, from
before the first association request to after the last release, taken
with ``time.perf_counter`` inside this process: interpreter start and
imports are not in it), ``span`` (the same two ``perf_counter`` readings,
comparable between processes on Linux), ``statuses`` (hex status -> count of final
responses), ``requests`` (operations attempted), ``peak_rss_kib`` (this
process's peak resident set), ``window`` (the operations window granted
and used), ``most_outstanding`` (the most requests seen outstanding at
once, async adapters only) and ``error`` (None, or why the run stopped).  The exit status is 0 when
the run went to its end, whatever the statuses: ``peers.py`` verifies them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pathlib
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

VERIFICATION = "1.2.840.10008.1.1"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
SYNTAXES = [EXPLICIT_LE, IMPLICIT_LE]
SOP_CLASSES = [VERIFICATION, CT_IMAGE_STORAGE]


def files_of(paths: list[str]) -> list[str]:
    """Every file named, and the files in each directory named, in name order."""
    found: list[str] = []
    for name in paths:
        path = pathlib.Path(name)
        if path.is_dir():
            found += sorted(str(p) for p in path.iterdir() if p.is_file())
        else:
            found.append(str(path))
    return found


class Tally:
    """Final statuses seen, and the operations attempted."""

    def __init__(self) -> None:
        self.statuses: Counter[str] = Counter()
        self.requests = 0
        self.most_outstanding = 0

    def add(self, status: int | None) -> None:
        self.requests += 1
        self.statuses["none" if status is None else f"0x{int(status):04X}"] += 1

    def outstanding(self, count: int) -> None:
        self.most_outstanding = max(self.most_outstanding, count)


# ---------------------------------------------------------------- dicomul sync


def run_dicomul_sync(args: argparse.Namespace, files: list[str], tally: Tally) -> int:
    from dicomul_sync import AE

    ae = AE(ae_title="BENCHSCU", scu_sop_class=SOP_CLASSES, transfer_syntax=SYNTAXES)
    ae.acse_timeout = 60
    max_pdu = args.max_pdu or None
    port = args.port

    def associate() -> Any:
        assoc = ae.associate(args.host, port, max_pdu=max_pdu)
        if not assoc.is_established:
            raise RuntimeError("association not established")
        return assoc

    if args.op == "assoc":
        for _ in range(args.count):
            assoc = associate()
            response = assoc.echo()
            tally.add(None if response is None else response.status)
            assoc.release()
        return 1
    assoc = associate()
    try:
        if args.op == "echo":
            for _ in range(args.count):
                response = assoc.echo()
                tally.add(None if response is None else response.status)
        else:
            for path in files:
                answer = assoc.send_c_store(path)
                tally.add(None if answer is None else answer.Status)
    finally:
        assoc.release()
    return 1


# ---------------------------------------------------------------- dicomul async


def run_dicomul_async(args: argparse.Namespace, files: list[str], tally: Tally) -> int:
    import anyio

    backend = args.impl.removeprefix("dicomul-")
    module = __import__(f"dicomul_{backend}")
    window = args.window if args.op == "store" else 1
    options: dict[str, object] = {
        "sop_classes": SOP_CLASSES,
        "transfer_syntaxes": SYNTAXES,
        "ae_title": "BENCHSCU",
        "acse_timeout": 60.0,
        "max_operations": window,
    }
    if args.max_pdu:
        options["max_pdu_length"] = args.max_pdu

    async def main() -> None:
        if args.op == "assoc":
            for _ in range(args.count):
                async with module.connect(args.host, args.port, **options) as assoc:
                    tally.add((await assoc.c_echo()).Status)
            return
        async with module.connect(args.host, args.port, **options) as assoc:
            if args.op == "echo":
                for _ in range(args.count):
                    tally.add((await assoc.c_echo()).Status)
                return
            granted = assoc.negotiated.requestor_max_invoked
            if window > 1 and granted != window:  # 0 would be unlimited: not what was asked
                raise RuntimeError(f"asked for window {window}, the SCP granted {granted}")
            queue: Iterator[str] = iter(files)

            async def worker() -> None:
                for path in queue:
                    tally.add((await assoc.c_store(path)).Status)
                    tally.outstanding(len(assoc.outstanding_requests) + 1)

            async with anyio.create_task_group() as group:
                for _ in range(window):
                    group.start_soon(worker)
            if window > 1 and len(files) > 1 and tally.most_outstanding < 2:
                raise RuntimeError(f"window {window} granted, yet one request at a time went out")

    anyio.run(main, backend=backend)
    return window


# ---------------------------------------------------------------- pynetdicom


def run_pynetdicom(args: argparse.Namespace, files: list[str], tally: Tally) -> int:
    import logging

    from pynetdicom import AE, _config

    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    # Stream each file from disk (pynetdicom 2.1+), as the other peers do.
    _config.STORE_SEND_CHUNKED_DATASET = True
    ae = AE(ae_title="BENCHSCU")
    ae.add_requested_context(VERIFICATION)
    ae.add_requested_context(CT_IMAGE_STORAGE, SYNTAXES)
    ae.maximum_pdu_size = args.max_pdu
    ae.acse_timeout = 60
    # pynetdicom 3.0.4 now and then never sees a response (its peer sent
    # it): fail such a run after 15 s rather than its default 30.
    ae.dimse_timeout = 15

    def associate() -> Any:
        assoc = ae.associate(args.host, args.port, max_pdu=args.max_pdu)
        if not assoc.is_established:
            raise RuntimeError("association not established")
        return assoc

    def status(answer: Any) -> int | None:
        return None if answer is None or "Status" not in answer else int(answer.Status)

    if args.op == "assoc":
        for _ in range(args.count):
            assoc = associate()
            tally.add(status(assoc.send_c_echo()))
            assoc.release()
        return 1
    assoc = associate()
    try:
        if args.op == "echo":
            for _ in range(args.count):
                tally.add(status(assoc.send_c_echo()))
        else:
            for path in files:
                tally.add(status(assoc.send_c_store(path)))
    finally:
        assoc.release()
    return 1


#: Imported before the clock starts: the whole-process scenario times imports.
PREIMPORTS = {
    "dicomul-sync": ("pydicom", "dicomul_sync", "dicomul_common.outgoing"),
    "dicomul-asyncio": ("pydicom", "anyio", "dicomul_asyncio"),
    "dicomul-trio": ("pydicom", "anyio", "trio", "dicomul_trio"),
    "pynetdicom": ("pydicom", "pynetdicom"),
}

IMPLS: dict[str, Callable[[argparse.Namespace, list[str], Tally], int]] = {
    "dicomul-sync": run_dicomul_sync,
    "dicomul-asyncio": run_dicomul_async,
    "dicomul-trio": run_dicomul_async,
    "pynetdicom": run_pynetdicom,
}


def peak_rss_kib() -> int | None:
    """This process's peak resident set (VmHWM; ``ru_maxrss`` would count
    the parent's pages the fork copied before the exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("impl", choices=sorted(IMPLS))
    parser.add_argument("op", choices=["assoc", "echo", "store"])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--max-pdu", type=int, default=16384, help="0: no limit")
    parser.add_argument("--window", type=int, default=1)
    parser.add_argument("--ready-dir", help="touch a file here when ready, then wait for stdin")
    args = parser.parse_args(argv)
    files = files_of(args.paths)
    for module in PREIMPORTS[args.impl]:  # outside the timed span, for every library alike
        importlib.import_module(module)
    if args.ready_dir:  # started beside others: say so, then wait for the word
        pathlib.Path(args.ready_dir, str(os.getpid())).touch()
        sys.stdin.readline()
    tally = Tally()
    error = None
    window = 1
    started = time.perf_counter()
    try:
        window = IMPLS[args.impl](args, files, tally)
    except Exception as exc:  # reported, and the run fails verification
        error = f"{type(exc).__name__}: {exc}"
    elapsed = time.perf_counter() - started
    report = {
        "impl": args.impl,
        "op": args.op,
        "elapsed": elapsed,
        # perf_counter is CLOCK_MONOTONIC on Linux, one clock for every
        # process: several clients' spans can be put together.
        "span": [started, started + elapsed],
        "statuses": dict(tally.statuses),
        "requests": tally.requests,
        "peak_rss_kib": peak_rss_kib(),
        "window": window,
        "most_outstanding": tally.most_outstanding or None,
        "error": error,
        "pid": os.getpid(),
    }
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
