"""The core's ``dataclass``: frozen, slotted records built cheaply at import.

Theory of operation.  ``dataclasses.dataclass(frozen=True)`` writes the
source of about six methods per class (``__init__``, ``__repr__``,
``__eq__``, ``__hash__``, the frozen ``__setattr__`` and ``__delattr__``)
and compiles each one, in its own ``exec``, when the module is imported:
about 0.6 ms a class.  The core has some seventy such classes (PDUs, items,
events, configurations), and compiling them was most of the time a
``dicomul echoscu`` process took to start (issue 16).

Core modules import ``dataclass`` from here.  The type checker sees
:func:`dataclasses.dataclass` itself (the ``TYPE_CHECKING`` import below),
so typing is exactly a dataclass's.  At run time, a class asking for
``frozen=True, slots=True`` (every record of the core; anything else goes to
:func:`dataclasses.dataclass` unchanged) is built here with one ``exec``,
for its ``__init__``; ``__repr__``, ``__eq__``, ``__hash__``, the frozen
``__setattr__``/``__delattr__`` and pickling are functions written once
below, shared by every record.  The result behaves as the dataclass would:
keyword-only or positional ``__init__`` with defaults, ``default_factory``
and ``__post_init__``; equal only to an instance of the very same class
with equal fields, hashed on them, shown as ``Name(field=value, ...)``;
:class:`dataclasses.FrozenInstanceError` on assignment; and
:func:`dataclasses.fields`, :func:`dataclasses.replace` and
``__match_args__`` work (``tests/test_record.py`` compares each with a real
dataclass).  A method the class defines itself is kept, as a dataclass
keeps it.
"""

from __future__ import annotations

import dataclasses
from operator import attrgetter
from typing import TYPE_CHECKING, Any

__all__ = ["dataclass"]

if TYPE_CHECKING:
    from dataclasses import dataclass
else:

    def dataclass(cls=None, /, **options):
        """:func:`dataclasses.dataclass`, building frozen slotted classes cheaply."""

        def wrap(cls):
            # A class compiled by mypyc (the optional build, setup.py) is a
            # native class: its fields are slots mypyc made, and only
            # dataclasses' own decorator may finish it.
            if _is_plain_record(options) and not hasattr(cls, "__mypyc_attrs__"):
                return _record(cls, kw_only=options.get("kw_only", False))
            return dataclasses.dataclass(cls, **options)

        return wrap if cls is None else wrap(cls)


#: Options of the records built here (the rest left at the defaults).
_RECORD_OPTIONS = {"frozen", "slots", "kw_only"}
#: The marker :func:`dataclasses.fields` keeps a field by (an instance field).
_FIELD = dataclasses._FIELD  # type: ignore[attr-defined]
_MISSING: Any = dataclasses.MISSING


def _is_plain_record(options: dict[str, Any]) -> bool:
    return (
        options.get("frozen") is True
        and options.get("slots") is True
        and set(options) <= _RECORD_OPTIONS
    )


class _Params:
    """What ``__dataclass_params__`` holds for a record (a dataclass that
    inherits from one reads ``frozen``)."""

    __slots__ = ()
    init = repr = eq = frozen = True
    order = unsafe_hash = False


class _HasFactory:
    """The default of a parameter whose field has a ``default_factory``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<factory>"


_HAS_FACTORY = _HasFactory()


def _record(cls: type, *, kw_only: bool) -> type:
    fields: dict[str, dataclasses.Field[Any]] = {}
    for base in reversed(cls.__mro__[1:]):
        fields.update(base.__dict__.get("__dataclass_fields__", {}))
    own: list[str] = []
    # The class's own annotations, as dataclasses reads them (no inspect).
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063
        text = annotation if isinstance(annotation, str) else repr(annotation)
        if text.startswith(("ClassVar", "typing.ClassVar", "InitVar", "dataclasses.InitVar")):
            if "InitVar" in text.split("[")[0]:
                raise TypeError(f"{cls.__qualname__}: InitVar is not supported by dicomul._record")
            continue
        default = cls.__dict__.get(name, _MISSING)
        field: dataclasses.Field[Any] = (
            default if isinstance(default, dataclasses.Field) else dataclasses.field()
        )
        if field is not default:
            field.default = default
        field.name = name
        field.type = annotation
        field._field_type = _FIELD  # type: ignore[attr-defined]
        if field.kw_only is _MISSING:
            field.kw_only = kw_only
        fields[name] = field
        own.append(name)

    namespace = dict(cls.__dict__)
    for name in own:
        namespace.pop(name, None)  # a default: a slot of that name holds the value
    namespace.pop("__dict__", None)
    namespace.pop("__weakref__", None)
    inherited = {slot for base in cls.__mro__[1:] for slot in base.__dict__.get("__slots__", ())}
    namespace["__slots__"] = tuple(name for name in fields if name not in inherited)
    namespace["__qualname__"] = cls.__qualname__
    namespace["__dataclass_fields__"] = fields
    namespace["__dataclass_params__"] = _Params()
    names = tuple(fields)
    namespace["_record_names"] = names
    namespace["_record_key"] = attrgetter(*names) if names else _no_fields
    namespace["__init__"] = _init(cls, fields)
    shared = {
        "__repr__": _repr,
        "__eq__": _eq,
        "__setattr__": _setattr,
        "__delattr__": _delattr,
        "__getstate__": _getstate,
        "__setstate__": _setstate,
    }
    for name, method in shared.items():
        if name not in cls.__dict__:
            namespace[name] = method
    if cls.__dict__.get("__hash__") is None:  # not defined, or None for an own __eq__
        namespace["__hash__"] = _hash
    if "__match_args__" not in cls.__dict__:
        namespace["__match_args__"] = tuple(n for n, f in fields.items() if not f.kw_only)
    return type(cls)(cls.__name__, cls.__bases__, namespace)


def _init(cls: type, fields: dict[str, dataclasses.Field[Any]]) -> Any:
    """The ``__init__`` of a record: the one function compiled per class."""
    context: dict[str, Any] = {"_set": object.__setattr__, "_HAS_FACTORY": _HAS_FACTORY}
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    for name, field in fields.items():
        if field.default is not _MISSING:
            context[f"_default_{name}"] = field.default
            parameter = f"{name}=_default_{name}"
        elif field.default_factory is not _MISSING:
            context[f"_factory_{name}"] = field.default_factory
            parameter = f"{name}=_HAS_FACTORY"
            body.append(f"if {name} is _HAS_FACTORY: {name} = _factory_{name}()")
        else:
            parameter = name
        (keyword if field.kw_only else positional).append(parameter)
        body.append(f"_set(self, {name!r}, {name})")
    if hasattr(cls, "__post_init__"):
        body.append("self.__post_init__()")
    parameters = ["self", *positional, *(["*", *keyword] if keyword else [])]
    source = f"def __init__({', '.join(parameters)}):\n " + "\n ".join(body or ["pass"])
    exec(source, context)
    init = context["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__annotations__ = {name: field.type for name, field in fields.items()} | {"return": None}
    return init


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
    # attrgetter of several names gives their tuple, of one the value:
    # either hashes as the fields do.
    cls: Any = type(self)
    return hash(cls._record_key(self))


def _setattr(self: Any, name: str, value: object) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _delattr(self: Any, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


def _getstate(self: Any) -> list[object]:
    return [getattr(self, name) for name in type(self)._record_names]


def _setstate(self: Any, state: list[object]) -> None:
    for name, value in zip(type(self)._record_names, state, strict=True):
        object.__setattr__(self, name, value)
