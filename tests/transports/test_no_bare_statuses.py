"""Adapters and apps name DIMSE statuses by the core's enums: no status
written as a bare number in their code (docstrings and comments may quote
the wire values), so that the rule behind each one is the core's."""

from __future__ import annotations

import io
import pathlib
import tokenize

import pytest

from dicomul import GeneralStatus, QueryRetrieveStatus, StoreStatus

TRANSPORTS = pathlib.Path(__file__).resolve().parents[2] / "transports"
STATUSES = {int(m) for enum in (GeneralStatus, StoreStatus, QueryRetrieveStatus) for m in enum}


def bare_statuses(source: str) -> list[str]:
    """``line: literal`` for each hexadecimal literal in ``source``'s code
    (not its strings or comments) that is the value of a status."""
    return [
        f"{token.start[0]}: {token.string}"
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.NUMBER
        and token.string.lower().startswith("0x")
        and int(token.string, 16) in STATUSES
    ]


def test_the_check_finds_a_bare_status() -> None:
    source = 'def f():\n    """Answers 0xA700."""\n    return 0xA700  # 0xC000\n'
    assert bare_statuses(source) == ["3: 0xA700"]


@pytest.mark.parametrize(
    "path", sorted(TRANSPORTS.rglob("*.py")), ids=lambda p: str(p.relative_to(TRANSPORTS))
)
def test_no_bare_status_in_transports(path: pathlib.Path) -> None:
    assert bare_statuses(path.read_text(encoding="utf-8")) == []
