"""A request the peer made of an SCP, as every adapter's handlers see it.

Shared by the blocking server (``dicomul_sync``) and the async one
(``dicomul_anyio``): a handler gets a :class:`ServiceRequest` (or reads
the one being served with :func:`current_request`), whichever adapter
calls it.  The request being served is a :mod:`contextvars` variable, so
it follows a thread in the blocking adapter and a task in the async one.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from dicomul import Command, Negotiated

__all__ = ["ServiceRequest", "current_request", "serving"]


@dataclass(frozen=True, slots=True)
class ServiceRequest:
    """A request the peer made of this AE, as handlers see it.

    ``dataset`` is the request's data set, decoded (None if it has none,
    and for a C-STORE, whose data set goes to its sink: ``on_c_store``
    gets it decoded as its argument).  ``peer_address`` is the peer's IP
    address, where the adapter knows it (storescp's ``#r``).
    """

    command: Command
    context_id: int
    transfer_syntax: str
    negotiated: Negotiated
    dataset: Dataset | None = None
    peer_address: str | None = None

    @property
    def sop_class_uid(self) -> str:
        """The affected or requested SOP class UID."""
        return self.command.affected_sop_class_uid or self.command.requested_sop_class_uid or ""

    @property
    def sop_instance_uid(self) -> str | None:
        """The affected or requested SOP instance UID, if any."""
        command = self.command
        return command.affected_sop_instance_uid or command.requested_sop_instance_uid

    @property
    def calling_ae_title(self) -> str:
        """The AE title of the association requestor."""
        return self.negotiated.calling_ae_title


#: The request being served in this thread or task (for handlers: current_request()).
_CURRENT: contextvars.ContextVar[ServiceRequest] = contextvars.ContextVar("dicomul_request")


def current_request() -> ServiceRequest:
    """Inside an SCP handler (``on_c_store``, ``on_c_stored``,
    ``on_c_store_stream`` and its sink's methods, ``on_c_find``,
    ``on_c_get``, ``on_n_get``...): the request being served, for what the
    seed-style arguments leave out (its SOP class, hence the query/retrieve
    model; the calling AE title; the command).  Raises LookupError outside
    a handler."""
    return _CURRENT.get()


class serving:  # noqa: N801 - used as a function: ``with serving(request):``
    """Make ``request`` what current_request() gives while handlers run for it.

    A class rather than a ``contextlib.contextmanager`` generator: it is
    entered for every request an SCP serves, and a generator's context
    manager costs several times as much."""

    __slots__ = ("_request", "_token")

    def __init__(self, request: ServiceRequest) -> None:
        self._request = request
        self._token: contextvars.Token[ServiceRequest] | None = None

    def __enter__(self) -> None:
        self._token = _CURRENT.set(self._request)

    def __exit__(self, *exc_info: object) -> None:
        assert self._token is not None
        _CURRENT.reset(self._token)
        self._token = None
