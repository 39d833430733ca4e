"""The peer's requests as an SCP that handles one event at a time sees them.

An SCP that awaits the next event (``dicomul_sync``, ``dicomul_anyio``) reads
a request's data set in a loop right after its command.  One driven by
callbacks (a ``selectors`` loop, a protocol class of an event framework)
gets the command and each piece of its data set as separate events from
:meth:`dicomul.Connection.next_event`, and must remember which request the
pieces belong to and when the request is whole, to answer it then.
:class:`IncomingRequests` keeps that: a DIMSE message is a command set
followed, when its Command Data Set Type (0000,0800) says so, by one data
set, and messages are not interleaved (PS3.7 6.3.1, PS3.8 Annex E.2); a
C-CANCEL is no request of its own, answered by nothing (PS3.7 9.3.2.3), and
a response answers this side's request (the SCU's business, not the SCP's).
:func:`unhandled_status` is the answer to a request no handler of the SCP's
decides.
"""

from __future__ import annotations

from ._command import CommandField
from ._dimse import CommandReceived, DataSetFragment
from ._events import Aborted, ConnectionClosed, Released
from ._services import HandlerOutcome, outcome_status
from ._status import GeneralStatus

__all__ = ["IncomingRequests", "unhandled_status"]


class IncomingRequests:
    """Follows the peer's requests through the events of one association.

    Pass every event to :meth:`follow`; it returns the request an event
    completes, to be answered now.  Meanwhile :attr:`in_hand` is the request
    whose data set is arriving (its pieces are the :class:`DataSetFragment`
    events), for an SCP to route them to that request's sink.

    >>> from dicomul import c_echo_rq
    >>> requests = IncomingRequests()
    >>> echo = CommandReceived(context_id=1, command=c_echo_rq(message_id=7))
    >>> requests.follow(echo) is echo
    True
    """

    def __init__(self) -> None:
        #: The request whose command arrived and whose data set is arriving.
        self.in_hand: CommandReceived | None = None

    def follow(self, event: object) -> CommandReceived | None:
        """Take one event; return the request it completes (its command when
        no data set follows, else the last piece of its data set), or None."""
        if isinstance(event, CommandReceived):
            command = event.command
            self.in_hand = None
            if command.is_response or command.command_field == CommandField.C_CANCEL_RQ:
                return None
            if command.has_data_set:
                self.in_hand = event
                return None
            return event
        if isinstance(event, DataSetFragment):
            request = self.in_hand
            if event.is_last:
                self.in_hand = None
                return request
            return None
        if isinstance(event, Aborted | Released | ConnectionClosed):
            self.in_hand = None  # the association is over: the rest never comes
        return None


def unhandled_status(command_field: int) -> int:
    """The status an SCP answers a request with when no handler of its own
    decides: Success for a C-ECHO, since answering it is the whole of the
    service ("verifies communication by issuing a C-ECHO response", PS3.7
    9.1.5.2 c), and
    "Unrecognized operation" for any other (PS3.7 C.5, through
    :func:`dicomul.outcome_status`).

    >>> unhandled_status(CommandField.C_ECHO_RQ), hex(unhandled_status(CommandField.N_SET_RQ))
    (<GeneralStatus.SUCCESS: 0>, '0x211')
    """
    if command_field == CommandField.C_ECHO_RQ:
        return GeneralStatus.SUCCESS
    return outcome_status(command_field, HandlerOutcome.NOT_IMPLEMENTED)
