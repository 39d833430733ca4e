"""The leaf types of dicomul_sync: what a handler gets, and what each part
of the package uses of the AE.

Every other module of the package may import this one; it imports none of
them.  The service layer (:mod:`._services`, :mod:`._sinks`) sees the AE
only through the narrow protocols here, :class:`StoreHandlers` and
:class:`ServiceHandlers`, and the SCU and SCP sides through
:class:`RequestorSettings` and :class:`AcceptorSettings`; the
:class:`dicomul_sync.AE` satisfies all of them.  The C-MOVE relay opens its
associations to the move destination through an :data:`OpenAssociation`
it is given (the AE's), so the SCP side never imports the SCU side.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

# Shared with the async server: one request type, one current_request().
from dicomul_common.requests import ServiceRequest, current_request, serving

if TYPE_CHECKING:
    import os
    import pathlib
    import ssl

    from dicomul_common.outgoing import Outgoing
    from pydicom.dataset import Dataset

    from dicomul import ContextSetting, Negotiated, ProposedContext
    from dicomul.pdu import UserIdentityRQSubItem

    #: What a C-GET or C-MOVE handler yields: an instance (a Dataset or the
    #: path of a Part 10 file), or a ``(status, None)`` refusal.
    RetrieveItem = Dataset | str | os.PathLike[str] | tuple[int, None]

__all__ = [
    "AcceptorSettings",
    "MoveAddress",
    "MoveAssociationOptions",
    "OpenAssociation",
    "RequestorSettings",
    "ServiceHandlers",
    "ServiceRequest",
    "StoreAssociation",
    "StoreHandlers",
    "StoreSink",
    "current_request",
    "serving",
]


class StoreSink(Protocol):
    """Where a C-STORE's data set goes, byte by byte, as it arrives.

    ``write`` gets the data set's bytes (as received, in the negotiated
    transfer syntax, never decoded) fragment by fragment; ``commit`` runs
    after the last one and returns the status to answer (None: Success), so
    it must only return once the data is safe; ``discard`` runs instead if
    the transfer fails or the peer goes away.
    """

    def write(self, data: bytes | memoryview) -> None: ...

    def commit(self) -> int | None: ...

    def discard(self) -> None: ...


class StoreHandlers(Protocol):
    """What the C-STORE sinks (:mod:`._sinks`) use of the AE."""

    @property
    def store_directory(self) -> str | None:
        """Where received data sets are stored durably, if anywhere."""

    @property
    def implementation_class_uid(self) -> str:
        """The UID put in received data sets' file meta information."""

    @property
    def implementation_version_name(self) -> str | None:
        """The version name put there with it."""

    def on_c_store(self, dataset: Dataset) -> object:
        """Take a received data set; the status to answer."""

    def on_c_stored(self, path: pathlib.Path) -> object:
        """Notification: a data set is safe under :attr:`store_directory`."""


class ServiceHandlers(StoreHandlers, Protocol):
    """What the service layer (:class:`._services.Services`) uses of the AE:
    its handlers, and the move destinations it knows."""

    @property
    def on_c_store_stream(self) -> Callable[[ServiceRequest], StoreSink] | None:
        """The streaming C-STORE handler, if any."""

    @property
    def move_destinations(self) -> Mapping[str, MoveAddress]:
        """Move destinations by AE title: (host, port), or (host, port,
        keywords for the association to it, as pynetdicom's ``associate()``
        takes them: see :class:`MoveAssociationOptions`)."""

    def on_c_echo(self) -> object:
        """The status of a C-ECHO."""

    def on_c_find(self, identifier: Dataset) -> Iterable[object]:
        """The matches of a C-FIND."""

    def on_c_get(self, identifier: Dataset) -> Iterable[RetrieveItem]:
        """The instances a C-GET retrieves."""

    def on_c_move(self, identifier: Dataset, move_aet: str) -> Iterable[RetrieveItem]:
        """The instances a C-MOVE sends to ``move_aet``."""

    def on_n_event_report(self, request: ServiceRequest) -> object:
        """Serve an N-EVENT-REPORT."""

    def on_n_get(self, request: ServiceRequest) -> object:
        """Serve an N-GET."""

    def on_n_set(self, request: ServiceRequest) -> object:
        """Serve an N-SET."""

    def on_n_action(self, request: ServiceRequest) -> object:
        """Serve an N-ACTION."""

    def on_n_create(self, request: ServiceRequest) -> object:
        """Serve an N-CREATE."""

    def on_n_delete(self, request: ServiceRequest) -> object:
        """Serve an N-DELETE."""


class _Timeouts(Protocol):
    """The timeouts every association of the AE keeps."""

    @property
    def acse_timeout(self) -> float | None: ...

    @property
    def dimse_timeout(self) -> float | None: ...

    @property
    def network_timeout(self) -> float | None: ...


class _Contexts(Protocol):
    """What the AE proposes or accepts."""

    @property
    def ae_title(self) -> str: ...

    @property
    def scu_sop_class(self) -> Sequence[str]: ...

    @property
    def scp_sop_class(self) -> Sequence[str]: ...

    @property
    def transfer_syntax(self) -> Sequence[str]: ...

    @property
    def implementation_class_uid(self) -> str: ...

    @property
    def implementation_version_name(self) -> str | None: ...

    @property
    def requested_contexts(self) -> Sequence[ContextSetting]: ...

    @property
    def supported_contexts(self) -> Sequence[ContextSetting]: ...


class RequestorSettings(ServiceHandlers, _Timeouts, _Contexts, Protocol):
    """What an association this AE requests (:class:`.association.Association`)
    uses of it: its proposal, its timeouts, and its handlers for the
    requests the peer sends meanwhile (a C-GET's C-STORE sub-operations)."""

    @property
    def connection_timeout(self) -> float | None: ...


class AcceptorSettings(ServiceHandlers, _Timeouts, _Contexts, Protocol):
    """What the SCP side (:class:`.server.Server`) uses of the AE."""

    @property
    def port(self) -> int: ...

    @property
    def require_calling_aet(self) -> str | list[str]: ...

    @property
    def require_called_aet(self) -> str | bool | list[str]: ...

    @property
    def maximum_associations(self) -> int: ...

    @property
    def maximum_pdu_size(self) -> int | None: ...

    @property
    def maximum_operations_performed(self) -> int: ...

    @property
    def accept_unknown_sop_classes(self) -> bool: ...

    @property
    def refuse_associations(self) -> bool: ...

    @property
    def require_implementation_class_uid(self) -> bool: ...

    @property
    def permitted_peers(self) -> Mapping[str, tuple[tuple[str, frozenset[str]], ...]]: ...

    @property
    def displace_idle_after(self) -> float | None: ...

    @property
    def on_user_identity(self) -> Callable[[UserIdentityRQSubItem, str], object] | None:
        """Decides on a requestor's user identity (None: not checked)."""

    def on_association_accepted(self, negotiated: Negotiated) -> object:
        """Notification: an association was accepted."""

    def on_association_released(self, negotiated: Negotiated) -> object:
        """Notification: an association was released."""

    def on_association_aborted(self, negotiated: Negotiated | None) -> object:
        """Notification: an association was aborted."""


class StoreAssociation(Protocol):
    """What the C-MOVE relay uses of an association it opened to the move
    destination: whether it was established, its C-STORE, its release."""

    @property
    def is_established(self) -> bool: ...

    def send_c_store(
        self, dataset: Outgoing, *, originator: tuple[str, int] | None = None
    ) -> Dataset | None: ...

    def release(self) -> None: ...


#: Where a C-MOVE destination is: (host, port), or (host, port, keywords)
#: with pynetdicom's ``associate()`` keywords for the association to it.
MoveAddress = tuple[str, int] | tuple[str, int, Mapping[str, object]]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MoveAssociationOptions:
    """How to request the association to a C-MOVE destination, where it
    differs from the AE's settings: the keywords of pynetdicom's
    ``associate()`` a C-MOVE handler may give with the destination's
    address, checked (see :func:`._move_options.move_association_options`).

    ``ae_title`` is the called AE title (default: the Move Destination);
    ``max_pdu`` the largest PDU this side receives (if ``max_pdu_given``;
    else the AE's ``maximum_pdu_size``); ``contexts`` the presentation
    contexts proposed (default: those the matches need); ``ext_neg`` the
    extended negotiation items; ``evt_handlers`` the event handlers of that
    association, besides the AE's; ``bind_address`` the local (host, port)
    to connect from; ``tls_args`` (ssl context, server hostname), over the
    AE's ``move_ssl_context``.
    """

    ae_title: str | None = None
    max_pdu: int | None = None
    max_pdu_given: bool = False
    contexts: tuple[ProposedContext, ...] | None = None
    ext_neg: tuple[object, ...] = ()
    evt_handlers: tuple[tuple[object, ...], ...] = ()
    bind_address: tuple[str, int] | None = None
    tls_args: tuple[ssl.SSLContext, str | None] | None = None


#: Requests an association with a C-MOVE destination: its AE title, its
#: (host, port), the presentation contexts to propose, and the handler's
#: options for it.  The association is returned established or not (see
#: ``is_established``); the AE's settings (its title, TLS for moves,
#: maximum PDU) are the factory's, unless the options say otherwise.
OpenAssociation = Callable[
    [str, tuple[str, int], Sequence["ProposedContext"], MoveAssociationOptions],
    StoreAssociation,
]
