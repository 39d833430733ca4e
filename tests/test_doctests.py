"""The examples in the core's docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
from compiled import COMPILED

import dicomul

MODULES = sorted(
    name
    for _, name, _ in pkgutil.walk_packages(dicomul.__path__, "dicomul.")
    if not name.startswith("dicomul.testing")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


# Compiled by mypyc, a module's functions and classes are no longer Python
# ones and doctest finds few of their examples (those it finds run above):
# all of them run against the pure-Python core, the same source.
@pytest.mark.skipif(COMPILED, reason="doctest finds few examples in compiled modules")
def test_examples_exist() -> None:
    attempted = sum(doctest.testmod(importlib.import_module(n)).attempted for n in MODULES)
    assert attempted >= 10
