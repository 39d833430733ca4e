"""Frozen dataclasses made cheaply at import: shared ``__repr__``, ``__eq__``, ``__hash__``.

Theory of operation.  ``@dataclass(frozen=True)`` writes the source of about
six methods per class (``__init__``, ``__repr__``, ``__eq__``, ``__hash__``,
the frozen ``__setattr__`` and ``__delattr__``) and compiles each one when
the module is imported: about 0.6 ms a class.  The core has some seventy
such classes (PDUs, items, events, configurations), and compiling them was
most of the time a ``dicomul echoscu`` process took to start (issue 16).

:func:`record` is applied over ``@dataclass(..., repr=False, eq=False)``: the
dataclass keeps its generated ``__init__`` and frozen ``__setattr__`` (and
``fields()``, ``replace()``, ``__match_args__``, slots, pickling), and the
three methods that only read the fields are the ones below, written once
for every class: the same results as the generated ones (equal only to an
instance of the very same class with equal fields, hashed on the fields,
shown as ``Name(field=value, ...)``).  A method the class defines itself is
kept, as a dataclass keeps it.  Typing is unchanged: the type checker
still sees a frozen dataclass.
"""

from __future__ import annotations

from dataclasses import fields
from operator import attrgetter
from typing import Any, TypeVar

__all__ = ["record"]

_T = TypeVar("_T")


def _no_fields(_: object) -> tuple[()]:
    return ()


def _repr(self: Any) -> str:
    cls = type(self)
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in cls._record_names)
    return f"{cls.__qualname__}({shown})"


def _eq(self: Any, other: object) -> object:
    key = type(self)._record_key
    if other.__class__ is self.__class__:
        return key(self) == key(other)
    return NotImplemented


def _hash(self: Any) -> int:
    cls: Any = type(self)
    return hash(cls._record_key(self))


def record(cls: type[_T]) -> type[_T]:
    """Give dataclass ``cls`` (made with ``repr=False, eq=False``) the shared
    ``__repr__``, ``__eq__`` and ``__hash__``, unless it defines its own."""
    names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
    cls._record_names = names  # type: ignore[attr-defined]
    # attrgetter of several names gives their tuple, of one the value: either
    # compares and hashes as the fields do.
    cls._record_key = attrgetter(*names) if names else _no_fields  # type: ignore[attr-defined]
    for name, method in (("__repr__", _repr), ("__eq__", _eq), ("__hash__", _hash)):
        if name not in cls.__dict__ or (name == "__hash__" and cls.__dict__[name] is None):
            setattr(cls, name, method)
    return cls
