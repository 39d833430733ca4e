"""The SCU side of DIMSE: responses gathered from the engine's events.

A requestor's engine (:class:`dicomul.Connection`) hands out a response as a
:class:`~dicomul.CommandReceived` and, when it carries one (a C-FIND match,
an N-GET reply), the data set's :class:`~dicomul.DataSetFragment` events.
:class:`ResponseCollector` puts each response back together as one
:class:`Response`, keeps no more than ``max_data_set`` bytes of its data set
(a peer sending more is a protocol error: the caller aborts), and says
whether a response is the final one of its request (PS3.7 9.1.2.1.x: a
C-FIND, C-GET or C-MOVE answers with Pending responses, then one final
response of any other status; every other request has one response).
Responses are keyed by the Message ID Being Responded To, so several
requests may be outstanding at once (PS3.7 D.3.3.3, asynchronous operations
window); the messages themselves never interleave (PS3.8 9.3.5).

Every adapter's SCU uses it, so that none writes these rules again.
"""

from __future__ import annotations

from collections import deque

from ._command import Command
from ._dimse import CommandReceived, DataSetFragment
from ._enums import AbortReason
from ._errors import RemoteProtocolError
from ._record import dataclass
from ._status import StatusCategory, status_category

__all__ = ["MAX_RESPONSE_DATA_SET", "Response", "ResponseCollector", "is_final_response"]

#: The largest data set of one response kept in memory (a C-FIND match, an
#: N-GET reply); a peer sending more is refused rather than let exhaust memory.
MAX_RESPONSE_DATA_SET = 64 * 1024 * 1024


def is_final_response(command: Command) -> bool:
    """Whether ``command`` is the last response to its request: any status
    but Pending (PS3.7 Annex C; a response without a status ends it too)."""
    return command.status is None or status_category(command.status) is not StatusCategory.PENDING


@dataclass(frozen=True, slots=True)
class Response:
    """One whole response: its command and its data set's bytes, if any."""

    command: Command
    data_set: bytes | None = None

    @property
    def message_id(self) -> int:
        """The Message ID of the request it answers."""
        return self.command.message_id_being_responded_to or 0

    @property
    def is_final(self) -> bool:
        """True for the last response to its request (see :func:`is_final_response`)."""
        return is_final_response(self.command)


class ResponseCollector:
    """Gather responses from a requestor's engine events.

    :meth:`take` an event: True if it belonged to a response (the caller
    passes other events, requests of the peer's, to its service layer);
    then :meth:`next_response` hands out each response made whole, in order.

    >>> from dicomul import CommandField
    >>> collector = ResponseCollector()
    >>> rsp = Command(command_field=CommandField.C_ECHO_RSP,
    ...               message_id_being_responded_to=1, status=0)
    >>> collector.take(CommandReceived(context_id=1, command=rsp))
    True
    >>> response = collector.next_response()
    >>> response.message_id, response.is_final, response.data_set
    (1, True, None)
    """

    def __init__(self, max_data_set: int = MAX_RESPONSE_DATA_SET) -> None:
        self.max_data_set = max_data_set
        self._ready: deque[Response] = deque()
        # The response whose data set is arriving, its parts and their size.
        self._pending: Command | None = None
        self._parts: list[bytes] = []
        self._size = 0

    def take(self, event: object) -> bool:
        """Take ``event`` if it is (part of) a response; False leaves it to the caller.

        Raises RemoteProtocolError (invalid PDU parameter value, the caller
        aborts) when a response's data set passes ``max_data_set`` bytes.
        """
        if isinstance(event, CommandReceived):
            if not event.command.is_response:
                return False
            if event.command.has_data_set:
                self._pending, self._parts, self._size = event.command, [], 0
            else:
                self._ready.append(Response(event.command))
            return True
        if isinstance(event, DataSetFragment) and self._pending is not None:
            self._size += len(event.data)
            if self._size > self.max_data_set:
                self._pending, self._parts = None, []
                raise RemoteProtocolError(
                    f"a response's data set is over {self.max_data_set} bytes "
                    "(ResponseCollector.max_data_set)",
                    abort_reason=AbortReason.INVALID_PDU_PARAMETER_VALUE,
                )
            self._parts.append(bytes(event.data))
            if event.is_last:
                self._ready.append(Response(self._pending, b"".join(self._parts)))
                self._pending, self._parts = None, []
            return True
        return False

    def next_response(self) -> Response | None:
        """The next whole response, or None."""
        return self._ready.popleft() if self._ready else None
