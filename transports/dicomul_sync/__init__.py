"""dicomul_sync: blocking sockets around the dicomul core, with the pynetdicom3 API.

``AE(...).associate(addr, port)`` returns an :class:`Association` with every
DIMSE service as SCU (``send_c_echo/store/find/get/move/cancel``,
``send_n_event_report/get/set/action/create/delete``), ``release()`` and
``abort()``.  ``AE.start()`` serves them as SCP through the AE's handlers
(``on_c_echo``, ``on_c_store``, ``on_c_store_stream``, ``store_directory``,
``on_c_find/get/move``, ``on_n_...``) until ``AE.stop()``.  TLS through
:class:`ssl.SSLContext` on both sides.  No protocol rule lives here: the
core's :class:`dicomul.Connection` decides, this package moves bytes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dicomul_common.sop_classes import QueryRetrieveSOPClassList, StorageSOPClassList

    from . import evt
    from ._handlers import ServiceRequest, StoreSink, current_request
    from ._trace import debug_logger
    from .ae import AE
    from .association import Association

#: Public name -> the module defining it, imported on first use (PEP 562):
#: ``dicomul <app> --help`` and an app that needs no association (``dump``)
#: do not load the SCU and SCP machinery (issue 16).
_LAZY = {
    "AE": ".ae",
    "Association": ".association",
    "ServiceRequest": "._handlers",
    "StoreSink": "._handlers",
    "current_request": "._handlers",
    "debug_logger": "._trace",
}

#: The Verification SOP Class (PS3.4 Annex A).
VerificationSOPClass = "1.2.840.10008.1.1"

__all__ = [
    "AE",
    "Association",
    "QueryRetrieveSOPClassList",
    "ServiceRequest",
    "StorageSOPClassList",
    "StoreSink",
    "VerificationSOPClass",
    "current_request",
    "debug_logger",
    "evt",
]


def __getattr__(name: str) -> object:
    """The classes of :data:`_LAZY`, imported on first use; the SOP class
    lists and ``<Keyword>SOPClass`` constants, built from pydicom's UID
    dictionary on first use (importing pydicom is slow)."""
    if name == "evt":  # pynetdicom's ``from pynetdicom import evt``
        return importlib.import_module(".evt", __name__)
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name], __name__)
        value = getattr(module, name)
        globals()[name] = value  # the next look-up is a plain attribute
        return value
    if name in ("StorageSOPClassList", "QueryRetrieveSOPClassList") or name.endswith("SOPClass"):
        from dicomul_common import sop_classes  # noqa: PLC0415

        if name in ("StorageSOPClassList", "QueryRetrieveSOPClassList"):
            return getattr(sop_classes, name)
        constants = sop_classes.sop_class_constants()
        if name in constants:
            return constants[name]
    raise AttributeError(f"module 'dicomul_sync' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names, the lazy ones included (``help()`` and Sphinx's
    autodoc list a module's members from ``dir()``)."""
    return sorted({*globals(), *_LAZY})
