"""The scenarios of the peer benchmark: what each measures, at what load, between which pairs.

Each scenario is a function of a :class:`Context` (where the data sets go,
the :class:`Sizes` of the loads, the repetitions, an optional filter of
pairs) returning a :class:`peers.ScenarioResult`; :data:`SCENARIOS` lists
them in the order ``run_peers.py`` runs and reports them.  The machinery
(peers, processes, verification, interleaving) is in ``peers.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence

import peer_data
from peers import (
    BASELINE,
    DCMTK_LARGEST_PDU,
    MIB,
    PEERS,
    Entrant,
    Outcome,
    Pair,
    Scenario,
    ScenarioResult,
    ScuJob,
    Servers,
    baseline_twin,
    env_for,
    finish,
    interleave,
    pair_entrants,
    parse_report,
    pdu_for,
    problem_of,
    scaled,
    scu_outcome,
    start,
)


@dataclasses.dataclass
class Sizes:
    """The loads: the defaults are the issue's; :meth:`quick` is ``--quick``'s,
    :meth:`tiny` the smoke test's."""

    associations: int = 200
    echoes: int = 2000
    files_512k: int = 200
    files_8m: int = 20
    files_2k: int = 1000
    concurrent_clients: int = 8
    files_per_client: int = 25
    processes: int = 10
    latency_files: int = 200
    large_bytes: int = 2 * 1024**3
    latency: float = 0.005
    window: int = 8
    timeout: float = 600.0
    #: The async client in the concurrent case too (8 more interpreters a run).
    concurrent_async: bool = True

    @classmethod
    def quick(cls) -> Sizes:
        return cls(30, 300, 20, 3, 60, 8, 3, 3, 30, 0, timeout=120.0, concurrent_async=False)

    @classmethod
    def tiny(cls) -> Sizes:
        return cls(3, 10, 3, 1, 5, 2, 2, 1, 4, 64 * MIB, latency=0.002, timeout=60.0)


#: The pairs every scenario runs unless it says otherwise: each implementation
#: against itself, the async SCUs into the blocking SCP too, and dicomul and
#: DCMTK both ways.
DEFAULT_PAIRS = (
    Pair("dicomul-sync", "dicomul-sync"),
    Pair("dicomul-asyncio", "dicomul-asyncio"),
    Pair("dicomul-trio", "dicomul-trio"),
    Pair("dicomul-asyncio", "dicomul-sync"),
    Pair("dicomul-trio", "dicomul-sync"),
    Pair("dcmtk", "dcmtk"),
    Pair("pynetdicom", "pynetdicom"),
    Pair("dicomul-sync", "dcmtk"),
    Pair("dcmtk", "dicomul-sync"),
)


ASYNC_PEERS = ("dicomul-asyncio", "dicomul-trio")


@dataclasses.dataclass
class Context:
    """What every scenario function is given."""

    workdir: pathlib.Path
    sizes: Sizes
    repeat: int
    log: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True)
    #: Run only these (SCU, SCP) pairs of each scenario's own list (None: all).
    only: Sequence[tuple[str, str]] | None = None
    #: Leave out these peers: peer -> why (``--quick`` leaves out trio).
    leave_out: dict[str, str] = dataclasses.field(default_factory=dict)

    def choose(self, pairs: Sequence[Pair], notes: list[str]) -> list[Pair]:
        chosen = [p for p in pairs if self.only is None or (p.scu, p.scp) in self.only]
        if BASELINE in PEERS:  # --baseline: each dicomul pair beside its twin
            chosen = [q for p in chosen for q in (p, baseline_twin(p)) if q is not None]
        left = {peer for p in chosen for peer in (p.scu, p.scp) if peer in self.leave_out}
        for peer in sorted(left):
            notes.append(f"{PEERS[peer].label} left out of this run: {self.leave_out[peer]}")
        return [p for p in chosen if not {p.scu, p.scp} & set(self.leave_out)]

    def series(self, name: str, count: int, size: int) -> list[str]:
        return [str(p) for p in peer_data.make_series(self.workdir / name, count, size)]


def measure(
    ctx: Context,
    scenario: Scenario,
    make_run: Callable[[Servers, Pair, bool, float], Callable[[], Outcome]],
    *,
    pairs: Sequence[Pair] | None = None,
    notes: Sequence[str] = (),
    extra: Callable[[Servers], list[Entrant]] | None = None,
) -> ScenarioResult:
    """Start the SCPs, interleave the entrants ``ctx.repeat`` times, stop the SCPs."""
    ctx.log(f"  {scenario.title}")
    started = time.perf_counter()
    servers = Servers(ctx.workdir)
    all_notes = list(notes)
    try:
        entrants = pair_entrants(
            ctx.choose(DEFAULT_PAIRS if pairs is None else pairs, all_notes),
            lambda pair, nodelay, scale: make_run(servers, pair, nodelay, scale),
        )
        if extra is not None:
            entrants += extra(servers)
        interleave(scenario, entrants, ctx.repeat, ctx.log)
    finally:
        servers.close()
    return ScenarioResult(scenario, entrants, all_notes, time.perf_counter() - started)


def single_scu_run(
    ctx: Context,
    op: str,
    count: int,
    paths: Sequence[str] = (),
    *,
    largest: bool = False,
    mode: str = "discard",
    latency: float = 0.0,
) -> Callable[[Servers, Pair, bool], Callable[[], Outcome]]:
    """The run of one SCU process doing ``op`` against the pair's SCP."""

    def make(servers: Servers, pair: Pair, nodelay: bool, scale: float) -> Callable[[], Outcome]:
        def run() -> Outcome:
            front, scp, scp_job = servers.get(
                pair.scp,
                nodelay,
                latency=latency,
                mode=mode,
                max_pdu=pdu_for(pair.scp, largest),
                window=pair.window,
            )
            n = scaled(count, scale)
            job = ScuJob(
                op, front.port, n, tuple(paths[:n]), pdu_for(pair.scu, largest), pair.window
            )
            outcome = scu_outcome(pair.scu, job, env_for(nodelay), n, ctx.sizes.timeout)
            outcome.fraction = n / count
            if not scp.alive():
                outcome.problem = outcome.problem or f"the SCP died: {scp.output()[-300:]}"
            if mode == "write" and scp_job.directory:
                directory = pathlib.Path(scp_job.directory)
                files, _ = peer_data.count_files(directory)
                if not outcome.problem and files != n:
                    outcome.problem = f"{files} files received of {n} sent"
                peer_data.clear(directory)
            return outcome

        return run

    return make


def associations(ctx: Context) -> ScenarioResult:
    n = ctx.sizes.associations
    scenario = Scenario(
        "associations",
        f"associate + C-ECHO + release, {n} times in one SCU process",
        "associations/s",
        n,
        caveats={"dcmtk": "a process each"},
    )
    notes = [
        "DCMTK's echoscu makes one association per process: its SCU runs once per association"
    ]
    return measure(ctx, scenario, single_scu_run(ctx, "assoc", n), notes=notes)


def echoes(ctx: Context) -> ScenarioResult:
    n = ctx.sizes.echoes
    scenario = Scenario("echoes", f"C-ECHO round trips on one association ({n})", "echoes/s", n)
    return measure(ctx, scenario, single_scu_run(ctx, "echo", n))


def stores(ctx: Context, name: str, count: int, size: int, largest: bool) -> ScenarioResult:
    paths = ctx.series(name, count, size)
    megabytes = sum(os.path.getsize(p) for p in paths) / 1e6
    pdu = "the largest PDU each peer allows" if largest else "16 KiB PDUs"
    label = f"{size // 1024} KiB" if size < MIB else f"{size // MIB} MiB"
    scenario = Scenario(
        f"store-{name}-{'largest' if largest else '16k'}",
        f"C-STORE {count} x {label}, {pdu}, SCP discarding",
        "MB/s",
        megabytes,
    )
    notes = (
        [
            "largest PDU: dicomul and pynetdicom receive without a limit (0); "
            f"DCMTK's largest is {DCMTK_LARGEST_PDU} bytes"
        ]
        if largest
        else []
    )
    return measure(
        ctx, scenario, single_scu_run(ctx, "store", count, paths, largest=largest), notes=notes
    )


def store_512k_16k(ctx: Context) -> ScenarioResult:
    return stores(ctx, "512k", ctx.sizes.files_512k, 512 * 1024, largest=False)


def store_512k_largest(ctx: Context) -> ScenarioResult:
    return stores(ctx, "512k", ctx.sizes.files_512k, 512 * 1024, largest=True)


def store_8m_16k(ctx: Context) -> ScenarioResult:
    return stores(ctx, "8m", ctx.sizes.files_8m, 8 * MIB, largest=False)


def store_8m_largest(ctx: Context) -> ScenarioResult:
    return stores(ctx, "8m", ctx.sizes.files_8m, 8 * MIB, largest=True)


def small_files(ctx: Context) -> ScenarioResult:
    n = ctx.sizes.files_2k
    paths = ctx.series("2k", n, 2048)
    scenario = Scenario(
        "store-2k", f"C-STORE {n} files of about 2 KiB, 16 KiB PDUs, SCP discarding", "files/s", n
    )
    return measure(ctx, scenario, single_scu_run(ctx, "store", n, paths))


def wait_ready(
    directory: pathlib.Path, procs: Sequence[subprocess.Popen[bytes]], timeout: float
) -> None:
    """Until every process has written its ready file (or one has ended)."""
    deadline = time.monotonic() + timeout
    while len(list(directory.iterdir())) < len(procs) and time.monotonic() < deadline:
        if any(proc.poll() is not None for proc in procs):
            return
        time.sleep(0.01)


#: The SCPs started with --fork in the concurrent case (a process per
#: association): DCMTK's storescp serves one association at a time without
#: it. dicomul's sync storescp serves them on threads by default, and that
#: is its better mode on 2 cores (85 MB/s with --fork against 133 without,
#: 5 runs each, 2026-12-06), so it runs as it comes.
FORKING_SCPS = frozenset({"dcmtk"})


def concurrent(ctx: Context) -> ScenarioResult:
    clients, per = ctx.sizes.concurrent_clients, ctx.sizes.files_per_client
    paths = ctx.series("512k", max(per, ctx.sizes.files_512k), 512 * 1024)[:per]
    megabytes = clients * sum(os.path.getsize(p) for p in paths) / 1e6
    scenario = Scenario(
        "concurrent",
        f"{clients} SCU processes at once into one SCP, each C-STORE {per} x 512 KiB",
        "MB/s",
        megabytes,
    )

    def make(servers: Servers, pair: Pair, nodelay: bool, scale: float) -> Callable[[], Outcome]:
        def run() -> Outcome:
            server, _, _ = servers.get(
                pair.scp, nodelay, mode="discard", fork=pair.scp in FORKING_SCPS
            )
            n = scaled(per, scale)
            env = env_for(nodelay)
            # The Python SCUs start their interpreters first and are then
            # told to go together; DCMTK's start in milliseconds.
            go = not PEERS[pair.scu].dcmtk
            with tempfile.TemporaryDirectory(dir=ctx.workdir) as ready:
                job = ScuJob(
                    "store", server.port, n, tuple(paths[:n]), ready_dir=ready if go else None
                )
                (command,) = PEERS[pair.scu].scu(job)
                stdin = subprocess.PIPE if go else subprocess.DEVNULL
                procs = [start(command, env, stdin) for _ in range(clients)]
                if go:
                    wait_ready(pathlib.Path(ready), [p for p, _ in procs], ctx.sizes.timeout)
                started = time.perf_counter()
                for proc, _ in procs:
                    if go and proc.stdin is not None:
                        with contextlib.suppress(OSError):
                            proc.stdin.write(b"go\n")
                            proc.stdin.close()
                deadline = started + ctx.sizes.timeout
                finished = [finish(proc, out, started, deadline) for proc, out in procs]
            wall = time.perf_counter() - started
            reports = [parse_report(f) for f in finished]
            problems = [problem_of(f, r, n) for f, r in zip(finished, reports, strict=True)]
            # In-process: from the first client's first association request
            # to the last client's release (one monotonic clock for all).
            spans = [r.span for r in reports]
            inside = (
                None
                if None in spans
                else max(s[1] for s in spans if s) - min(s[0] for s in spans if s)
            )
            rss = max(r.peak_rss_kib for r in reports)
            problem = next((p for p in problems if p), None)
            return Outcome(wall, inside, problem, scu_rss_kib=rss, fraction=n / per)

        return run

    pairs = [p for p in DEFAULT_PAIRS if ctx.sizes.concurrent_async or p.scu not in ASYNC_PEERS]
    notes = [] if ctx.sizes.concurrent_async else ["the async clients are left out of this case"]
    notes += [
        "DCMTK's storescp runs with --fork here (a process per association); dicomul's "
        "SCPs serve every association in one process, on threads or tasks (`--fork` "
        "was slower on this machine); the "
        "Python SCUs start their interpreters, then are told to go together: wall-clock "
        "runs from that signal to the last exit, in-process from the first client's first "
        "association request to the last client's release (their clocks are one)"
    ]
    return measure(ctx, scenario, make, pairs=pairs, notes=notes)


#: Pairs for durable writing: each SCP that writes, fed by its own SCU and by
#: the other library's.
DURABLE_PAIRS = (
    Pair("dicomul-sync", "dicomul-sync"),
    Pair("dcmtk", "dcmtk"),
    Pair("pynetdicom", "pynetdicom"),
    Pair("dicomul-sync", "dcmtk"),
    Pair("dcmtk", "dicomul-sync"),
)


def fsync_loop(
    paths: Sequence[str], directory: pathlib.Path, *, crash_safe: bool = False
) -> Outcome:
    """The limit of a durable store: write each file's bytes, fsync, close.

    ``crash_safe``: as a store that never shows a partial file under its
    final name must, write to a temporary name, fsync, rename into place and
    fsync the directory (the rename's own journal commit), as dicomul's
    storescp does; the plain loop leaves that out.
    """
    directory.mkdir(parents=True, exist_ok=True)
    peer_data.clear(directory)
    contents = [pathlib.Path(p).read_bytes() for p in paths]
    started = time.perf_counter()
    for i, data in enumerate(contents):
        final = directory / f"{i}.dcm"
        path = directory / f".{i}.part" if crash_safe else final
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if crash_safe:
            os.replace(path, final)
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    elapsed = time.perf_counter() - started
    files, size = peer_data.count_files(directory)
    problem = None if files == len(paths) and size == sum(map(len, contents)) else "short write"
    peer_data.clear(directory)
    return Outcome(elapsed, elapsed, problem)


def durable(ctx: Context) -> ScenarioResult:
    n = ctx.sizes.files_8m
    paths = ctx.series("8m", n, 8 * MIB)
    megabytes = sum(os.path.getsize(p) for p in paths) / 1e6
    scenario = Scenario(
        "durable",
        f"C-STORE {n} x 8 MiB, largest PDU, SCP writing files",
        "MB/s",
        megabytes,
    )
    notes = [
        "dicomul's storescp writes each data set to a temporary file, fsyncs and renames "
        "it before answering Success; DCMTK's storescp and the pynetdicom handler "
        "(evt.encoded_dataset()) write without fsync",
        "write+fsync loop: the same files' bytes written and fsynced one by one in one "
        "process, no network: the limit of a durable store on this disk",
        "crash-safe loop: the same, each file written under a temporary name, fsynced, "
        "renamed into place and the directory fsynced (what dicomul's storescp does so "
        "that a crash never leaves a partial file under a final name): the limit of such "
        "a store, one more journal commit per file",
    ]

    def baseline(servers: Servers) -> list[Entrant]:
        directory = ctx.workdir / "fsync-loop"
        return [
            Entrant("write+fsync loop", "-", "", lambda: fsync_loop(paths, directory)),
            Entrant(
                "crash-safe loop",
                "-",
                "",
                lambda: fsync_loop(paths, directory, crash_safe=True),
            ),
        ]

    return measure(
        ctx,
        scenario,
        single_scu_run(ctx, "store", n, paths, largest=True, mode="write"),
        pairs=DURABLE_PAIRS,
        notes=notes,
        extra=baseline,
    )


def whole_process(ctx: Context) -> ScenarioResult:
    n = ctx.sizes.processes
    scenario = Scenario(
        "echoscu-process",
        f"a whole echoscu process (interpreter start included), {n} one after another, "
        "into DCMTK's storescp",
        "ms per process",
        n,
        lower_is_better=True,
    )
    pairs = [Pair(scu, "dcmtk") for scu in ("dicomul-sync", "dcmtk", "pynetdicom")]
    notes = [
        "dicomul: the `dicomul echoscu` console script; pynetdicom: `python -m pynetdicom "
        "echoscu`; each with -v, whose Success line verifies the run"
    ]
    return measure(ctx, scenario, single_scu_run(ctx, "process", n), pairs=pairs, notes=notes)


def latency(ctx: Context) -> ScenarioResult:
    n, delay = ctx.sizes.latency_files, ctx.sizes.latency
    paths = ctx.series("2k", max(n, ctx.sizes.files_2k), 2048)[:n]
    scenario = Scenario(
        "latency",
        f"C-STORE {n} x 2 KiB across a proxy adding {delay * 1e3:g} ms each way",
        "files/s",
        n,
    )
    window = ctx.sizes.window
    pairs = [
        Pair("dicomul-sync", "dicomul-sync"),
        Pair("dicomul-asyncio", "dicomul-sync"),
        Pair("dicomul-asyncio", "dicomul-sync", window=window),
        Pair("dicomul-asyncio", "dicomul-asyncio"),
        Pair("dcmtk", "dcmtk"),
        Pair("pynetdicom", "pynetdicom"),
    ]
    notes = [
        f"bench/_proxy.py delays every chunk {delay * 1e3:g} ms in each direction",
        f"window {window}: the async client proposes {window} outstanding operations "
        f"(`connect(max_operations={window})`) to the blocking SCP run with "
        f"`AE.maximum_operations_performed = {window}`, and the run fails unless "
        f"{window} are granted (PS3.7 D.3.3.3); without it, one operation at a time",
        "dicomul asyncio -> dicomul asyncio: window 1 only, `dicomul_asyncio.serve` has "
        "no option to accept an asynchronous operations window",
    ]
    return measure(
        ctx,
        scenario,
        single_scu_run(ctx, "store", n, paths, latency=delay),
        pairs=pairs,
        notes=notes,
    )


#: Pairs of the 2 GiB case: the asynchronous adapter still holds a data set
#: whole in memory, which is not what this case is for.
LARGE_PAIRS = (
    Pair("dicomul-sync", "dicomul-sync"),
    Pair("dcmtk", "dcmtk"),
    Pair("pynetdicom", "pynetdicom"),
    Pair("dicomul-sync", "dcmtk"),
    Pair("dcmtk", "dicomul-sync"),
)


def large(ctx: Context) -> ScenarioResult:
    size = ctx.sizes.large_bytes
    label = f"{size / 1024**3:g} GiB" if size >= 1024**3 else f"{size // MIB} MiB"
    scenario = Scenario(
        "large",
        f"C-STORE of one {label} data set, largest PDU, SCP discarding; peak RSS of both ends",
        "MB/s",
        0.0,
    )
    free = peer_data.free_disk(ctx.workdir)
    if free < peer_data.LARGE_DISK_NEEDED:
        note = f"skipped: {free / 1024**3:.1f} GiB free on {ctx.workdir}, need 6"
        ctx.log(f"  {scenario.title}: {note}")
        return ScenarioResult(scenario, [], [note])
    path = peer_data.make_large(ctx.workdir / "large" / "large.dcm", size)
    peer_data.warm(path)
    scenario.work = path.stat().st_size / 1e6

    def make(servers: Servers, pair: Pair, nodelay: bool, scale: float) -> Callable[[], Outcome]:
        def run() -> Outcome:
            # A fresh SCP per run, so its peak RSS is this transfer's.
            fresh = Servers(ctx.workdir)
            try:
                server, _, _ = fresh.get(
                    pair.scp,
                    nodelay,
                    mode="discard",
                    max_pdu=pdu_for(pair.scp, True),
                    chunked=pair.scp == "pynetdicom",
                )
                job = ScuJob("store", server.port, 1, (str(path),), pdu_for(pair.scu, True))
                outcome = scu_outcome(pair.scu, job, env_for(nodelay), 1, ctx.sizes.timeout)
                outcome.scp_rss_kib = server.peak_rss_kib()
                return outcome
            finally:
                fresh.close()

        return run

    notes = [
        f"the file is sparse ({free / 1024**3:.0f} GiB were free): its pixels are zeros "
        "read from no disk; pynetdicom sends and receives in its chunked mode (a "
        "temporary file), the others stream; it is read once before the runs, so that "
        "no pair pays for filling the page cache",
        "peak RSS: the SCU's from wait4, the SCP's VmHWM just before it stops",
    ]
    return measure(ctx, scenario, make, pairs=LARGE_PAIRS, notes=notes)


#: Every scenario, in the order they run and are reported.
SCENARIOS: dict[str, Callable[[Context], ScenarioResult]] = {
    "associations": associations,
    "echoes": echoes,
    "store-512k-16k": store_512k_16k,
    "store-512k-largest": store_512k_largest,
    "store-8m-16k": store_8m_16k,
    "store-8m-largest": store_8m_largest,
    "store-2k": small_files,
    "concurrent": concurrent,
    "durable": durable,
    "echoscu-process": whole_process,
    "latency": latency,
    "large": large,
}


@contextlib.contextmanager
def workdir(path: str | None) -> Iterator[pathlib.Path]:
    """``path``, or a temporary directory removed afterwards."""
    if path:
        yield pathlib.Path(path)
        return
    with tempfile.TemporaryDirectory(prefix="dicomul-peers-") as tmp:
        yield pathlib.Path(tmp)
