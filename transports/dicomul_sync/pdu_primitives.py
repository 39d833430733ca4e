"""Extended negotiation items as ``associate(ext_neg=...)`` takes them.

:func:`negotiation_items` checks a list of items and gives the core's
records (PS3.7 D.3.3), which :meth:`dicomul.AssociationRequest.with_negotiation`
puts in the A-ASSOCIATE-RQ.
"""

from __future__ import annotations

from collections.abc import Iterable

from dicomul import (
    AsynchronousOperationsWindowNegotiation,
    RoleProposal,
    SOPClassCommonExtendedNegotiation,
    SOPClassExtendedNegotiation,
    UserIdentity,
)

__all__ = ["negotiation_items"]

#: The core's records an ``ext_neg`` list may hold as they are.
CORE_RECORDS = (
    AsynchronousOperationsWindowNegotiation,
    RoleProposal,
    SOPClassExtendedNegotiation,
    SOPClassCommonExtendedNegotiation,
    UserIdentity,
)


def negotiation_items(items: Iterable[object]) -> tuple[object, ...]:
    """``items`` as the core's records; TypeError names one of another type."""
    if isinstance(items, str | bytes):
        raise TypeError(f"ext_neg must be a list of negotiation items, not {items!r}")
    converted: list[object] = []
    for item in items:
        if not isinstance(item, CORE_RECORDS):
            names = ", ".join(kind.__name__ for kind in CORE_RECORDS)
            raise TypeError(f"{item!r} is not an extended negotiation item ({names})")
        converted.append(item)
    return tuple(converted)
