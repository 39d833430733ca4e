"""How an app gives up on what its options name: the leaf every app module
may import (the option parsing in :mod:`._cli` and the TLS set-up in
:mod:`._tls` both report through it, so neither imports the other for it)."""

from __future__ import annotations

import sys
from typing import NoReturn

__all__ = ["fail"]


def fail(message: str) -> NoReturn:
    """An ``E:`` line on stderr and exit status 1: for what the options name
    but cannot be used (a missing file, a bad certificate)."""
    print(f"E: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)
