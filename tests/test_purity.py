"""The core does no I/O: nothing in dicomul/ imports a transport, a clock, a
thread, logging or a file API, or calls open() (shared/ARCHITECTURE.md)."""

from __future__ import annotations

import ast
import pathlib

import pytest

CORE = pathlib.Path(__file__).resolve().parent.parent / "dicomul"

BANNED_MODULES = {
    "socket", "ssl", "select", "selectors", "threading", "asyncio", "trio", "anyio",
    "time", "subprocess", "multiprocessing", "concurrent", "socketserver",
    "logging", "io", "os", "pathlib", "shutil", "tempfile", "mmap", "signal",
}  # fmt: skip
BANNED_CALLS = {"open", "print", "input", "exec", "eval", "__import__"}

# What the core may import (shared/ARCHITECTURE.md: "the standard library's
# pure parts ... and pydicom"): computation on values only, no I/O, no clock.
ALLOWED_MODULES = {
    "__future__", "dataclasses", "typing", "collections", "enum", "struct",
    "itertools", "functools", "re", "zlib", "types", "math", "operator",
    "pydicom", "dicomul", "hypothesis",  # hypothesis: dicomul.testing.strategies only
}  # fmt: skip


def violations(source: str, filename: str = "<string>") -> list[str]:
    """Return one line per banned import or call in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            modules = []
        found += [
            f"{filename}:{node.lineno} imports {m}"
            for m in modules
            if m.split(".")[0] in BANNED_MODULES
        ]
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in BANNED_CALLS
        ):
            found.append(f"{filename}:{node.lineno} calls {node.func.id}()")
    return found


def test_core_imports_only_allowed_modules() -> None:
    """An allow-list, so that a new I/O module cannot slip past the block-list."""
    imported = set()
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    assert imported - ALLOWED_MODULES == set()
    assert not ALLOWED_MODULES & BANNED_MODULES


def test_core_modules_do_no_io() -> None:
    files = sorted(CORE.rglob("*.py"))
    assert len(files) >= 8  # the scan really sees the package
    problems = [v for f in files for v in violations(f.read_text(), str(f.relative_to(CORE)))]
    assert problems == []


@pytest.mark.parametrize(
    "source",
    [
        "import socket",
        "import os.path",
        "from time import monotonic",
        "from concurrent.futures import ThreadPoolExecutor",
        "import logging",
        "def f():\n    return open('x')",
        "def f():\n    import trio",
    ],
)
def test_checker_catches(source: str) -> None:
    assert violations(source)


@pytest.mark.parametrize("source", ["import struct", "from dataclasses import dataclass"])
def test_checker_allows_pure_modules(source: str) -> None:
    assert violations(source) == []


def test_importing_core_pulls_no_io_module() -> None:
    """Importing dicomul in a fresh interpreter loads none of the banned modules
    beyond what the interpreter itself starts with."""
    import subprocess
    import sys

    code = (
        "import sys; before = set(sys.modules); import dicomul, dicomul.pdu; "
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = {name.split(".")[0] for name in out.stdout.split()}
    assert loaded & {"socket", "ssl", "select", "selectors", "threading", "asyncio", "trio",
                     "anyio", "hypothesis", "subprocess"} == set()  # fmt: skip


def test_only_the_strategies_module_imports_hypothesis() -> None:
    importers = set()
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(name.split(".")[0] == "hypothesis" for name in names):
                importers.add(path.relative_to(CORE).as_posix())
    assert importers == {"testing/strategies.py"}
