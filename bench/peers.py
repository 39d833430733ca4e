"""The peer-to-peer benchmark: peers, scenarios, verified and interleaved runs.

An SCU process against an SCP process on 127.0.0.1.  Each side is one of
the :data:`PEERS` (dicomul's blocking adapter and apps, its asyncio and trio
adapters, DCMTK's tools, pynetdicom); a scenario runs a list of pairs,
mixed pairs included, and every pair's runs are interleaved with the other
pairs' (the order rotating each repetition) so that load from the rest of
the machine falls on all of them alike.  ``run_peers.py`` is the command;
this module is the machinery, ``peer_scenarios.py`` the scenarios.

What keeps the figures honest:

* **Verified.**  A run counts only if every process exited 0, the SCU
  reported as many final responses as requests it was asked to make and
  every one of them Success (the JSON of ``_peer_scu.py``, or the
  ``Received ... Response (Success)`` lines DCMTK's and pynetdicom's tools
  print with ``-v``), and, when the SCP keeps what it receives, as many
  files arrived as were sent.  A pair with a failed run gets no figure.
* **Like with like.**  Protocol speed is measured against SCPs that discard
  (dicomul's ``storescp --ignore``, DCMTK's ``storescp --ignore``, a
  pynetdicom handler that returns Success without decoding); the durable
  write mode is a separate scenario, beside a plain write+fsync loop over
  the same files.  DCMTK pairs run with and without ``TCP_NODELAY=1`` (the
  variable DCMTK reads) and keep the better median.
* **Timed inside and outside.**  The Python SCUs time themselves
  (``perf_counter`` from the first association request to the last
  release); every run also has its wall-clock time, interpreter start
  included.  DCMTK's tools have wall-clock only.
"""

from __future__ import annotations

import compileall
import contextlib
import dataclasses
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO

import peer_data

HOST = "127.0.0.1"
BENCH = pathlib.Path(__file__).resolve().parent
MIB = 1024 * 1024
DCMTK_LARGEST_PDU = 131072  # DCMTK's -pdu range is 4096..131072


def dcmtk(tool: str) -> str:
    """The absolute path of DCMTK's ``tool`` (pynetdicom's console scripts
    of the same names shadow them on a venv's PATH)."""
    conformance = str(BENCH.parent / "conformance")
    if conformance not in sys.path:
        sys.path.append(conformance)
    from dcmtk_tools import dcmtk_path

    return dcmtk_path(tool)


def dicomul_console_script() -> list[str]:
    """The ``dicomul`` console script of this interpreter's environment
    (``python -m dicomul_sync.apps`` where it is not installed)."""
    script = pathlib.Path(sys.executable).parent / "dicomul"
    return [str(script)] if script.exists() else [sys.executable, "-m", "dicomul_sync.apps"]


# --------------------------------------------------------------------------
# Jobs: what one SCU or SCP process is asked to do


@dataclasses.dataclass(frozen=True)
class ScuJob:
    """One SCU run: ``op`` is assoc, echo, store or process (a whole echoscu)."""

    op: str
    port: int
    count: int = 1
    paths: tuple[str, ...] = ()
    max_pdu: int = 16384  # 0: no limit
    window: int = 1
    #: The Python SCUs: signal readiness (a file here) and wait for a line on
    #: stdin before starting, so that several start their work together.
    ready_dir: str | None = None


@dataclasses.dataclass(frozen=True)
class ScpJob:
    """One SCP process: ``mode`` is discard, write or refuse."""

    port: int
    mode: str = "discard"
    directory: str | None = None
    max_pdu: int = 16384  # 0: no limit
    fork: bool = False  # DCMTK's and dicomul's storescp: a process per association
    chunked: bool = False  # pynetdicom: receive data sets into a file
    #: dicomul sync: the asynchronous operations window it accepts
    #: (``AE.maximum_operations_performed``, PS3.7 D.3.3.3).
    window: int = 1


def _python_scu(impl: str) -> Callable[[ScuJob], list[list[str]]]:
    def commands(job: ScuJob) -> list[list[str]]:
        if job.op == "process":
            raise NotImplementedError
        return [
            [
                sys.executable,
                str(BENCH / "_peer_scu.py"),
                f"--count={job.count}",
                f"--max-pdu={job.max_pdu}",
                f"--window={job.window}",
                *([f"--ready-dir={job.ready_dir}"] if job.ready_dir else []),
                impl,
                job.op,
                HOST,
                str(job.port),
                *job.paths,
            ]
        ]

    return commands


def _dicomul_sync_scu(job: ScuJob) -> list[list[str]]:
    if job.op == "process":
        return [[*dicomul_console_script(), "echoscu", "-v", HOST, str(job.port)]] * job.count
    return _python_scu("dicomul-sync")(job)


def _pynetdicom_scu(job: ScuJob) -> list[list[str]]:
    if job.op == "process":
        echoscu = [sys.executable, "-m", "pynetdicom", "echoscu", "-v"]
        return [[*echoscu, HOST, str(job.port)]] * job.count
    return _python_scu("pynetdicom")(job)


def _dcmtk_pdu(max_pdu: int) -> list[str]:
    return ["--max-pdu", str(min(max_pdu or DCMTK_LARGEST_PDU, DCMTK_LARGEST_PDU))]


def _dcmtk_scu(job: ScuJob) -> list[list[str]]:
    address = [HOST, str(job.port)]
    if job.op in ("assoc", "process"):  # one association per process
        return [[dcmtk("echoscu"), "-v", *address]] * job.count
    if job.op == "echo":
        return [
            [
                dcmtk("echoscu"),
                "-v",
                "--repeat",
                str(job.count),
                *_dcmtk_pdu(job.max_pdu),
                *address,
            ]
        ]
    return [[dcmtk("storescu"), "-v", *_dcmtk_pdu(job.max_pdu), *address, *job.paths]]


def _dicomul_sync_scp(job: ScpJob) -> list[str]:
    if job.mode == "refuse" or job.window != 1:  # the storescp app has neither option
        return _python_scp("dicomul-sync")(job)
    command = [*dicomul_console_script(), "storescp", f"--max-pdu={job.max_pdu}"]
    command += ["--max-associations=64"]
    if job.fork:
        command.append("--fork")
    if job.mode == "discard":
        command.append("--ignore")
    else:
        command.append(f"--output-directory={job.directory}")
    return [*command, str(job.port)]


def _python_scp(impl: str) -> Callable[[ScpJob], list[str]]:
    def command(job: ScpJob) -> list[str]:
        line = [sys.executable, str(BENCH / "_peer_scp.py"), impl, str(job.port)]
        line += [f"--mode={job.mode}", f"--max-pdu={job.max_pdu}"]
        if job.directory:
            line.append(f"--directory={job.directory}")
        if job.chunked:
            line.append("--chunked")
        if job.window != 1:
            line.append(f"--window={job.window}")
        return line

    return command


def _dcmtk_scp(job: ScpJob) -> list[str]:
    if job.mode == "refuse":
        raise NotImplementedError("DCMTK's storescp cannot be told to refuse")
    command = [dcmtk("storescp"), *_dcmtk_pdu(job.max_pdu)]
    if job.fork:
        command.append("--fork")
    if job.mode == "discard":
        command.append("--ignore")
    else:
        command += ["--output-directory", str(job.directory)]
    return [*command, str(job.port)]


@dataclasses.dataclass(frozen=True)
class Peer:
    """One implementation, as SCU and as SCP (a table row: add one to bench another)."""

    name: str
    label: str
    #: The largest PDU it receives (0: no limit): both ends of a "largest PDU" run.
    largest_pdu: int
    scu: Callable[[ScuJob], list[list[str]]]
    scp: Callable[[ScpJob], list[str]]
    #: DCMTK: runs with and without TCP_NODELAY=1, keeping the better.
    dcmtk: bool = False


PEERS: dict[str, Peer] = {
    peer.name: peer
    for peer in (
        Peer("dicomul-sync", "dicomul sync", 0, _dicomul_sync_scu, _dicomul_sync_scp),
        Peer(
            "dicomul-asyncio",
            "dicomul asyncio",
            0,
            _python_scu("dicomul-asyncio"),
            _python_scp("dicomul-asyncio"),
        ),
        Peer(
            "dicomul-trio",
            "dicomul trio",
            0,
            _python_scu("dicomul-trio"),
            _python_scp("dicomul-trio"),
        ),
        Peer("dcmtk", "DCMTK", DCMTK_LARGEST_PDU, _dcmtk_scu, _dcmtk_scp, dcmtk=True),
        Peer("pynetdicom", "pynetdicom", 0, _pynetdicom_scu, _python_scp("pynetdicom")),
    )
}


#: The peer ``--baseline REV`` adds: dicomul sync of another revision.
BASELINE = "dicomul-sync-baseline"
#: Each dicomul peer's twin at the ``--baseline`` revision (sync, asyncio, trio).
BASELINES = {
    "dicomul-sync": BASELINE,
    "dicomul-asyncio": "dicomul-asyncio-baseline",
    "dicomul-trio": "dicomul-trio-baseline",
}
#: Where each importable package lives in the repository (pyproject.toml's package-dir).
PACKAGE_DIRS = {
    "dicomul": "dicomul",
    **{
        name: f"transports/{name}"
        for name in ("dicomul_common", "dicomul_sync", "dicomul_anyio", "dicomul_asyncio")
    },
    "dicomul_trio": "transports/dicomul_trio",
}


def add_baseline(revision: str, directory: pathlib.Path) -> str:
    """Add :data:`BASELINES`, dicomul sync, asyncio and trio at ``revision``
    (a git revision of this repository, extracted into ``directory`` and put
    first on the ``PYTHONPATH`` of its processes), so that before and after
    are measured in the same run, interleaved; the commit it names."""
    import io
    import shutil
    import tarfile

    root = BENCH.parent
    commit = subprocess.run(
        ["git", "rev-parse", "--short", revision],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if commit.returncode:
        raise SystemExit(f"--baseline: no revision {revision!r}: {commit.stderr.strip()}")
    if directory.exists():
        shutil.rmtree(directory)  # another run's
    archive = subprocess.run(
        ["git", "archive", revision], cwd=root, capture_output=True, check=True
    )
    source = directory / "source"
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(source, filter="data")
    precompile(source)
    tree = directory / "tree"
    tree.mkdir(parents=True, exist_ok=True)
    for package, where in PACKAGE_DIRS.items():
        if (source / where).is_dir():
            (tree / package).symlink_to(source / where)

    def wrap(command: list[str]) -> list[str]:
        return ["env", f"PYTHONPATH={tree}", *command]

    def twin(peer: Peer, name: str) -> Peer:
        def scu(job: ScuJob) -> list[list[str]]:
            return [wrap(c) for c in peer.scu(job)]

        def scp(job: ScpJob) -> list[str]:
            return wrap(peer.scp(job))

        return Peer(name, f"{peer.label} at {commit.stdout.strip()}", 0, scu, scp)

    for impl, name in BASELINES.items():
        PEERS[name] = twin(PEERS[impl], name)
    return commit.stdout.strip()


def baseline_twin(pair: Pair) -> Pair | None:
    """The pair with each dicomul side's twin of :data:`BASELINES`, if it has
    a dicomul side and every dicomul side has a twin (None for a twin itself)."""
    sides = (pair.scu, pair.scp)
    dicomul = [side for side in sides if side.startswith("dicomul")]
    if not dicomul or any(side not in BASELINES for side in dicomul):
        return None
    twin = [BASELINES.get(side, side) for side in sides]
    return Pair(twin[0], twin[1], pair.window)


# --------------------------------------------------------------------------
# Processes


@dataclasses.dataclass
class Finished:
    """A process that ran to its end (or was killed at its timeout)."""

    command: list[str]
    code: int
    output: str  # stdout and stderr
    wall: float
    peak_rss_kib: int
    timed_out: bool = False


def start(
    command: list[str], env: dict[str, str], stdin: int = subprocess.DEVNULL
) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    """Start ``command``, its stdout and stderr into one temporary file."""
    out = tempfile.TemporaryFile()  # noqa: SIM115 - closed by finish() or Server.stop()
    proc = subprocess.Popen(command, stdin=stdin, stdout=out, stderr=subprocess.STDOUT, env=env)
    return proc, out


def vm_hwm_kib(pid: int | str) -> int | None:
    """The process's peak resident set so far (VmHWM, per address space: an
    exec starts it afresh, unlike ``ru_maxrss``, which keeps the peak of the
    forked copy of the parent that ran before the exec)."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def finish(
    proc: subprocess.Popen[bytes], out: IO[bytes], started: float, deadline: float
) -> Finished:
    """Wait for ``proc`` (killed at ``deadline``, a ``perf_counter`` time),
    watching its VmHWM every 20 ms for its peak RSS."""
    peak = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, vm_hwm_kib(proc.pid) or 0)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        proc.wait(max(0.0, deadline - time.perf_counter()))
        timed_out = False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        timed_out = True
    wall = time.perf_counter() - started
    done.set()
    watcher.join()
    out.seek(0)
    text = out.read().decode(errors="replace")
    out.close()
    return Finished(list(map(str, proc.args)), proc.returncode, text, wall, peak, timed_out)  # type: ignore[arg-type]


def run_one(command: list[str], env: dict[str, str], timeout: float) -> Finished:
    started = time.perf_counter()
    proc, out = start(command, env)
    return finish(proc, out, started, started + timeout)


def listening(port: int) -> bool:
    """Whether something listens on TCP ``port`` (``/proc/net/tcp``: no probe
    connection, which some SCPs would log as a failed association)."""
    wanted = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[1].endswith(wanted) and fields[3] == "0A":
                    return True
    return False


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """An SCP (or proxy) process, running until :meth:`stop`."""

    def __init__(self, command: list[str], env: dict[str, str], port: int) -> None:
        self.command = command
        self.port = port
        self.proc, self._out = start(command, env)
        deadline = time.monotonic() + 30
        while not listening(port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                output = self.output()
                self.stop()
                raise RuntimeError(f"{command} did not listen on {port}:\n{output}")
            time.sleep(0.02)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def peak_rss_kib(self) -> int | None:
        """The SCP's peak resident set so far."""
        return vm_hwm_kib(self.proc.pid)

    def output(self) -> str:
        self._out.seek(0)
        text = self._out.read().decode(errors="replace")
        return text[-2000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()


# --------------------------------------------------------------------------
# Verification


_RESPONSE = re.compile(
    r"Received (?:Echo|Store) Response \((?:Status: 0x[0-9A-Fa-f]{4} - )?([^)]*)\)"
)


@dataclasses.dataclass
class Report:
    """What one SCU process says it did."""

    requests: int
    successes: int
    statuses: dict[str, int]
    inproc: float | None  # seconds, timed inside the process
    peak_rss_kib: int
    error: str | None = None
    #: (start, end) of ``inproc`` on the system's monotonic clock.
    span: tuple[float, float] | None = None


def parse_report(finished: Finished) -> Report:
    """The JSON line of ``_peer_scu.py``, or the ``-v`` lines of a tool."""
    import json

    lines = finished.output.strip().splitlines()
    if lines and lines[-1].startswith("{"):
        data = json.loads(lines[-1])
        statuses = data["statuses"]
        return Report(
            data["requests"],
            statuses.get("0x0000", 0),
            statuses,
            data["elapsed"],
            data["peak_rss_kib"] or finished.peak_rss_kib,
            data["error"],
            tuple(data["span"]) if data.get("span") else None,  # type: ignore[arg-type]
        )
    found = _RESPONSE.findall(finished.output)
    statuses: dict[str, int] = {}
    for text in found:
        statuses[text] = statuses.get(text, 0) + 1
    return Report(len(found), statuses.get("Success", 0), statuses, None, finished.peak_rss_kib)


def problem_of(finished: Finished, report: Report, expected: int) -> str | None:
    """Why this SCU run does not count (None: it does)."""
    if finished.timed_out:
        return f"timed out: {' '.join(finished.command[:3])}"
    if report.error:
        return report.error
    if report.requests and report.successes != report.requests:
        return f"{report.successes} of {report.requests} Success ({report.statuses})"
    if finished.code != 0:
        return f"exit {finished.code}: {finished.output.strip()[-300:]}"
    if report.requests != expected:
        return f"{report.requests} responses for {expected} requests ({report.statuses})"
    return None


# --------------------------------------------------------------------------
# Runs and results


@dataclasses.dataclass
class Outcome:
    """One verified (or not) run of one entrant."""

    wall: float
    inproc: float | None = None
    problem: str | None = None
    scu_rss_kib: int | None = None
    scp_rss_kib: int | None = None
    #: The share of the scenario's work this run did (a probe does less).
    fraction: float = 1.0


@dataclasses.dataclass
class Entrant:
    """A line of a scenario: a pair (SCU into SCP, a DCMTK variant) or a baseline."""

    scu: str
    scp: str
    variant: str  # "", "TCP_NODELAY=1", "default", "window 8"...
    run: Callable[[], Outcome]
    outcomes: list[Outcome] = dataclasses.field(default_factory=list)
    #: Carries PROBE_SCALE of the load, and runs once, repeated only if it
    #: came within 10% of its sibling variant (DCMTK without TCP_NODELAY).
    probe: bool = False
    #: A run that failed and was run again (at most one per entrant).
    retried: list[Outcome] = dataclasses.field(default_factory=list)

    @property
    def key(self) -> str:
        tail = f" [{self.variant}]" if self.variant else ""
        return f"{self.scu} -> {self.scp}{tail}"


@dataclasses.dataclass
class Scenario:
    """What is measured, in what unit, and how much work one run is."""

    key: str
    title: str
    unit: str
    work: float  # units of work per run (operations, MB, processes)
    lower_is_better: bool = False  # a time per unit (ms), not a rate
    #: peer -> a caveat the headline table prints beside its figure.
    caveats: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ScenarioResult:
    scenario: Scenario
    entrants: list[Entrant]
    notes: list[str]
    seconds: float = 0.0


def figure(scenario: Scenario, outcome: Outcome, *, wall: bool = False) -> float:
    """The run's figure: work per second (in-process time where there is
    one), or milliseconds per unit of work for a lower-is-better scenario."""
    seconds = outcome.wall if wall or outcome.inproc is None else outcome.inproc
    work = scenario.work * outcome.fraction
    if scenario.lower_is_better:
        return seconds / work * 1e3
    return work / seconds


def summary(scenario: Scenario, entrant: Entrant) -> dict[str, object]:
    """Median and spread of the entrant's runs, or why it has no figure."""
    failed = [o.problem for o in entrant.outcomes if o.problem]
    base: dict[str, object] = {
        "scu": entrant.scu,
        "scp": entrant.scp,
        "variant": entrant.variant,
        "runs": [dataclasses.asdict(o) for o in entrant.outcomes],
        "retried": [dataclasses.asdict(o) for o in entrant.retried],
    }
    # Kept for a failed pair too: how much memory it took on its way to failing.
    outcomes = [*entrant.outcomes, *entrant.retried]
    rss = {
        side: max(v for o in outcomes if (v := getattr(o, f"{side}_rss_kib")) is not None)
        for side in ("scu", "scp")
        if any(getattr(o, f"{side}_rss_kib") is not None for o in outcomes)
    }
    if failed or not entrant.outcomes:
        problem = failed[0] if failed else "no run"
        return {**base, "ok": False, "problem": problem, "peak_rss_kib": rss}
    values = [figure(scenario, o) for o in entrant.outcomes]
    walls = [figure(scenario, o, wall=True) for o in entrant.outcomes]
    return {
        **base,
        "ok": True,
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "median_wall": statistics.median(walls),
        "timed_inside": all(o.inproc is not None for o in entrant.outcomes),
        "peak_rss_kib": rss,
    }


def interleave(
    scenario: Scenario, entrants: Sequence[Entrant], repeat: int, log: Callable[[str], None]
) -> None:
    """Run every entrant ``repeat`` times, taking turns in a rotating order.

    A probe runs in the first turn only, unless its figure came within 10%
    of (or beat) its sibling's, the same pair with TCP_NODELAY=1.  A run
    that fails verification is run once more: the failure is kept in
    ``entrant.retried`` (and reported), and if the second run fails too,
    the pair has no figure."""
    for i in range(repeat):
        turn = i % len(entrants) if entrants else 0
        for entrant in [*entrants[turn:], *entrants[:turn]]:
            if i > 0 and entrant.probe and not _keeps_up(scenario, entrant, entrants):
                continue
            outcome = _attempt(entrant)
            if outcome.problem and not entrant.retried:
                log(f"    failed, running again: {entrant.key}: {outcome.problem}")
                entrant.retried.append(outcome)
                outcome = _attempt(entrant)
            entrant.outcomes.append(outcome)
            if outcome.problem:
                log(f"    FAILED {entrant.key}: {outcome.problem}")


def _attempt(entrant: Entrant) -> Outcome:
    try:
        return entrant.run()
    except Exception as exc:  # a peer that could not even start
        return Outcome(0.0, problem=f"{type(exc).__name__}: {exc}")


def _keeps_up(scenario: Scenario, probe: Entrant, entrants: Sequence[Entrant]) -> bool:
    """Whether the probe's first run came within 10% of its sibling's."""
    if not probe.outcomes or probe.outcomes[0].problem:
        return False
    theirs = [
        figure(scenario, e.outcomes[0])
        for e in entrants
        if (e.scu, e.scp, e.probe) == (probe.scu, probe.scp, False)
        and e.outcomes
        and not e.outcomes[0].problem
    ]
    if not theirs:
        return True
    mine = figure(scenario, probe.outcomes[0])
    if scenario.lower_is_better:
        return mine <= theirs[0] * 1.1
    return mine >= theirs[0] / 1.1


# --------------------------------------------------------------------------
# Pairs and the SCPs they need

#: The share of the load a probe run carries.
PROBE_SCALE = 0.1


def scaled(count: int, scale: float) -> int:
    return max(1, round(count * scale))


@dataclasses.dataclass(frozen=True)
class Pair:
    scu: str
    scp: str
    window: int = 1  # asynchronous operations window the SCU asks for


def nodelay_variants(pair: Pair) -> list[bool]:
    """DCMTK in the pair: both with and without TCP_NODELAY=1; else one run."""
    if PEERS[pair.scu].dcmtk or PEERS[pair.scp].dcmtk:
        return [True, False]
    return [True]


def precompile(tree: pathlib.Path) -> None:
    """Write the bytecode of ``tree``'s Python files now, as installing a
    package does, so that no process measured compiles a module it imports
    (a lazily imported module compiled from source inside a timed run of a
    few milliseconds would be most of it)."""
    for where in PACKAGE_DIRS.values():
        if (tree / where).is_dir():
            compileall.compile_dir(tree / where, quiet=1)
    compileall.compile_dir(tree / "bench", maxlevels=0, quiet=1)


def env_for(nodelay: bool) -> dict[str, str]:
    """The children's environment: TCP_NODELAY as asked, and bytecode
    cached as an installed package's is (a PYTHONDONTWRITEBYTECODE=1 shell
    would have every child compile what it imports that is not cached)."""
    drop = {"TCP_NODELAY", "PYTHONDONTWRITEBYTECODE"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    if nodelay:
        env["TCP_NODELAY"] = "1"
    return env


class Servers:
    """The SCP processes of one scenario, one per distinct configuration,
    started on first use and stopped together at the end."""

    def __init__(self, workdir: pathlib.Path) -> None:
        self.workdir = workdir
        self._running: dict[tuple[object, ...], tuple[Server, Server, ScpJob]] = {}
        self._stack = contextlib.ExitStack()

    def get(
        self, peer: str, nodelay: bool, *, latency: float = 0.0, **options: object
    ) -> tuple[Server, Server, ScpJob]:
        """(where to connect, the SCP, its job) for this peer and options;
        with ``latency``, where to connect is a delaying proxy in front of it."""
        key = (peer, nodelay, latency, tuple(sorted(options.items())))
        if key not in self._running:
            job = ScpJob(port=free_port(), **options)  # type: ignore[arg-type]
            if job.mode == "write":
                directory = self.workdir / f"received-{len(self._running)}"
                directory.mkdir(parents=True, exist_ok=True)
                peer_data.clear(directory)
                job = dataclasses.replace(job, directory=str(directory))
            scp = Server(PEERS[peer].scp(job), env_for(nodelay), job.port)
            self._stack.callback(scp.stop)
            front = scp
            if latency:
                port = free_port()
                proxy = [sys.executable, str(BENCH / "_proxy.py"), str(port), str(job.port)]
                front = Server([*proxy, f"--delay={latency}"], env_for(False), port)
                self._stack.callback(front.stop)
            self._running[key] = (front, scp, job)
        return self._running[key]

    def close(self) -> None:
        self._stack.close()


def pdu_for(peer: str, largest: bool) -> int:
    return PEERS[peer].largest_pdu if largest else 16384


def scu_outcome(
    scu: str, job: ScuJob, env: dict[str, str], expected: int, timeout: float
) -> Outcome:
    """Run the SCU's command(s) one after the other, verify, time."""
    started = time.perf_counter()
    inproc = 0.0
    timed_inside = True
    rss = 0
    commands = PEERS[scu].scu(job)
    per_process = expected if len(commands) == 1 else 1
    for command in commands:
        finished = run_one(command, env, max(1.0, started + timeout - time.perf_counter()))
        report = parse_report(finished)
        problem = problem_of(finished, report, per_process)
        rss = max(rss, report.peak_rss_kib)
        if problem:
            return Outcome(time.perf_counter() - started, problem=problem, scu_rss_kib=rss)
        if report.inproc is None:
            timed_inside = False
        else:
            inproc += report.inproc
    wall = time.perf_counter() - started
    return Outcome(wall, inproc if timed_inside else None, scu_rss_kib=rss)


def pair_entrants(
    pairs: Sequence[Pair],
    make_run: Callable[[Pair, bool, float], Callable[[], Outcome]],
) -> list[Entrant]:
    """An entrant per pair and DCMTK variant."""
    entrants = []
    for pair in pairs:
        variants = nodelay_variants(pair)
        for nodelay in variants:
            variant = ""
            if len(variants) > 1:
                variant = "TCP_NODELAY=1" if nodelay else "default"
            if pair.window > 1:
                variant = ", ".join(filter(None, [f"window {pair.window}", variant]))
            # Without TCP_NODELAY, DCMTK's small messages wait on Nagle and
            # delayed ACKs (about 40 ms each): a probe at a tenth of the load
            # shows it, repeated only if it keeps up (see interleave()).
            probe = not nodelay
            run = make_run(pair, nodelay, PROBE_SCALE if probe else 1.0)
            entrants.append(Entrant(pair.scu, pair.scp, variant, run, probe=probe))
    return entrants
