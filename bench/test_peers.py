"""Smoke test of the peer benchmark: every scenario runs at tiny loads and
verifies what it measures, and a peer that answers a failure status makes
the figure fail.

No timing is asserted.  ``bench/`` is not in the repository's ``testpaths``;
run it with ``.venv/bin/python -m pytest bench/test_peers.py -p no:cacheprovider``.
It needs DCMTK and takes about two minutes on two busy cores.
"""

from __future__ import annotations

import json
import pathlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import peer_scenarios
import peers
import pytest
import run_peers

#: The pairs the smoke run keeps: each library against itself, an async SCU,
#: and the mixed pairs (the whole-process scenario's pairs go into DCMTK).
SMOKE_PAIRS = [
    ("dicomul-sync", "dicomul-sync"),
    ("dicomul-asyncio", "dicomul-sync"),
    ("dicomul-asyncio", "dicomul-asyncio"),
    ("dcmtk", "dcmtk"),
    ("pynetdicom", "pynetdicom"),
    ("dicomul-sync", "dcmtk"),
    ("pynetdicom", "dcmtk"),
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    try:
        peers.dcmtk("storescp")
    except RuntimeError as exc:  # DCMTKNotFoundError
        pytest.skip(str(exc))
    return tmp_path_factory.mktemp("peers")


def smoke_context(workdir: pathlib.Path) -> peer_scenarios.Context:
    return peer_scenarios.Context(
        workdir, peer_scenarios.Sizes.tiny(), 1, log=lambda _: None, only=SMOKE_PAIRS
    )


@pytest.mark.parametrize("name", list(peer_scenarios.SCENARIOS))
def test_scenario_runs_and_every_run_is_verified(name: str, workdir: pathlib.Path) -> None:
    result = peer_scenarios.SCENARIOS[name](smoke_context(workdir))
    assert result.entrants, result.notes
    for entrant in result.entrants:
        assert entrant.outcomes, entrant.key
        problems = [o.problem for o in entrant.outcomes if o.problem]
        assert not problems, (entrant.key, problems)
        line = peers.summary(result.scenario, entrant)
        assert line["ok"]
        assert float(line["median"]) > 0  # type: ignore[arg-type]
    keys = {(e.scu, e.scp) for e in result.entrants}
    if name == "durable":
        assert ("write+fsync loop", "-") in keys
        assert ("crash-safe loop", "-") in keys
    if name == "large":
        assert all(o.scp_rss_kib for e in result.entrants for o in e.outcomes)
    if name == "echoscu-process":
        assert keys == {("dicomul-sync", "dcmtk"), ("dcmtk", "dcmtk"), ("pynetdicom", "dcmtk")}


def test_a_refusing_scp_fails_every_figure(workdir: pathlib.Path) -> None:
    """The SCP answers Out of Resources (C-STORE) and Processing Failure
    (C-ECHO): no run counts, whichever SCU reads the answers."""
    ctx = peer_scenarios.Context(workdir, peer_scenarios.Sizes.tiny(), 1, log=lambda _: None)
    paths = ctx.series("refused", 2, 4096)
    scenario = peers.Scenario("refused", "refused stores", "files/s", 2)
    pairs = [
        peers.Pair("dicomul-sync", "dicomul-sync"),
        peers.Pair("dicomul-asyncio", "dicomul-sync"),
        peers.Pair("pynetdicom", "pynetdicom"),
        peers.Pair("dcmtk", "pynetdicom"),
    ]
    for op, count, files in (("store", 2, paths), ("echo", 3, [])):
        run = peer_scenarios.single_scu_run(ctx, op, count, files, mode="refuse")
        result = peer_scenarios.measure(ctx, scenario, run, pairs=pairs)
        lines = run_peers.best_variants(result)
        assert len(lines) == len(pairs)
        for line in lines:
            assert not line["ok"], line
            assert "Success" in str(line["problem"]), line["problem"]
        assert "**failed**" in "\n".join(run_peers.details(result))


def test_a_probe_is_repeated_only_when_it_keeps_up() -> None:
    scenario = peers.Scenario("s", "s", "echoes/s", 100)

    def entrant(probe: bool, seconds: float) -> peers.Entrant:
        fraction = peers.PROBE_SCALE if probe else 1.0
        outcome = peers.Outcome(seconds * fraction, seconds * fraction, fraction=fraction)
        return peers.Entrant("dcmtk", "dcmtk", "", lambda: outcome, probe=probe)

    for probe_seconds, repeated in ((1.0, True), (1.05, True), (5.0, False)):
        fast, probe = entrant(False, 1.0), entrant(True, probe_seconds)
        peers.interleave(scenario, [fast, probe], 3, lambda _: None)
        assert len(fast.outcomes) == 3
        assert len(probe.outcomes) == (3 if repeated else 1)
        # The figure is a rate of the work the run did, a probe's tenth too.
        assert peers.figure(scenario, probe.outcomes[0]) == pytest.approx(100 / probe_seconds)


@pytest.fixture
def echo_server() -> Iterator[int]:
    """A TCP server that sends back what it receives."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    listener.close()


def test_the_proxy_delays_each_direction_and_keeps_order(echo_server: int) -> None:
    port = peers.free_port()
    command = [sys.executable, str(peers.BENCH / "_proxy.py"), str(port), str(echo_server)]
    proxy = peers.Server([*command, "--delay=0.05"], peers.env_for(False), port)
    try:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sent = b"".join(i.to_bytes(4, "big") for i in range(50_000))
            started = time.perf_counter()
            sock.sendall(b"x")
            assert sock.recv(1) == b"x"
            round_trip = time.perf_counter() - started
            sock.sendall(sent)
            received = b""
            while len(received) < len(sent):
                received += sock.recv(65536)
    finally:
        proxy.stop()
    assert 0.1 <= round_trip < 1.0  # 50 ms each way
    assert received == sent


def test_run_peers_writes_json_chart_and_readme_section(
    workdir: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{run_peers.BEGIN}\nold\n{run_peers.END}\nafter\n")
    monkeypatch.setattr(run_peers, "README", readme)
    json_path, chart = tmp_path / "peers.json", tmp_path / "peers.png"
    code = run_peers.main(
        [
            "--tiny",
            "--repeat=1",
            "--scenarios=echoes,echoscu-process",
            "--pairs=dicomul-sync:dicomul-sync,dcmtk:dcmtk,pynetdicom:dcmtk",
            f"--json={json_path}",
            f"--chart={chart}",
            f"--workdir={workdir}",
        ]
    )
    assert code == 0
    report = json.loads(json_path.read_text())
    assert [s["key"] for s in report["scenarios"]] == ["echoes", "echoscu-process"]
    assert all(p["ok"] for s in report["scenarios"] for p in s["pairs"])
    assert chart.read_bytes().startswith(b"\x89PNG")
    text = readme.read_text()
    assert text.startswith("before\n")
    assert text.endswith("after\n")
    assert "old" not in text
    assert "| C-ECHO round trips on one association (10) | echoes/s |" in text


def test_a_baseline_revision_runs_beside_this_tree(
    workdir: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """--baseline REV: dicomul at REV (imported from its own tree, not this
    one) runs beside each pair of dicomul peers, sync or async, and a
    before/after table compares them."""
    json_path = tmp_path / "peers.json"
    try:
        code = run_peers.main(
            [
                "--tiny",
                "--repeat=1",
                "--scenarios=echoes",
                "--pairs=dicomul-sync:dicomul-sync,dicomul-asyncio:dicomul-sync",
                "--baseline=HEAD",
                "--no-readme",
                f"--json={json_path}",
                f"--chart={tmp_path / 'peers.png'}",
                f"--workdir={workdir}",
            ]
        )
    finally:
        for name in peers.BASELINES.values():
            peers.PEERS.pop(name, None)  # added by --baseline
    assert code == 0
    (scenario,) = json.loads(json_path.read_text())["scenarios"]
    pairs = {(p["scu"], p["scp"]) for p in scenario["pairs"]}
    async_twin = peers.BASELINES["dicomul-asyncio"]
    assert pairs == {
        ("dicomul-sync", "dicomul-sync"),
        (peers.BASELINE, peers.BASELINE),
        ("dicomul-asyncio", "dicomul-sync"),
        (async_twin, peers.BASELINE),
    }
    tree = workdir / "baseline" / "tree"
    assert (tree / "dicomul" / "__init__.py").exists()
    assert (tree / "dicomul_sync").resolve().is_relative_to(workdir / "baseline" / "source")


def test_dcmtk_tools_are_dcmtk_not_pynetdicom_scripts() -> None:
    for tool in ("echoscu", "storescu", "storescp"):
        path = peers.dcmtk(tool)
        assert pathlib.Path(path).is_absolute()
        version = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
        assert "dcmtk" in version.stdout.lower()
