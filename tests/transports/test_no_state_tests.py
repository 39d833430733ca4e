"""Adapters ask the core's Connection what to do (``can_send_messages``,
``association_over``, ``release_to_answer``, the ``ConnectionClosed`` event)
instead of testing its PS3.8 states: what a state implies is the core's."""

from __future__ import annotations

import ast
import pathlib

import pytest

TRANSPORTS = pathlib.Path(__file__).resolve().parents[2] / "transports"


def state_tests(source: str) -> list[str]:
    """``line: State.STAn`` for each use of a PS3.8 state in ``source``."""
    return [
        f"{node.lineno}: State.{node.attr}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "State"
        and node.attr.startswith("STA")
    ]


def test_the_check_finds_a_state_test() -> None:
    assert state_tests("if conn.state is State.STA13:\n    pass\n") == ["1: State.STA13"]


@pytest.mark.parametrize(
    "path", sorted(TRANSPORTS.rglob("*.py")), ids=lambda p: str(p.relative_to(TRANSPORTS))
)
def test_no_state_test_in_transports(path: pathlib.Path) -> None:
    assert state_tests(path.read_text(encoding="utf-8")) == []


def state_uses(source: str) -> list[str]:
    """``line: what`` for each other way to reach a PS3.8 state: importing
    the ``State`` enum, ``anything.STAn``, or reading ``.state``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dicomul"):
            found += [f"{node.lineno}: import State" for a in node.names if a.name == "State"]
        elif isinstance(node, ast.Attribute) and (
            node.attr == "state" or (node.attr.startswith("STA") and node.attr[3:].isdigit())
        ):
            found.append(f"{node.lineno}: .{node.attr}")
    return found


def test_the_wider_check_finds_every_way_to_a_state() -> None:
    source = "from dicomul import State\nimport dicomul\nx = dicomul.State.STA6\nconn.state\n"
    assert state_uses(source) == ["1: import State", "3: .STA6", "4: .state"]


@pytest.mark.parametrize(
    "path", sorted(TRANSPORTS.rglob("*.py")), ids=lambda p: str(p.relative_to(TRANSPORTS))
)
def test_no_state_reached_otherwise_in_transports(path: pathlib.Path) -> None:
    assert state_uses(path.read_text(encoding="utf-8")) == []
