"""dicomul._record.dataclass builds frozen slotted records as dataclasses does (issue 16).

Each behaviour is checked on a pair of twin classes, one made by
:func:`dataclasses.dataclass` and one by the core's cheaper builder.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from compiled import COMPILED

from dicomul import _record


def make(decorator: Callable[..., Any], **options: Any) -> tuple[type, type]:
    """A base record and a subclass of it, made with ``decorator(**options)``."""

    @decorator(frozen=True, slots=True, **options)
    class Base:
        """A base record."""

        kind: ClassVar[int] = 7
        a: int
        b: bytes = b"b"
        c: dict[str, int] = dataclasses.field(default_factory=dict)

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError("a < 0")

        def doubled(self) -> int:
            return 2 * self.a

    @decorator(frozen=True, slots=True, **options)
    class Child(Base):
        """A record that adds a field."""

        d: str = "d"

    return Base, Child


@pytest.mark.parametrize("options", [{"kw_only": True}, {}])
def test_the_builder_matches_dataclasses(options: dict[str, Any]) -> None:
    real_base, real_child = make(dataclasses.dataclass, **options)
    base, child = make(_record.dataclass, **options)
    for real, ours in ((real_base, base), (real_child, child)):
        assert str(inspect.signature(ours)) == str(inspect.signature(real))
        assert [(f.name, f.type, f.default, f.kw_only) for f in dataclasses.fields(ours)] == [
            (f.name, f.type, f.default, f.kw_only) for f in dataclasses.fields(real)
        ]
        assert ours.__match_args__ == real.__match_args__
        assert ours.__slots__ == real.__slots__
        assert ours.__doc__ == real.__doc__
        assert ours.__qualname__.split(".")[-1] == real.__qualname__.split(".")[-1]
        assert dataclasses.is_dataclass(ours)
        assert ours.kind == 7
        assert not hasattr(ours(a=1), "__dict__")

    x, y = child(a=1, d="x"), real_child(a=1, d="x")
    assert repr(x).replace(child.__qualname__, "C") == repr(y).replace(
        real_child.__qualname__, "C"
    )
    assert x == child(a=1, d="x")
    assert x != child(a=2, d="x")
    assert x != base(a=1)  # another class, even a base: not equal
    with pytest.raises(TypeError, match="unhashable"):
        hash(x)  # a dict field, as with a dataclass
    assert x.doubled() == 2
    assert child(a=1).c is not child(a=1).c  # default_factory: one each
    assert dataclasses.replace(x, a=5) == child(a=5, d="x")
    with pytest.raises(ValueError, match="a < 0"):
        child(a=-1)  # __post_init__ ran
    with pytest.raises(dataclasses.FrozenInstanceError):
        x.a = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del x.a  # type: ignore[misc]
    with pytest.raises(AttributeError):
        x.e = 1  # type: ignore[attr-defined]


def test_records_hash_on_their_fields() -> None:
    @_record.dataclass(frozen=True, slots=True, kw_only=True)
    class Point:
        x: int
        y: int = 0

    @_record.dataclass(frozen=True, slots=True)
    class One:
        x: int

    @_record.dataclass(frozen=True, slots=True)
    class Empty:
        pass

    assert hash(Point(x=1)) == hash(Point(x=1, y=0))
    assert {Point(x=1), Point(x=1), Point(x=2)} == {Point(x=1), Point(x=2)}
    assert {One(1), One(1)} == {One(1)}
    assert Empty() == Empty()
    assert hash(Empty()) == hash(Empty())
    assert repr(Empty()).endswith("Empty()")


def test_core_records_pickle_and_copy() -> None:
    from dicomul import AssociationRequest, propose_contexts
    from dicomul.pdu import AbortRQ

    request = AssociationRequest(
        calling_ae_title="A", called_ae_title="B", contexts=propose_contexts(["1.2"], ["1.2.3"])
    )
    for record in (AbortRQ(source=2, reason=1), request):
        if COMPILED:  # mypyc's pickling sets frozen fields one by one (bench/README.md)
            with pytest.raises(dataclasses.FrozenInstanceError):
                copy.copy(record)
            continue
        assert pickle.loads(pickle.dumps(record)) == record
        assert copy.deepcopy(record) == record
        assert copy.copy(record) == record


def test_other_options_go_to_dataclasses() -> None:
    @_record.dataclass(slots=True)
    class Mutable:
        a: int

    m = Mutable(a=1)
    m.a = 2
    assert m == Mutable(a=2)


def test_a_real_dataclass_can_inherit_from_a_record() -> None:
    base, _ = make(_record.dataclass, kw_only=True)

    @dataclasses.dataclass(frozen=True)
    class Sub(base):  # type: ignore[valid-type, misc]
        e: int = 0

    assert Sub(a=1, e=2).e == 2
