"""dicomul_anyio: the one async implementation behind dicomul_asyncio and dicomul_trio.

Written once on anyio, so that it runs natively on asyncio and on trio; the
two framework packages re-export it.  Like every adapter it holds no protocol
rule: the core (:mod:`dicomul`) decides, this package moves bytes, keeps
time on the event loop's clock and awaits.

So far: the SCU side, :func:`connect` (C-ECHO, C-STORE, C-FIND, release,
abort); the server side and the other services come next (issue 15).
"""

from __future__ import annotations

from ._client import (
    AssociationAbortedError,
    AssociationRejectedError,
    AsyncAssociation,
    NoAcceptedContextError,
    connect,
)

__all__ = [
    "AssociationAbortedError",
    "AssociationRejectedError",
    "AsyncAssociation",
    "NoAcceptedContextError",
    "connect",
]
