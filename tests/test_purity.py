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
            and not is_relative_import(node)
        ):
            found.append(f"{filename}:{node.lineno} calls {node.func.id}()")
    return found


def is_relative_import(call: ast.Call) -> bool:
    """``__import__(name, globals(), None, fromlist, 1)``: a module of the core
    itself, imported on first use (``dicomul/__init__.py``'s lazy names), which
    this checker reads like any other."""
    level = call.args[4] if len(call.args) == 5 else None
    level = next((k.value for k in call.keywords if k.arg == "level"), level)
    return (
        isinstance(call.func, ast.Name)
        and call.func.id == "__import__"
        and isinstance(level, ast.Constant)
        and level.value == 1
    )


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


#: The one exec() of the core: a record's __init__, compiled from its field
#: names, as dataclasses.dataclass compiles it (dicomul/_record.py, issue 16).
EXEMPT = {"_record.py": ["calls exec()"]}


def test_core_modules_do_no_io() -> None:
    files = sorted(CORE.rglob("*.py"))
    assert len(files) >= 8  # the scan really sees the package
    problems = []
    for f in files:
        name = str(f.relative_to(CORE))
        found = violations(f.read_text(), name)
        exempt = EXEMPT.get(name, [])
        assert [v.split(" ", 1)[1] for v in found if v.split(" ", 1)[1] in exempt] == exempt
        problems += [v for v in found if v.split(" ", 1)[1] not in exempt]
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
        "__import__('socket')",
        "__import__('socket', globals(), None, (), 0)",
    ],
)
def test_checker_catches(source: str) -> None:
    assert violations(source)


@pytest.mark.parametrize(
    "source",
    [
        "import struct",
        "from dataclasses import dataclass",
        "__import__('_acse', globals(), None, ('negotiate',), 1)",
    ],
)
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


# Adapters and apps see the core only through its public names (issue 15):
# what an adapter needs is exported from dicomul/__init__.py, so that another
# adapter (asyncio, trio, one of a user's own) can need no more.

TRANSPORTS = CORE.parent / "transports"


def _is_private(name: str) -> bool:
    """``_x`` is private; a dunder such as ``__version__`` is not."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_core_module(dotted: str) -> bool:
    """True for ``dicomul._x`` or any module below a private part of dicomul."""
    parts = dotted.split(".")
    return parts[0] == "dicomul" and any(_is_private(part) for part in parts[1:])


def private_core_uses(source: str, filename: str = "<string>") -> list[str]:
    """One line per use of a private name of dicomul in ``source``: importing
    a module ``dicomul._x``, importing ``_x`` from a dicomul module, or the
    attribute ``dicomul._x``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            used = [alias.name for alias in node.names if _private_core_module(alias.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            from_core = node.module.split(".")[0] == "dicomul"
            used = [
                f"{node.module}.{alias.name}"
                for alias in node.names
                if from_core and (_private_core_module(node.module) or _is_private(alias.name))
            ]
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "dicomul"
            and _is_private(node.attr)
        ):
            used = [f"dicomul.{node.attr}"]
        else:
            used = []
        found += [f"{filename}:{node.lineno} uses {name}" for name in used]
    return found


def test_adapters_and_apps_use_only_public_names_of_the_core() -> None:
    files = sorted(TRANSPORTS.rglob("*.py"))
    assert any(f.parent.name == "apps" for f in files)  # the scan sees the apps too
    problems = [
        use
        for f in files
        for use in private_core_uses(f.read_text(), str(f.relative_to(TRANSPORTS)))
    ]
    assert problems == []


@pytest.mark.parametrize(
    "source",
    [
        "import dicomul._acse",
        "import dicomul._dimse as dimse",
        "from dicomul._dimse import DataSetSource",
        "from dicomul import Connection, _dataset",
        "from dicomul.testing import _helpers",
        "import dicomul\nconnection = dicomul._connection",
    ],
)
def test_private_use_checker_catches(source: str) -> None:
    assert private_core_uses(source)


@pytest.mark.parametrize(
    "source",
    [
        "from dicomul import Connection, DataSetSource",
        "import dicomul.pdu",
        "from dicomul.testing.pair import ConnectionPair",
        "import dicomul\nversion = dicomul.__version__",
        "from ._channel import Channel",
        "from other._private import thing",
    ],
)
def test_private_use_checker_allows_public_names(source: str) -> None:
    assert private_core_uses(source) == []


def test_every_public_name_exists() -> None:
    """Each name in dicomul.__all__ resolves (the lazy pydicom helpers included)."""
    import dicomul

    assert [name for name in dicomul.__all__ if not hasattr(dicomul, name)] == []
    assert len(set(dicomul.__all__)) == len(dicomul.__all__)


EXAMPLES = CORE.parent / "examples"


def test_examples_use_only_public_names_of_the_core() -> None:
    """The examples show what any adapter can do: with public names only
    (examples/selectors_scp.py drives the core directly)."""
    files = sorted(EXAMPLES.glob("*.py"))
    assert EXAMPLES / "selectors_scp.py" in files
    problems = [
        use
        for f in files
        for use in private_core_uses(f.read_text(), str(f.relative_to(EXAMPLES)))
    ]
    assert problems == []
