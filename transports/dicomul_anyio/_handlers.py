"""What the async server calls: :class:`Handlers`, one optional callable
per service, and :class:`AsyncStoreSink`, where a streamed C-STORE goes.

Each handler may be an ``async def`` (awaited) or a plain function (its
result used as it is); one left None serves the service with its default:
C-ECHO answers Success, any other service "unrecognized operation"
(0x0211, PS3.7 C.5), as the blocking ``dicomul_sync.AE`` does: one rule,
the core's :func:`dicomul.unhandled_status`.  Inside a
handler :func:`dicomul_common.requests.current_request` gives the request
being served (its SOP class, the calling AE title, the command).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from dicomul_common.requests import ServiceRequest

__all__ = ["AsyncStoreSink", "Handlers"]

#: A handler: called with the service's arguments; a coroutine is awaited.
Handler = Callable[..., Any]


class AsyncStoreSink(Protocol):
    """Where a C-STORE's data set goes, fragment by fragment, as it arrives.

    ``write`` gets the data set's bytes (as received, in the negotiated
    transfer syntax, never decoded); ``commit`` runs after the last one and
    returns the status to answer (None: Success), so it must return only
    once the data is safe; ``discard`` runs instead if the transfer fails,
    is refused, is cancelled or the peer goes away (PS3.4 B.2.3: nothing
    partial is kept).
    """

    async def write(self, data: bytes) -> None: ...

    async def commit(self) -> int | None: ...

    async def discard(self) -> None: ...


@dataclass(slots=True)
class Handlers:
    """The async server's handlers; every field is optional.

    Storing (first that is set wins): ``on_c_store_stream(request)`` returns
    an :class:`AsyncStoreSink` for each C-STORE; ``store_directory`` stores
    each data set durably as ``<SOP Instance UID>.dcm`` there, exactly as
    received (Success only once it is fsynced under its final name), then
    calls ``on_c_stored(path)``; ``on_c_store(dataset)`` gets the data set
    decoded and returns the status.

    Query/retrieve: ``on_c_find(identifier)`` yields (async or not) matches,
    each a Dataset (Pending) or a ``(status, dataset)`` pair, a non-pending
    status ending the query; ``on_c_get(identifier)`` and
    ``on_c_move(identifier, move_aet)`` yield the instances to send (a
    Dataset or the path of a Part 10 file), or a ``(status, None)`` pair
    to refuse the request.  A C-MOVE destination is looked up in
    ``move_destinations`` (AE title to (host, port)); an unknown one is
    answered 0xA801 (PS3.4 C.4.2.1.5).

    DIMSE-N (PS3.7 10): ``on_n_get``, ``on_n_set``, ``on_n_action``,
    ``on_n_create``, ``on_n_delete`` and ``on_n_event_report`` get the
    :class:`~dicomul_common.requests.ServiceRequest` (its ``dataset``
    decoded) and return a status or ``(status, dataset)``.  An N-CREATE
    without an instance UID gets one assigned (PS3.7 10.1.5.1.4), in the
    request handed to the handler.

    User identity (PS3.7 D.3.3.7), as ``dicomul_sync.AE.on_user_identity``:
    ``on_user_identity(identity, calling_ae_title)`` (async or not: an
    ``async def`` may do I/O, a directory or a token service, while the
    server goes on with other peers) decides on the identity a requestor
    asserts (``identity.identity_type``, ``primary_field``,
    ``secondary_field``, ``positive_response_requested``) before the
    association is negotiated; it returns True/False, or ``(accepted,
    server response)`` (sent when the requestor asked for one).  False, a
    raise, or no answer within the ACSE timeout rejects the association
    (RJ 1/2/1, PS3.7 D.3.3.7.3).  None: identities are not checked.

    Notifications, as ``dicomul_sync.AE``'s (async or not; one that raises
    is logged and changes nothing): ``on_association_accepted(negotiated)``
    once the A-ASSOCIATE-AC is sent, ``on_association_released(negotiated)``
    when the peer releases it, ``on_association_aborted(negotiated)`` when
    it is aborted by either side, lost, or ended by cancelling the server
    (``negotiated`` is the :class:`dicomul.Negotiated` association).
    """

    on_c_echo: Handler | None = None
    on_c_store: Handler | None = None
    on_c_store_stream: Callable[[ServiceRequest], Any] | None = None
    store_directory: str | os.PathLike[str] | None = None
    on_c_stored: Handler | None = None
    on_c_find: Handler | None = None
    on_c_get: Handler | None = None
    on_c_move: Handler | None = None
    move_destinations: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    on_n_event_report: Handler | None = None
    on_n_get: Handler | None = None
    on_n_set: Handler | None = None
    on_n_action: Handler | None = None
    on_n_create: Handler | None = None
    on_n_delete: Handler | None = None
    on_user_identity: Handler | None = None
    on_association_accepted: Handler | None = None
    on_association_released: Handler | None = None
    on_association_aborted: Handler | None = None

    @property
    def stores(self) -> bool:
        """Whether any C-STORE handler is set."""
        return (
            self.on_c_store_stream is not None
            or self.store_directory is not None
            or self.on_c_store is not None
        )
