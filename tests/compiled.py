"""Whether the core under test is the mypyc-compiled build (bench/README.md,
"Speed work (issue 16)"), and what such a build does differently.

The suite runs against either build; the few tests that see a difference
ask :data:`COMPILED` and assert what each build does.
"""

from __future__ import annotations

import importlib.machinery

import dicomul.pdu

#: True when dicomul.pdu is an extension module (compiled by mypyc).
COMPILED = dicomul.pdu.__file__ is not None and dicomul.pdu.__file__.endswith(
    tuple(importlib.machinery.EXTENSION_SUFFIXES)
)

#: How a compiled function or class refuses a value of the wrong Python type
#: (a TypeError, before any check of the core's own runs).
WRONG_TYPE = r"object expected; got"
