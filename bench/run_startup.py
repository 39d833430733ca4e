"""Time whole echoscu processes, interpreter start included (issue 16).

Usage::

    python bench/run_startup.py [--runs 20] [--scp dicomul|dcmtk] [--only name,...]
                                [--baseline REVISION] [--venv DIR ...]

Starts one echo SCP on 127.0.0.1 (``dicomul echoscp``, or DCMTK's
``storescp --ignore``, which answers C-ECHO too), then runs each command
below ``--runs`` times, interleaved (one run of each in turn, so that a
burst of load on a shared machine falls on all of them alike), and prints a
Markdown table of the median and the best wall-clock time per process.
Every echoscu run must exit 0 or the benchmark stops: a failed echo is not
a fast one.

The floors (``python -S -c pass``, ``python -c pass``) say what the
interpreter alone costs; ``import dicomul_sync.apps.echoscu`` what importing
costs before a byte is sent.  ``--baseline REVISION`` adds the same two
dicomul commands run from a ``git archive`` of that revision, first on
``PYTHONPATH`` (as ``run_peers.py --baseline`` does), so that before and
after are timed in the same interleaved runs.  ``--venv DIR`` (repeatable)
adds ``DIR/bin/dicomul echoscu`` and ``import dicomul_sync.apps.echoscu``
with that environment's Python: another install to compare in the same
runs, such as a wheel installed plainly or the mypyc-compiled core.  Run it with the Python of the
environment dicomul is installed in (``.venv/bin/python``): the console
script is looked up beside it.
"""

from __future__ import annotations

import argparse
import io
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence

BIN = pathlib.Path(sys.executable).parent


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


#: A command to time: its argv and what its environment adds to ENV.
Command = tuple[list[str], dict[str, str]]


def commands(
    port: int, baseline: pathlib.Path | None, venvs: Sequence[str] = ()
) -> dict[str, Command]:
    """What to time: name -> command (those whose program is missing are left out)."""
    py = sys.executable
    peer = ["127.0.0.1", str(port)]
    found: dict[str, list[str]] = {
        "python -S -c pass": [py, "-S", "-c", "pass"],
        "python -c pass": [py, "-c", "pass"],
        "python -c 'import dicomul_sync.apps.echoscu'": [
            py,
            "-c",
            "import dicomul_sync.apps.echoscu",
        ],
        "dicomul echoscu (console script)": [str(BIN / "dicomul"), "echoscu", *peer],
        "python -m dicomul_sync.apps echoscu": [py, "-m", "dicomul_sync.apps", "echoscu", *peer],
        "DCMTK echoscu": ["/usr/bin/echoscu", *peer],
    }
    pynetdicom = shutil.which("pynetdicom")  # not installed by default: usually left out
    if pynetdicom:
        found["python -m pynetdicom echoscu"] = [py, "-m", "pynetdicom", "echoscu", *peer]
    timed: dict[str, Command] = {
        name: (argv, {}) for name, argv in found.items() if pathlib.Path(argv[0]).exists()
    }
    for venv in venvs:
        bin_dir = pathlib.Path(venv) / "bin"
        name = pathlib.Path(venv).name
        timed[f"{name}: python -c 'import dicomul_sync.apps.echoscu'"] = (
            [str(bin_dir / "python"), "-c", "import dicomul_sync.apps.echoscu"],
            {},
        )
        timed[f"{name}: dicomul echoscu (console script)"] = (
            [str(bin_dir / "dicomul"), "echoscu", *peer],
            {},
        )
    if baseline is not None:
        path = {"PYTHONPATH": f"{baseline}{os.pathsep}{baseline / 'transports'}"}
        timed["baseline: python -c 'import dicomul_sync.apps.echoscu'"] = (
            [py, "-c", "import dicomul_sync.apps.echoscu"],
            path,
        )
        timed["baseline: python -m dicomul_sync.apps echoscu"] = (
            [py, "-m", "dicomul_sync.apps", "echoscu", *peer],
            path,
        )
    return timed


def extract(revision: str, directory: pathlib.Path) -> pathlib.Path:
    """``revision`` of this repository, extracted into ``directory``."""
    root = pathlib.Path(__file__).resolve().parent.parent
    archive = subprocess.run(
        ["git", "archive", revision], cwd=root, capture_output=True, check=False
    )
    if archive.returncode:
        raise SystemExit(f"--baseline: {archive.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(directory, filter="data")
    return directory


#: The children's environment: bytecode written and read as an installed
#: package's would be (a PYTHONDONTWRITEBYTECODE=1 shell would otherwise
#: compile every module from source on every run: about twice the time),
#: and TCP_NODELAY for DCMTK's tools, which read it from there (without it
#: a small message can wait 40 ms on a delayed ACK).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["TCP_NODELAY"] = "1"
#: The children's working directory (see time_run).
WHERE = tempfile.gettempdir()


def start_scp(kind: str, port: int) -> subprocess.Popen[bytes]:
    """An echo SCP on ``port``, ready once this returns."""
    argv = (
        [str(BIN / "dicomul"), "echoscp", str(port)]
        if kind == "dicomul"
        else ["/usr/bin/storescp", "--ignore", str(port)]  # it answers C-ECHO too
    )
    scp = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            time.sleep(0.05)  # the SCP is starting: a benchmark, not library code
        else:
            return scp
    scp.kill()
    raise SystemExit(f"the {kind} echoscp did not start listening on {port}")


def time_run(argv: Sequence[str], extra: dict[str, str]) -> float:
    """One process's wall-clock time in seconds; it must succeed."""
    env = {**ENV, **extra}
    start = time.perf_counter()
    # From a directory without dicomul in it: ``-c`` and ``-m`` put the
    # current directory first on sys.path, ahead of PYTHONPATH's baseline.
    done = subprocess.run(argv, capture_output=True, check=False, env=env, cwd=WHERE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()}")
    return elapsed


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=20, help="runs of each command (default 20)")
    p.add_argument("--scp", choices=("dicomul", "dcmtk"), default="dicomul")
    p.add_argument("--only", default="", help="comma-separated substrings of the names to run")
    p.add_argument("--baseline", metavar="REVISION", help="also time dicomul at this revision")
    p.add_argument(
        "--venv",
        action="append",
        default=[],
        metavar="DIR",
        help="also time the dicomul installed in this environment (repeatable)",
    )
    args = p.parse_args(argv)
    port = free_port()
    with tempfile.TemporaryDirectory() as temporary:
        baseline = extract(args.baseline, pathlib.Path(temporary)) if args.baseline else None
        return run(args, port, commands(port, baseline, args.venv))


def run(args: argparse.Namespace, port: int, todo: dict[str, Command]) -> int:
    """Time ``todo`` into a fresh SCP on ``port``; print the table."""
    if args.only:
        wanted = args.only.split(",")
        todo = {n: a for n, a in todo.items() if any(w in n for w in wanted)}
    scp = start_scp(args.scp, port)
    times: dict[str, list[float]] = {name: [] for name in todo}
    try:
        for command in todo.values():  # one warm-up each: page cache, .pyc files
            time_run(*command)
        for _ in range(args.runs):
            for name, command in todo.items():
                times[name].append(time_run(*command))
    finally:
        scp.terminate()
        scp.wait()
    load = os.getloadavg()[0]
    print(
        f"{args.runs} runs each, interleaved, into the {args.scp} echoscp; "
        f"Python {sys.version.split()[0]} ({sys.executable}); load average {load:.2f} after"
    )
    print()
    print("| command | median | best |")
    print("|---|---:|---:|")
    for name, got in times.items():
        print(f"| {name} | {statistics.median(got) * 1e3:.1f} ms | {min(got) * 1e3:.1f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
