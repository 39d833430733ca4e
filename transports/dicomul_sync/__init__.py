"""dicomul_sync: blocking sockets around the dicomul core, with the pynetdicom3 API.

So far association, verification and storage, both sides:
``AE(...).associate(addr, port)`` returns an :class:`Association` with
``send_c_echo()``, ``send_c_store()``, ``send_c_find()``, ``release()``
and ``abort()``;
``AE.start()`` serves C-ECHO and C-STORE (``ae.on_c_echo``,
``ae.on_c_store``) until ``AE.stop()``.  The other DIMSE services, TLS and
durable storage come with the rest of the blocking-transport issue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .ae import AE
from .association import Association

if TYPE_CHECKING:
    from .sop_classes import QueryRetrieveSOPClassList, StorageSOPClassList

#: The Verification SOP Class (PS3.4 Annex A).
VerificationSOPClass = "1.2.840.10008.1.1"

__all__ = [
    "AE",
    "Association",
    "QueryRetrieveSOPClassList",
    "StorageSOPClassList",
    "VerificationSOPClass",
]


def __getattr__(name: str) -> object:
    """The SOP class lists and ``<Keyword>SOPClass`` constants, built from
    pydicom's UID dictionary on first use (importing pydicom is slow)."""
    if name in ("StorageSOPClassList", "QueryRetrieveSOPClassList") or name.endswith("SOPClass"):
        from . import sop_classes  # noqa: PLC0415

        if name in ("StorageSOPClassList", "QueryRetrieveSOPClassList"):
            return getattr(sop_classes, name)
        constants = sop_classes.sop_class_constants()
        if name in constants:
            return constants[name]
    raise AttributeError(f"module 'dicomul_sync' has no attribute {name!r}")
