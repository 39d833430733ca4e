"""dicomul_anyio: the one async implementation behind dicomul_asyncio and dicomul_trio.

Written once on anyio, so that it runs natively on asyncio and on trio; the
two framework packages re-export it.  Like every adapter it holds no protocol
rule: the core (:mod:`dicomul`) decides, this package moves bytes, keeps
time on the event loop's clock and awaits.

The SCU side: :func:`connect`, with every DIMSE-C and DIMSE-N service, a
data set streamed from a file or an async source, and several tasks
pipelining requests on one association (PS3.7 D.3.3.3).
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
