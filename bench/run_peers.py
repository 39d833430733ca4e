"""Run the peer-to-peer benchmark; write JSON, a Markdown report and a chart.

Usage::

    python bench/run_peers.py [--quick] [--repeat N] [--scenarios a,b] [--pairs scu:scp,...]

Every scenario of :data:`peer_scenarios.SCENARIOS` runs its pairs of processes on
127.0.0.1 (see ``peers.py`` and bench/README.md), ``--repeat`` times each,
interleaved.  The results go to ``bench/results/peers.json`` (every run),
``bench/results/peers.png`` (the chart) and bench/README.md, between the
``peers:begin`` and ``peers:end`` markers (the tables, with the machine,
the versions and the command).  ``--quick`` shrinks every load and leaves
out the 2 GiB case: under five minutes on two cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys
import time
from collections.abc import Sequence

import peer_scenarios
import peers

RESULTS = peers.BENCH / "results"
README = peers.BENCH / "README.md"
BEGIN, END = "<!-- peers:begin -->", "<!-- peers:end -->"

#: Headline columns: (heading, SCU, SCPs tried in order).
HEADLINE = (
    ("dicomul sync", "dicomul-sync", ("dicomul-sync", "dcmtk")),
    ("dicomul asyncio", "dicomul-asyncio", ("dicomul-asyncio", "dicomul-sync")),
    ("DCMTK", "dcmtk", ("dcmtk",)),
    ("pynetdicom", "pynetdicom", ("pynetdicom", "dcmtk")),
)


# --------------------------------------------------------------------------
# Facts about the machine and the software


def _run(command: list[str], cwd: pathlib.Path | None = None) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd)
    except OSError:
        return ""
    return (done.stdout or done.stderr).strip()


def machine() -> dict[str, object]:
    cpu = ""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": round(memory / 1024**3, 1),
        "free_disk_gib": round(peers.peer_data.free_disk(RESULTS.parent) / 1024**3, 1),
    }


def versions() -> dict[str, str]:
    import importlib.metadata

    found = {"python": f"{platform.python_implementation()} {platform.python_version()}"}
    for package in ("dicomul", "pynetdicom", "pydicom", "anyio", "trio"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    revision = _run(["git", "describe", "--always", "--dirty"], cwd=peers.BENCH)
    if revision:
        found["dicomul"] += f" at {revision}"
    first = _run([peers.dcmtk("echoscu"), "--version"]).splitlines()
    found["dcmtk"] = first[0].strip("$ ").removeprefix("dcmtk: ") if first else "?"
    return found


# --------------------------------------------------------------------------
# Summaries


def best_variants(result: peers.ScenarioResult) -> list[dict[str, object]]:
    """One line per SCU, SCP and window: of DCMTK's two variants, the one
    with the better median (both are in the JSON)."""
    lines: dict[tuple[str, str, str], dict[str, object]] = {}
    better = min if result.scenario.lower_is_better else max
    for entrant in result.entrants:
        line = peers.summary(result.scenario, entrant)
        variant = str(line["variant"])
        window = ", ".join(part for part in variant.split(", ") if part.startswith("window"))
        key = (entrant.scu, entrant.scp, window)
        line["window"] = window
        if key not in lines:
            lines[key] = line
            continue
        kept = lines[key]
        if not kept["ok"]:
            continue  # a failed variant fails the pair: no figure counts
        if not line["ok"]:
            lines[key] = line
            continue
        chosen = better(kept, line, key=lambda x: float(x["median"]))  # type: ignore[arg-type]
        other = line if chosen is kept else kept
        lines[key] = {**chosen, "other_variant": {"variant": other["variant"], **_brief(other)}}
    return list(lines.values())


def _brief(line: dict[str, object]) -> dict[str, object]:
    runs = line["runs"]
    assert isinstance(runs, list)
    return {"runs": len(runs), **{k: line[k] for k in ("median", "min", "max") if k in line}}


def number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def label(line: dict[str, object]) -> str:
    scu, scp = str(line["scu"]), str(line["scp"])
    if scu not in peers.PEERS:
        return scu
    text = f"{peers.PEERS[scu].label} → {peers.PEERS[scp].label}"
    return f"{text} ({line['window']})" if line.get("window") else text


def headline(results: Sequence[peers.ScenarioResult]) -> list[str]:
    """The issue's table: dicomul, DCMTK and pynetdicom each against itself
    (the async client into the blocking SCP where a scenario has no async SCP)."""
    rows = [
        "| scenario | unit | " + " | ".join(h for h, _, _ in HEADLINE) + " | dicomul / DCMTK "
        "| dicomul / pynetdicom |",
        "|---|---|" + "---:|" * (len(HEADLINE) + 2),
    ]
    for result in results:
        lines = best_variants(result)
        cells: list[str] = []
        medians: list[float | None] = []
        for _, scu, scps in HEADLINE:
            found = next(
                (
                    line
                    for scp in scps
                    for line in lines
                    if line["scu"] == scu and line["scp"] == scp and not line["window"]
                ),
                None,
            )
            if found is None:
                cells.append("-")
                medians.append(None)
            elif not found["ok"]:
                cells.append("**failed**")
                medians.append(None)
            else:
                medians.append(float(found["median"]))  # type: ignore[arg-type]
                caveat = result.scenario.caveats.get(scu)
                cell = number(float(found["median"]))  # type: ignore[arg-type]
                cells.append(f"{cell} ({caveat})" if caveat else cell)
        for other in (2, 3):  # DCMTK, pynetdicom
            ours, theirs = medians[0], medians[other]
            if ours is None or theirs is None:
                cells.append("-")
            else:
                ratio = theirs / ours if result.scenario.lower_is_better else ours / theirs
                cells.append(f"{ratio:.2f}x")
        title = result.scenario.title
        limits = []
        for name in ("write+fsync loop", "crash-safe loop"):
            limit = next((line for line in lines if line["scu"] == name), None)
            if limit is not None and limit["ok"]:
                loop = float(limit["median"])  # type: ignore[arg-type]
                share = f", dicomul {medians[0] / loop:.0%} of it" if medians[0] else ""
                limits.append(f"{name}: {number(loop)}{share}")
        if limits:
            title += f" ({'; '.join(limits)})"
        rows.append(f"| {title} | {result.scenario.unit} | " + " | ".join(cells) + " |")
    return rows


def baseline_rows(results: Sequence[peers.ScenarioResult]) -> list[str]:
    """``--baseline``: each pair of dicomul peers beside its twin at the
    baseline revision, medians of the same interleaved runs."""
    if peers.BASELINE not in peers.PEERS:
        return []
    base_label = peers.PEERS[peers.BASELINE].label.replace("dicomul sync", "dicomul")
    rows = [
        f"Before ({base_label}) and after (this tree), each pair beside its twin in the "
        "same interleaved runs; medians; the ratio is after / before for rates, before / "
        "after for times, so above 1 means faster now.",
        "",
        "| scenario | SCU → SCP | unit | before | after | after / before |",
        "|---|---|---|---:|---:|---:|",
    ]
    for result in results:
        lines = best_variants(result)
        for line in lines:
            if {line["scu"], line["scp"]} & set(peers.BASELINES.values()):
                continue
            twin = peers.baseline_twin(peers.Pair(str(line["scu"]), str(line["scp"])))
            if twin is None:
                continue
            before = next(
                (
                    other
                    for other in lines
                    if (other["scu"], other["scp"], other["window"])
                    == (twin.scu, twin.scp, line["window"])
                ),
                None,
            )
            if before is None:
                continue
            cells = []
            for found in (before, line):
                cells.append(number(float(found["median"])) if found["ok"] else "**failed**")  # type: ignore[arg-type]
            ratio = "-"
            if before["ok"] and line["ok"]:
                old, new = float(before["median"]), float(line["median"])  # type: ignore[arg-type]
                ratio = f"{(old / new if result.scenario.lower_is_better else new / old):.2f}x"
            rows.append(
                f"| {result.scenario.title} | {label(line)} | {result.scenario.unit} | "
                f"{cells[0]} | {cells[1]} | {ratio} |"
            )
    return [*rows, ""]


def details(result: peers.ScenarioResult) -> list[str]:
    scenario = result.scenario
    better = "lower is better" if scenario.lower_is_better else "higher is better"
    rows = [
        f"**{scenario.title}** ({scenario.unit}, {better}; {result.seconds:.0f} s)",
        "",
        "| SCU → SCP | median | spread (min-max) | wall-clock median | peak RSS SCU / SCP "
        "| note |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for line in best_variants(result):
        rss = line.get("peak_rss_kib") or {}
        rss_cell = " / ".join(
            f"{rss[side] / 1024:.0f} MiB" if side in rss else "-"  # type: ignore[index,operator]
            for side in ("scu", "scp")
        )
        if not line["ok"]:
            rows.append(
                f"| {label(line)} | **failed** | | | {rss_cell} | {line['problem']} |".replace(
                    "\n", " "
                )
            )
            continue
        spread = f"{number(float(line['min']))}-{number(float(line['max']))}"  # type: ignore[arg-type]
        notes = []
        variant = str(line["variant"]).replace(str(line["window"]), "").strip(", ")
        if variant:
            other = line.get("other_variant")
            other_text = ""
            if isinstance(other, dict):
                runs = f", {other['runs']} run(s)" if other["runs"] == 1 else ""
                other_text = f"; {other['variant']}: {number(float(other['median']))}{runs}"
            notes.append(f"{variant}{other_text}")
        if not line["timed_inside"]:
            notes.append("wall-clock only")
        runs = line["runs"]
        assert isinstance(runs, list)
        retried = line.get("retried")
        if isinstance(retried, list) and retried:
            notes.append(f"a run failed and was run again: {retried[0]['problem']}")
        if any(run["fraction"] < 1 for run in runs):
            notes.append(f"probe: {peers.PROBE_SCALE:g} of the load, {len(runs)} run(s)")
        rows.append(
            f"| {label(line)} | {number(float(line['median']))} | {spread} "  # type: ignore[arg-type]
            f"| {number(float(line['median_wall']))} | {rss_cell} | {'; '.join(notes)} |"  # type: ignore[arg-type]
        )
    rows += [""] + [f"- {note}" for note in result.notes]
    return rows


def markdown(report: dict[str, object], results: Sequence[peers.ScenarioResult]) -> str:
    facts = report["machine"]
    sw = report["versions"]
    assert isinstance(facts, dict)
    assert isinstance(sw, dict)
    lines = [
        f"Measured {report['date']} with `{report['command']}` ({report['seconds']:.0f} s, "
        f"{report['repeat']} repetitions per pair, interleaved). Machine: {facts['system']}, "
        f"{facts['cpu']}, {facts['cpus']} CPUs, {facts['memory_gib']} GiB; load average "
        f"{report['load_before']:.2f} before, {report['load_after']:.2f} after. "
        + ", ".join(f"{k} {v}" for k, v in sw.items())
        + ".",
        "",
    ]
    if report.get("loaded_note"):
        lines += [f"**{report['loaded_note']}**", ""]
    not_run = report.get("not_run")
    if isinstance(not_run, list) and not_run:
        lines += [f"Not run this time: {', '.join(not_run)}.", ""]
    lines += [
        "Medians of the SCU's own timing (wall-clock where the SCU is DCMTK's); each "
        "implementation against itself (the whole-process case: into DCMTK's storescp; "
        "dicomul asyncio: into the blocking SCP where the scenario leaves the async one "
        "out); DCMTK "
        "at the better of with and without `TCP_NODELAY=1`. The ratios compare dicomul "
        "sync; above 1 means dicomul is ahead.",
        "",
        *headline(results),
        "",
        *baseline_rows(results),
        "![peer benchmark chart](results/peers.png)",
        "",
    ]
    for result in results:
        lines += [*details(result), ""]
    return "\n".join(lines).rstrip() + "\n"


def chart(results: Sequence[peers.ScenarioResult], path: pathlib.Path, title: str) -> None:
    """One panel per scenario: a bar per pair (median), whiskers min to max."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in results if r.entrants]
    columns = 3
    rows = max(1, (len(shown) + columns - 1) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(18, 3.6 * rows), squeeze=False)
    colours = {
        "dicomul-sync": "#1f77b4",
        "dicomul-asyncio": "#6baed6",
        "dicomul-trio": "#9ecae1",
        "dcmtk": "#2ca02c",
        "pynetdicom": "#d62728",
    }
    for ax, result in zip(axes.flat, shown, strict=False):
        lines = [line for line in best_variants(result) if line["ok"]]
        names = [label(line) for line in lines]
        medians = [float(line["median"]) for line in lines]  # type: ignore[arg-type]
        low = [m - float(line["min"]) for m, line in zip(medians, lines, strict=True)]  # type: ignore[arg-type]
        high = [float(line["max"]) - m for m, line in zip(medians, lines, strict=True)]  # type: ignore[arg-type]
        ax.barh(
            range(len(lines)),
            medians,
            xerr=[low, high],
            color=[colours.get(str(line["scu"]), "#7f7f7f") for line in lines],
        )
        ax.set_yticks(range(len(lines)), names, fontsize=7)
        ax.invert_yaxis()
        better = "lower is better" if result.scenario.lower_is_better else "higher is better"
        ax.set_title(f"{result.scenario.title}", fontsize=8, wrap=True)
        ax.set_xlabel(f"{result.scenario.unit} ({better})", fontsize=7)
        ax.tick_params(axis="x", labelsize=7)
    for ax in list(axes.flat)[len(shown) :]:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_readme(text: str, readme: pathlib.Path | None = None) -> None:
    """Replace what is between the markers in ``readme`` (bench/README.md)."""
    readme = README if readme is None else readme
    content = readme.read_text()
    if BEGIN not in content or END not in content:
        raise SystemExit(f"{readme} has no {BEGIN} ... {END} markers")
    head, rest = content.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{BEGIN}\n{text}{END}{tail}")


# --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="smaller loads, no 2 GiB case: under 5 minutes")
    add("--tiny", action="store_true", help=argparse.SUPPRESS)  # the smoke test's loads
    add("--repeat", type=int, help="runs per pair (default 5; 3 with --quick)")
    add("--scenarios", help=f"comma-separated, of: {', '.join(peer_scenarios.SCENARIOS)}")
    add("--pairs", help="only these SCU:SCP pairs, e.g. dicomul-sync:dcmtk,dcmtk:dcmtk")
    add("--workdir", help="where the data sets go (default: a temporary directory)")
    add("--json", type=pathlib.Path, default=RESULTS / "peers.json")
    add("--chart", type=pathlib.Path, default=RESULTS / "peers.png")
    add("--no-readme", action="store_true", help="do not write bench/README.md")
    add("--loaded", help="a sentence on the machine's load, printed above the tables")
    add(
        "--baseline",
        metavar="REV",
        help="also run dicomul (sync, asyncio, trio) at git revision REV beside each "
        "pair of dicomul peers (interleaved), and print a before/after table",
    )
    args = parser.parse_args(argv)
    import importlib.util

    needed = ("pydicom", "pynetdicom", "dicomul_sync", "dicomul_asyncio", "trio", "matplotlib")
    if missing := [name for name in needed if importlib.util.find_spec(name) is None]:
        parser.error(
            f"{sys.executable} cannot import {', '.join(missing)}: run it with the "
            "repository's venv, or pip install -e '.[bench,test]'"
        )
    sizes = peer_scenarios.Sizes.quick() if args.quick else peer_scenarios.Sizes()
    if args.tiny:
        sizes = peer_scenarios.Sizes.tiny()
    repeat = args.repeat or (3 if args.quick else 5)
    peers.precompile(peers.BENCH.parent)  # this tree's bytecode, as installed
    names = args.scenarios.split(",") if args.scenarios else list(peer_scenarios.SCENARIOS)
    if (args.quick or args.tiny) and not args.scenarios:
        names.remove("large")
    if unknown := [n for n in names if n not in peer_scenarios.SCENARIOS]:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    only = None
    if args.pairs:
        only = [tuple(pair.split(":", 1)) for pair in args.pairs.split(",")]
        if bad := [p for p in only if len(p) != 2 or not set(p) <= set(peers.PEERS)]:
            parser.error(f"unknown pairs: {bad}; peers are {', '.join(peers.PEERS)}")
    given = argv if argv is not None else sys.argv[1:]
    shown = [a for a in given if not a.startswith("--loaded")]
    if args.loaded and "--loaded" in shown:
        shown.remove("--loaded")  # its sentence is printed on its own
    if args.loaded in shown:
        shown.remove(args.loaded)
    command = "python bench/run_peers.py " + " ".join(shown)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    results = []
    with peer_scenarios.workdir(args.workdir) as workdir:
        if args.baseline:
            peers.add_baseline(args.baseline, workdir / "baseline")
        leave_out = {}
        if args.quick:
            leave_out["dicomul-trio"] = "--quick; trio runs the same dicomul_anyio code as asyncio"
        ctx = peer_scenarios.Context(workdir, sizes, repeat, only=only, leave_out=leave_out)  # type: ignore[arg-type]
        for name in names:
            results.append(peer_scenarios.SCENARIOS[name](ctx))
    report: dict[str, object] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command.strip(),
        "seconds": time.perf_counter() - started,
        "repeat": repeat,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "loaded_note": args.loaded,
        "machine": machine(),
        "versions": versions(),
        "sizes": dataclasses.asdict(sizes),
        "not_run": [
            f"`{name}`" + (" (the 2 GiB case is not in --quick)" if name == "large" else "")
            for name in peer_scenarios.SCENARIOS
            if name not in names
        ],
        "scenarios": [
            {
                **dataclasses.asdict(r.scenario),
                "seconds": r.seconds,
                "notes": r.notes,
                "pairs": [peers.summary(r.scenario, e) for e in r.entrants],
                # What the tables show (the runs themselves are under "pairs").
                "reported": [
                    {k: v for k, v in line.items() if k not in ("runs", "retried")}
                    for line in best_variants(r)
                ],
            }
            for r in results
        ],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1, default=str) + "\n")
    text = markdown(report, results)
    chart(results, args.chart, f"dicomul peer benchmark, {report['date']}: {command.strip()}")
    print(text)
    if not args.no_readme:
        write_readme(text)
    failed = [
        f"{r.scenario.key}: {e.key}"
        for r in results
        for e in r.entrants
        if any(o.problem for o in e.outcomes)
    ]
    if failed:
        print("failed (no figure counted):\n  " + "\n  ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
