"""dicomul_sync's modules import one another without a circle (issue 15).

Every import of one of its modules counts (``from .x import``, ``from .
import x``, ``import dicomul_sync.x``), at module level, inside functions
and under ``if TYPE_CHECKING:`` alike: a circle that only the type checker or
a lazy import sees still ties the modules together (none can be read,
tested or replaced without the others).  Leaf types and the narrow handler
protocols live in ``_handlers``; the C-MOVE relay gets its association
factory injected, so the service layer never imports the SCU side.
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "transports" / "dicomul_sync"


def module_name(path: pathlib.Path) -> str:
    """``dicomul_sync.x.y`` for ``transports/dicomul_sync/x/y.py``."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, name: str, *, is_package: bool, modules: set[str]) -> set[str]:
    """The ``modules`` that module ``name``, of text ``source``, imports,
    however and wherever (lazily in a function, or for the type checker)."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            else:
                target = node.module or ""
            candidates = [target, *(f"{target}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found.update(c for c in candidates if c in modules and c != name)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    return {
        module_name(path): imported_modules(
            path.read_text(encoding="utf-8"),
            module_name(path),
            is_package=path.name == "__init__.py",
            modules=modules,
        )
        for path in paths
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A circle of imports in ``graph`` (its modules in order, the first
    repeated at the end), or None; a depth-first search."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for target in sorted(graph.get(node, ())):
            cycle = visit(target, [*path, node])
            if cycle is not None:
                return cycle
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle is not None:
            return cycle
    return None


def test_the_check_finds_a_circle_and_reads_every_kind_of_import() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    modules = {"p", "p.a", "p.b", "p.c", "p.d", "p.e", "p.sub", "p.sub.f"}
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import a\n"
        "from .b import thing\n"
        "import p.c\n"
        "if TYPE_CHECKING:\n"
        "    from .d import Type\n"
        "def lazy():\n"
        "    from .e import later\n"
    )
    # From p.sub.f, "from . import a" is p.sub's (p.sub.a is no module here).
    assert imported_modules(source, "p.sub.f", is_package=False, modules=modules) == {
        "p.sub",
        "p.c",
    }
    assert imported_modules(source, "p.x", is_package=False, modules=modules) == {
        "p",
        "p.a",
        "p.b",
        "p.c",
        "p.d",
        "p.e",
    }
    assert imported_modules("from .. import b", "p.sub.f", is_package=False, modules=modules) == {
        "p",
        "p.b",
    }
    assert imported_modules("from .f import g", "p.sub", is_package=True, modules=modules) == {
        "p.sub.f"
    }


def test_dicomul_sync_has_no_import_circle() -> None:
    assert find_cycle(import_graph()) is None


@pytest.mark.parametrize(
    "first", ["_handlers", "_sinks", "_services", "server", "association", "ae"]
)
def test_each_module_imports_first_in_a_fresh_interpreter(first: str) -> None:
    """Whatever is imported first, the package loads (a circle broken only
    by import order would fail one of these)."""
    code = f"import dicomul_sync.{first}; import dicomul_sync; dicomul_sync.AE()"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
