"""The Sans-IO association: bytes and local requests in, events and bytes out.

Theory of operation
-------------------
A :class:`Connection` is one side of one DICOM association, in the manner of
h11's ``Connection``.  It never touches a socket or a clock:

* The adapter feeds what it reads to :meth:`Connection.receive_data` (``b""``
  when the peer closed the connection) and pulls events with
  :meth:`Connection.next_event` until it gets :data:`NEED_DATA`.
* Local requests (associate, accept, release, abort) go in through
  :meth:`Connection.send`; a DIMSE message whose data set is in memory
  through :meth:`Connection.send_message`; one whose data set is read
  chunk by chunk (a large file, an async source) through
  :meth:`Connection.start_message`, whose :class:`OutgoingMessage` takes
  the data set a chunk at a time (``push``, ``finish``) so that it is never
  held whole; both cut PDUs with the one :class:`~dicomul.Fragmenter`.  A
  message abandoned midway aborts the association
  (:meth:`OutgoingMessage.abandon`).
* There is one way out for bytes: every call queues what it produces (the
  A-ASSOCIATE-RQ, a message's PDUs, the answers to what was received, a
  timer's A-ABORT) and :meth:`Connection.data_to_send` hands it over.  The
  adapter writes ``data_to_send()`` after every call it makes, in the order
  the calls were made (as h2's ``data_to_send``).  The queue is a list of
  buffers (a data set's fragments are views of it, not copies):
  :meth:`Connection.data_to_send_buffers` hands the same queue out unjoined,
  for a transport that writes several buffers at once (``sendmsg``);
  ``data_to_send`` is that list joined.
* Time is a number the caller passes (``now=``) to every call that can move
  a timer; the engine never reuses an earlier time for a later moment: the
  adapter reports each write it finishes with :meth:`Connection.wrote`, as
  the PDUs of a message are produced long before the last is written.
  :attr:`next_deadline` says when :meth:`handle_timeout` must next be called.
* There is one signal to close the transport: :meth:`Connection.next_event`
  returns :class:`ConnectionClosed`, its last event (after the bytes still
  to write, such as an A-ABORT).  :attr:`release_to_answer` says when to
  answer the peer's A-RELEASE-RQ.  Both are the core's policy (PS3.8 7.2,
  9.1.4, Table 9-10), so no adapter decides them for itself.

Every input is one event of PS3.8 Table 9-10 (Evt1 to Evt19); the table in
:mod:`dicomul._fsm` names the action, and :data:`_ACTIONS` names the method that
carries it out.  A peer's misbehaviour never raises out of ``receive_data`` or
``next_event``: it becomes the A-ABORT the table names, queued for sending,
and an :class:`Aborted` event.  A local misuse (an event the table does not
allow in the current state) raises :class:`~dicomul.LocalProtocolError` and
changes nothing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import Any

from ._acse import (
    AssociationRequest,
    Negotiated,
    build_associate_rq,
    interpret_ac,
    negotiate,
)
from ._buffer import STREAM_PDATA_ABOVE, ReceiveBuffer
from ._command import Command, CommandField
from ._dimse import (
    CommandReceived,
    DataSetFragment,
    Fragmenter,
    Piece,
    Reassembler,
    check_data_set,
)
from ._enums import (
    AbortReason,
    AbortSource,
    RejectReasonACSE,
    RejectResult,
    RejectSource,
)
from ._errors import LocalProtocolError, RemoteProtocolError
from ._events import (
    NEED_DATA,
    Abort,
    Aborted,
    AcceptAssociation,
    AssociationAccepted,
    AssociationRejected,
    AssociationRequested,
    ConnectionClosed,
    ConnectionEvent,
    NeedData,
    RejectAssociation,
    Released,
    ReleaseRequested,
    RequestAssociation,
    RequestRelease,
    RespondRelease,
)
from ._fsm import NEXT_STATE, TRANSITIONS, Action, Event, State, transition
from ._idle import Progress
from ._requests import c_cancel_rq
from ._status import StatusCategory, status_category
from ._wire import BytesLike
from .pdu import (
    AbortRQ,
    AssociateAC,
    AssociateRJ,
    AssociateRQ,
    PDataTF,
    ReleaseRP,
    ReleaseRQ,
    encode,
    pdata_header,
)

__all__ = ["DEFAULT_ARTIM_TIMEOUT", "Connection", "Role"]

#: ARTIM timer period in seconds (PS3.8 9.1.5: a local, configurable value).
DEFAULT_ARTIM_TIMEOUT = 30.0
#: The transitions a connection keeps for :meth:`Connection.take_transitions`
#: at most (the oldest go first): bounded, should no one take them.
MAX_RECORDED_TRANSITIONS = 1024


class Role(Enum):
    """Which side of the association this connection plays (PS3.8 7.1)."""

    REQUESTOR = "requestor"
    ACCEPTOR = "acceptor"


_PDU_EVENTS: dict[type, Event] = {
    AssociateAC: Event.EVT3,
    AssociateRJ: Event.EVT4,
    AssociateRQ: Event.EVT6,
    PDataTF: Event.EVT10,
    ReleaseRQ: Event.EVT12,
    ReleaseRP: Event.EVT13,
    AbortRQ: Event.EVT16,
}

#: States in which DIMSE messages flow: established, or releasing (PS3.8 9.2).
_DATA_STATES = frozenset(
    {State.STA6, State.STA7, State.STA8, State.STA9, State.STA10, State.STA11, State.STA12}
)
#: States in which this side may send P-DATA (Evt9: DT-1 in Sta6, AR-7 in Sta8).
_SENDING_STATES = frozenset({State.STA6, State.STA8})

#: States awaiting this side's A-RELEASE response primitive, Evt14 (PS3.8
#: Table 9-10: Sta8, AR-4; collision: Sta9, AR-9, requestor; Sta12, AR-4, acceptor).
_RELEASE_ANSWER_STATES = frozenset(state for state, event in TRANSITIONS if event is Event.EVT14)

#: The requests C-CANCEL applies to (PS3.7 9.3.2.3, 9.3.3.3, 9.3.4.3).
_CANCELLABLE = frozenset({CommandField.C_FIND_RQ, CommandField.C_GET_RQ, CommandField.C_MOVE_RQ})
#: Bit 15 of the Command Field: set in a response (PS3.7 Table E.1-1).
_RESPONSE_BIT = 0x8000


def _same_context(context_id: int, expected: int, what: str) -> None:
    """PS3.7 9.1.1: a response or cancel travels on its request's context."""
    if context_id != expected:
        raise LocalProtocolError(
            f"{what} must go on presentation context {expected}, its request's, not {context_id}"
        )


#: States awaiting the peer's A-ASSOCIATE or A-RELEASE answer, which the
#: ACSE timeout bounds.
_ACSE_WAITS = frozenset({State.STA5, State.STA7})
#: States in which no association exists any more (PS3.8 Table 9-1).
_ASSOCIATION_GONE = frozenset({State.STA1, State.STA13})
#: States in which a P-DATA-TF PDU (Evt10) is indicated to the user and
#: nothing else happens: DT-2 in Sta6 and AR-6 in Sta7, the state unchanged
#: (PS3.8 Table 9-10, read from the table itself).  The engine carries them
#: out directly, a P-DATA-TF being the PDU of every message.
_PDATA_INDICATED = frozenset(
    state
    for (state, event), action in TRANSITIONS.items()
    if event is Event.EVT10
    and action in (Action.DT_2, Action.AR_6)
    and NEXT_STATE[action] is state
)

#: Actions after which the transport connection is to be closed (PS3.8 9.2.2).
_CLOSING = frozenset(
    {Action.AE_4, Action.AR_3, Action.AR_5, Action.AA_2, Action.AA_3, Action.AA_4, Action.AA_5}
)


class OutgoingMessage:
    """One DIMSE message being sent, its data set pushed chunk by chunk.

    Made by :meth:`Connection.start_message`.  :meth:`push` and
    :meth:`finish` queue the P-DATA-TF PDUs they complete (the command's go
    out with the first of them), fragmented to the peer's maximum PDU length
    (:class:`~dicomul.Fragmenter`), for :meth:`Connection.data_to_send`; the
    adapter writes them after each call, and may await between chunks.  Once
    the association has ended under the message (an abort read meanwhile)
    they queue nothing.

    A message given up midway cannot be taken back: the peer holds part of
    it and DIMSE has no way to say "ignore that" (PS3.8 9.3.5), so
    :meth:`abandon` aborts the association.  Caller errors (a chunk beyond
    the announced length, :meth:`finish` too early, anything after
    :meth:`finish`) raise :class:`~dicomul.LocalProtocolError` and change
    nothing: the message stays open, to be completed or abandoned; nothing
    else can be sent meanwhile.
    """

    def __init__(self, conn: Connection, fragmenter: Fragmenter) -> None:
        self._conn = conn
        self._fragmenter = fragmenter

    @property
    def command(self) -> Command:
        return self._fragmenter.command

    @property
    def finished(self) -> bool:
        """True once :meth:`finish` sent the last fragment."""
        return self._fragmenter.finished

    @property
    def open(self) -> bool:
        """True while the connection still waits for this message's end."""
        return self._conn._outgoing is self

    def push(self, chunk: BytesLike | bytearray, *, now: float | None = None) -> None:
        """Queue the PDUs that the data set's next bytes, ``chunk``, complete.

        A ``bytes`` chunk is queued as views, not copied (it cannot change
        before it is written); a chunk of any other buffer is copied once,
        so the caller may refill it at once.
        """
        pieces = self._fragmenter.push_pieces(chunk)  # checks first: an error changes nothing
        self._conn._tick(now)
        if self.open:
            self._conn._emit(self._fragmenter.context_id, pieces)

    def finish(self, *, now: float | None = None) -> None:
        """Queue the PDUs that end the message; the wait for a response starts once written."""
        pieces = self._fragmenter.finish_pieces()
        self._conn._tick(now)
        if self.open:
            self._conn._emit(self._fragmenter.context_id, pieces)
            self._conn._message_done(self)

    def abandon(self, *, now: float | None = None) -> None:
        """Give the message up (the adapter's task was cancelled, its source failed).

        If any of it was sent, the association is aborted (PS3.8 7.3, Evt15:
        AA-1) and an :class:`Aborted` event says why: the A-ABORT PDU is
        queued.  If nothing was sent yet, the request is withdrawn and the
        association is untouched.  Does nothing once the message is finished
        or the association ended.
        """
        self._conn._tick(now)
        self._conn._abandon(self)


class Connection:
    """One side of a DICOM association, Sans-IO (PS3.8 9.2 state machine).

    Parameters
    ----------
    role : Role
        Requestor (calls) or acceptor (answers).
    artim_timeout : float or None
        Seconds the ARTIM timer runs (PS3.8 9.1.5: a local, configurable
        value).  None (the default): the ACSE timeout, or
        :data:`DEFAULT_ARTIM_TIMEOUT` without one, since ARTIM bounds ACSE
        waits too (for the A-ASSOCIATE-RQ after a connection, and for the
        peer to close after a rejection, a release or an abort).
    acse_timeout : float or None
        Seconds to wait for the peer's A-ASSOCIATE-AC/RJ or A-RELEASE-RP
        before aborting; None waits for ever.
    network_timeout : float or None
        Seconds an established association may pass without progress (see
        :mod:`dicomul._idle`: a byte is not progress; 4096 bytes, a whole
        message, or anything sent is) before it is aborted; None waits for ever.
    dimse_timeout : float or None
        Seconds without progress from the peer, while a request this side
        sent is outstanding or a message the peer began is incomplete,
        before aborting; None waits for ever.  A peer trickling bytes more
        slowly than 4096 every ``dimse_timeout`` seconds is timed out: the
        timeout is a minimum rate, not reset by each byte.  The wait for a
        response begins when this side's request is written whole: a data
        set slow to send does not count against it.
    strict : bool
        Decode received PDUs strictly (see :func:`dicomul.pdu.decode`).

    Notes
    -----
    Where an association stands is the core's to say, never an adapter's
    (no adapter tests :attr:`state`).  Each question an adapter has is
    answered once:

    ================================  =========================================
    :attr:`can_send_messages`         May a DIMSE message go out now (a
                                      response, a sub-operation, a request)?
                                      False once the association cannot carry
                                      one: drop the response, stop the
                                      sub-operations.
    :attr:`may_invoke`                May a new request go out now (the
                                      operations window, PS3.7 D.3.3.3)?
    :attr:`release_to_answer`         Send :class:`RespondRelease` now (the
                                      peer's A-RELEASE-RQ, collisions
                                      included).
    :attr:`association_over`          The association has ended (released,
                                      aborted, rejected): free what it held
                                      (an acceptor's association slot), serve
                                      no more requests.  The transport may
                                      still be open: keep reading (or park
                                      the connection) until told to close.
    :class:`ConnectionClosed`         The one signal to close the transport:
                                      :meth:`next_event`'s last event, after
                                      everything still to write is queued.
    ================================  =========================================

    :class:`ConnectionClosed` comes when the table's actions close the
    transport (Sta1 after a connection: the peer closed it, a rejection or
    a release done, ARTIM expired waiting for the peer to close) and, on the
    requestor side, at once after this side's own A-ABORT (see
    :meth:`_closes_at_once`).  An acceptor that ended an association waits for
    the peer to close first (Sta13, bounded by ARTIM), as PS3.8 9.1.4 has it.
    """

    def __init__(
        self,
        role: Role,
        *,
        artim_timeout: float | None = None,
        acse_timeout: float | None = 30.0,
        network_timeout: float | None = None,
        dimse_timeout: float | None = None,
        strict: bool = False,
    ) -> None:
        self.role = role
        self.artim_timeout = (
            artim_timeout if artim_timeout is not None else acse_timeout or DEFAULT_ARTIM_TIMEOUT
        )
        self.acse_timeout = acse_timeout
        self.network_timeout = network_timeout
        self.dimse_timeout = dimse_timeout
        # Requests this side sent that await a final response, and requests
        # the peer sent that this side has not finally answered: message ID ->
        # (presentation context, command field) (PS3.7 9.1.1, D.3.3.3).
        self._invoked: dict[int, tuple[int, int]] = {}
        self._performing: dict[int, tuple[int, int]] = {}
        # Those of them the peer has cancelled (PS3.7 9.3.2.3, 9.3.3.3, 9.3.4.3).
        self._cancelled: set[int] = set()
        self._state = State.STA1
        self._buffer = ReceiveBuffer(strict=strict, stream_pdata_above=STREAM_PDATA_ABOVE)
        self._events: deque[ConnectionEvent] = deque()
        self._outbox: list[BytesLike] = []
        # True from data_to_send handing bytes out until wrote() says they went.
        self._unwritten = False
        self._eof = False
        self._closed_reported = False
        self._connected = False
        self._now = 0.0
        self._artim: float | None = None
        # True once this side sent an A-ABORT (AA-1, AA-8): see _closes_at_once.
        self._aborted_by_us = False
        # The peer's last progress (PS3.8 has no such notion: see _idle).
        self._progress = Progress()
        # The message ID of the peer's request whose data set is arriving.
        self._receiving_data_set_of: int | None = None
        self._acse_since = 0.0
        self._last_message_id = 0
        # The DIMSE message being sent (start_message, send_message), if any.
        self._outgoing: OutgoingMessage | None = None
        self._request: AssociateRQ | None = None
        self._reassembler: Reassembler | None = None
        self.negotiated: Negotiated | None = None
        #: Keep each state machine transition for :meth:`take_transitions`
        #: (an adapter's EVT_FSM_TRANSITION handlers); off by default.
        self.record_transitions = False
        self._transitions: deque[tuple[State, Event, Action, State]] = deque(
            maxlen=MAX_RECORDED_TRANSITIONS
        )

    def take_transitions(self) -> list[tuple[State, Event, Action, State]]:
        """The transitions since the last call, while :attr:`record_transitions`
        is on: (state, event, action, next state) of PS3.8 Table 9-10 each,
        the last :data:`MAX_RECORDED_TRANSITIONS` at most."""
        taken = list(self._transitions)
        self._transitions.clear()
        return taken

    # ----------------------------------------------------------- properties

    @property
    def _sending(self) -> bool:
        """True while a DIMSE message is begun and not finished (or abandoned)."""
        return self._outgoing is not None

    @property
    def state(self) -> State:
        """The PS3.8 state (Sta1 to Sta13)."""
        return self._state

    @property
    def is_requestor(self) -> bool:
        return self.role is Role.REQUESTOR

    @property
    def can_send_messages(self) -> bool:
        """True while DIMSE messages may be sent: the association is established,
        or being released by the peer (PS3.8 Evt9 in Sta6 and Sta8)."""
        return self._state in _SENDING_STATES

    @property
    def association_over(self) -> bool:
        """True once the association has ended (released, aborted or rejected)
        on a connection that still awaits closing (Sta13) or is closed (Sta1)."""
        return self._connected and self._state in (State.STA1, State.STA13)

    @property
    def release_to_answer(self) -> bool:
        """True when this side must now answer the peer's A-RELEASE-RQ:
        send :class:`RespondRelease` (the only release rule an adapter needs).

        The peer's request was indicated (:class:`ReleaseRequested`) and still
        awaits this side's A-RELEASE response primitive, Evt14 (PS3.8 Table
        9-10: Sta8, AR-4; in a release collision Sta9 on the requestor side,
        AR-9, and Sta12 on the acceptor side, AR-4, once this side's own
        request is confirmed, AR-10), and nothing of this side's is left
        half done: A-RELEASE is an orderly release (PS3.8 7.2) and in Sta8
        this side may still send P-DATA (AR-7), so a request of the peer's
        that arrived whole is answered first, and a message being sent is
        finished first.  The peer cannot send once it has asked to release
        (Evt9 is blank in Sta7), so this side's own outstanding requests are
        not waited for.  False once the association has ended (a release
        held back by an operation and then aborted is not answered).

        An adapter checks it after each event and after sending each final
        response: the answer is due as soon as the last of those is done.
        """
        if self._state not in _RELEASE_ANSWER_STATES or self._sending:
            return False
        return all(mid == self._receiving_data_set_of for mid in self._performing)

    def _closes_at_once(self) -> bool:
        """True for a requestor in Sta13 after its own A-ABORT (AA-1, AA-8).

        PS3.8 9.1.4 d) lets the sender of an A-ABORT wait for the peer to
        close until ARTIM expires, but a requestor aborts mostly because the
        peer stopped answering (a timeout), and its user's call should not
        then wait out ARTIM for that same peer: for it the wait ends at once,
        as if ARTIM had expired (Evt18, AA-2: Sta1, close).  The A-ABORT is
        queued first, and a peer reading it closes anyway (AA-3).  An
        acceptor waits in Sta13 as the table says ("awaiting transport
        connection close indication", PS3.8 Table 9-1), as does a requestor
        that answered a release (AR-4).
        """
        return self._state is State.STA13 and self.is_requestor and self._aborted_by_us

    @property
    def next_deadline(self) -> float | None:
        """The time at which :meth:`handle_timeout` must be called, or None."""
        deadlines = [
            d
            for d in (
                self._artim,
                self._acse_deadline(),
                self._idle_deadline(),
                self._dimse_deadline(),
            )
            if d is not None
        ]
        return min(deadlines) if deadlines else None

    def _acse_deadline(self) -> float | None:
        # From the moment the A-ASSOCIATE-RQ or A-RELEASE-RQ went out: bytes
        # trickling in from the peer do not extend it.
        if self.acse_timeout is None or self._state not in (State.STA5, State.STA7):
            return None
        return self._acse_since + self.acse_timeout

    def _dimse_deadline(self) -> float | None:
        # Waiting for a response to a request this side sent, or for the
        # rest of a message the peer has begun to send.  The wait for a
        # response begins once this side's message is written (queued,
        # handed to the adapter, and reported written): while it is being
        # sent the peer is reading it, not late (issue 15).
        partial = self._reassembler is not None and not self._reassembler.idle
        if self.dimse_timeout is None or self._state not in _DATA_STATES:
            return None
        writing = self._sending or self._unwritten or bool(self._outbox)
        awaiting_response = bool(self._invoked) and not writing
        if not (awaiting_response or partial):
            return None
        return self._progress.since + self.dimse_timeout

    def _idle_deadline(self) -> float | None:
        if self.network_timeout is None or self._state is not State.STA6:
            return None
        return self._progress.since + self.network_timeout

    def idle_for(self, now: float) -> float | None:
        """Seconds the association has been idle at ``now``, or None if it is not idle.

        Idle (see :mod:`dicomul._idle`): established (Sta6), nothing in this
        side's hands, and no progress from the peer since.  A message the
        peer sends one byte at a time leaves the association idle; a message
        arriving at a real rate, or a request this side is answering, does
        not.  An acceptor at its association limit may abort the
        association idle longest (:meth:`provider_abort`) for a new peer.
        """
        if self._state is not State.STA6 or self._in_hand():
            return None
        return max(0.0, now - self._progress.since)

    def _in_hand(self) -> bool:
        """True while the next move is this side's: a message is being sent,
        or a request of the peer's arrived whole and awaits an answer (unless
        this side waits for the peer meanwhile, as a C-GET SCP waits for the
        responses to its C-STORE sub-operations)."""
        if self._sending:
            return True
        if self._invoked:
            return False
        return any(mid != self._receiving_data_set_of for mid in self._performing)

    # --------------------------------------------------------------- inputs

    def _tick(self, now: float | None) -> None:
        if now is not None:
            self._now = now

    def transport_connected(self, *, now: float | None = None) -> None:
        """The transport connection is open: Evt2 (requestor) or Evt5 (acceptor).

        A requestor's A-ASSOCIATE-RQ is then queued (:meth:`data_to_send`).
        """
        self._tick(now)
        self._progress.mark(self._now)
        self._connected = True
        self._queue(self._input(Event.EVT2 if self.is_requestor else Event.EVT5))

    def receive_data(self, data: bytes, *, now: float | None = None) -> None:
        """Take bytes read from the transport; ``b""`` means the peer closed it (Evt17).

        Raises LocalProtocolError before any transport connection exists.  Once
        the association has ended (Sta1 after a connection), late bytes are
        dropped: the transport is to be closed.
        """
        self._tick(now)
        if self._state is State.STA1:
            if not self._connected:
                raise LocalProtocolError("no transport connection to receive data on (Sta1)")
            return
        if data:
            self._progress.received(len(data), self._now)
            self._buffer.feed(data)
        else:
            self._eof = True

    def pdu_buffer(self, max_size: int = 65536) -> memoryview | None:
        """Where the next bytes of a large PDU being received go: a view to
        read into (``socket.recv_into``) instead of passing the bytes to
        :meth:`receive_data`, then report how many were read with
        :meth:`buffer_updated`, before any other call; or None, when reading
        and :meth:`receive_data` is as good.

        A large PDU (a P-DATA-TF of a data set, more than
        :data:`~dicomul.READ_INTO_PDU_ABOVE` bytes still to come) is then
        read into a buffer of its own size and decoded where it lies: its
        bytes are not copied out of each read and joined (see
        :meth:`dicomul.ReceiveBuffer.pdu_buffer`).
        """
        if self._state is State.STA1:
            return None
        return self._buffer.pdu_buffer(max_size)

    def buffer_updated(self, nbytes: int, *, now: float | None = None) -> None:
        """``nbytes`` bytes were read into the view :meth:`pdu_buffer` gave,
        as :meth:`receive_data` would take them.  The end of the stream is
        not 0 here: pass ``b""`` to :meth:`receive_data` for it."""
        self._tick(now)
        if self._state is State.STA1:
            if not self._connected:
                raise LocalProtocolError("no transport connection to receive data on (Sta1)")
            return
        if nbytes:
            self._progress.received(nbytes, self._now)
            self._buffer.buffer_updated(nbytes)

    def next_event(self) -> ConnectionEvent | NeedData:
        """The next event, or :data:`NEED_DATA` when more bytes are needed.

        Typed as the union of the event classes (:data:`~dicomul.ConnectionEvent`),
        so that a type checker tells an adapter which events it leaves unhandled.
        """
        while not self._events:
            if self._closes_at_once():
                self._artim = None
                self._input(Event.EVT18)  # AA-2: Sta1, the transport to close
            if self._state is State.STA1:
                # After a connection, the table's actions close it (PS3.8
                # AE-4, AR-3, AA-2 to AA-5): said once, the last event.
                if not self._connected or self._closed_reported:
                    return NEED_DATA
                self._closed_reported = True
                return ConnectionClosed()
            if not self._process_one():
                return NEED_DATA
        return self._events.popleft()

    @property
    def data_pending(self) -> bool:
        """True if :meth:`data_to_send` has bytes to give."""
        return bool(self._outbox)

    def data_to_send(self) -> bytes:
        """Every byte queued to write since the last call, in order (the one way out).

        What local requests produced (:meth:`send`, :meth:`transport_connected`,
        :meth:`send_message`, :class:`OutgoingMessage`, :meth:`cancel_for`,
        :meth:`provider_abort`), the protocol's answers to what was received
        (an A-ABORT for a malformed PDU, a provider's A-ASSOCIATE-RJ) and a
        timer's A-ABORT (:meth:`handle_timeout`).  The adapter calls it after
        every call it makes and writes what it returns, then reports the
        write with :meth:`wrote`.

        The queue's buffers joined into one ``bytes``: a convenience over
        :meth:`data_to_send_buffers`, which hands out the same queue without
        joining it (call one or the other).
        """
        buffers = self.data_to_send_buffers()
        if not buffers:
            return b""
        first = buffers[0]
        return first if len(buffers) == 1 and isinstance(first, bytes) else b"".join(buffers)

    def data_to_send_buffers(self) -> list[BytesLike]:
        """:meth:`data_to_send` as the buffers queued, in order, not joined.

        The same one way out, for a transport that writes several buffers
        in one call (``socket.sendmsg``, ``writelines``): a data set pushed
        as ``bytes`` is queued as views of it, each after its PDU's 12-byte
        header, so that it is written without being copied into one
        ``bytes``.  Write them all, in order, then report the write with
        :meth:`wrote`.
        """
        outbox = self._outbox
        if not outbox:
            return []
        self._outbox = []
        self._unwritten = True  # until the adapter reports the write (wrote)
        return outbox

    def handle_timeout(self, *, now: float) -> None:
        """Let the timers whose deadline has passed fire (ARTIM: Evt18)."""
        self._tick(now)
        if self._artim is not None and now >= self._artim:
            self._artim = None
            self._input(Event.EVT18)
            return
        for deadline, what in (
            (self._acse_deadline(), "ACSE timeout: no answer from the peer"),
            (self._idle_deadline(), "network timeout: nothing sent or received"),
            (self._dimse_deadline(), "DIMSE timeout: a response or message did not come"),
        ):
            if deadline is not None and now >= deadline:
                if (self._state, Event.EVT15) not in TRANSITIONS:
                    continue  # nothing to abort any more
                self._queue(self._input(Event.EVT15))
                self._events.append(
                    Aborted(
                        source=AbortSource.SERVICE_USER,
                        reason=AbortReason.NOT_SPECIFIED,
                        by_peer=False,
                        message=what,
                    )
                )
                return

    def wrote(self, *, now: float) -> None:
        """The adapter finished writing bytes this side produced, at ``now``.

        Sending is progress (see :mod:`dicomul._idle`); the PDUs of a
        message are queued before they are written, and a large message
        takes a while to write, so the timers that then wait for the peer
        start from here rather than from when it was queued: until the
        adapter reports the write of what :meth:`data_to_send` gave, the
        wait for a response (the DIMSE timeout) has not begun.
        """
        self._tick(now)
        self._unwritten = False
        self._progress.mark(now)

    def provider_abort(self, *, message: str, now: float | None = None) -> None:
        """Abort the association on the service provider's own account (A-P-ABORT).

        For a decision of the local provider that is no protocol error, such
        as an acceptor at its association limit giving the slot of the
        association idle longest to a new peer (see :mod:`dicomul._idle`).
        The A-ABORT PDU, queued in :meth:`data_to_send`, carries source 2,
        "DICOM UL service-provider", and reason 0, "reason-not-specified"
        (PS3.8 Table 9-26; 7.4: A-P-ABORT is the provider-initiated abort),
        and an :class:`Aborted` event with ``message`` follows.  Table 9-10
        has no event of its own for it: the transition is the local abort's
        (Evt15, AA-1: Sta13, ARTIM started), only the PDU's source differs.

        Raises
        ------
        LocalProtocolError
            Where Table 9-10 has no cell for Evt15 (no association, Sta1).
        """
        self._tick(now)
        self._queue(self._input(Event.EVT15, source=AbortSource.SERVICE_PROVIDER))
        self._events.append(
            Aborted(
                source=AbortSource.SERVICE_PROVIDER,
                reason=AbortReason.NOT_SPECIFIED,
                by_peer=False,
                message=message,
            )
        )

    # ----------------------------------------------------------- local events

    def send(self, event: object, *, now: float | None = None) -> None:
        """Carry out a local request; the bytes it produces are queued
        (:meth:`data_to_send`).

        Raises
        ------
        LocalProtocolError
            If the request is not valid in the current state (a blank cell of
            PS3.8 Table 9-10) or not a local event.
        """
        self._tick(now)
        self._progress.mark(self._now)
        handler = _LOCAL_REQUESTS.get(type(event))
        if handler is None:
            raise LocalProtocolError(
                f"{type(event).__name__} is not an event Connection.send takes"
            )
        self._queue(handler(self, event))

    def _request_association(self, event: RequestAssociation) -> bytes:
        """Evt1: A-ASSOCIATE request."""
        if not self.is_requestor:
            raise LocalProtocolError("only the requestor asks for an association")
        return self._input(Event.EVT1, request=event.request)

    def _reject(self, event: RejectAssociation) -> bytes:
        """Evt8: A-ASSOCIATE response (reject)."""
        rj = AssociateRJ(result=event.result, source=event.source, reason=event.reason)
        return self._input(Event.EVT8, pdu=rj)

    def _accept(self, event: AcceptAssociation) -> bytes:
        if self._state is not State.STA3 or self._request is None:
            raise LocalProtocolError(f"no association request to accept in {self._state.value}")
        answer, negotiated = negotiate(
            self._request,
            event.config,
            active_associations=event.active_associations,
            user_identity_result=event.user_identity_result,
            peer_address=event.peer_address,
            answers=event.negotiation_answers,
        )
        if negotiated is None:
            return self._input(Event.EVT8, pdu=answer)
        self.negotiated = negotiated
        self._start_data_transfer(negotiated, our_max=event.config.max_pdu_length)
        return self._input(Event.EVT7, pdu=answer)

    def new_message_id(self) -> int:
        """A Message ID (1 to 65535) not used by any outstanding request (PS3.7 9.1.1.1)."""
        for _ in range(0xFFFF):
            self._last_message_id = self._last_message_id % 0xFFFF + 1
            if self._last_message_id not in self._invoked:
                return self._last_message_id
        raise LocalProtocolError("all 65535 message IDs are outstanding")

    @property
    def outstanding_requests(self) -> frozenset[int]:
        """Message IDs of requests this side sent that await a final response."""
        return frozenset(self._invoked)

    def request_context(self, message_id: int) -> int | None:
        """The presentation context of this side's outstanding request ``message_id``."""
        request = self._invoked.get(message_id)
        return None if request is None else request[0]

    @property
    def requests_to_answer(self) -> frozenset[int]:
        """Message IDs of the peer's requests this side has not finally answered."""
        return frozenset(self._performing)

    def cancel_requested(self, message_id: int) -> bool:
        """Whether the peer sent a C-CANCEL for its request ``message_id``,
        which this side has not finally answered yet (PS3.7 9.3.2.3)."""
        return message_id in self._cancelled and message_id in self._performing

    def _window(self, *, ours: bool) -> int:
        """How many operations a side may have outstanding (0: unlimited, PS3.7 D.3.3.3)."""
        negotiated = self.negotiated
        assert negotiated is not None
        requestor_side = self.is_requestor == ours
        return (
            negotiated.requestor_max_invoked if requestor_side else negotiated.acceptor_max_invoked
        )

    def send_message(
        self,
        context_id: int,
        command: Command,
        data_set: BytesLike | None = None,
        *,
        now: float | None = None,
    ) -> None:
        """Queue the P-DATA-TF PDUs of one DIMSE message whose data set, if
        any, is in memory (:meth:`data_to_send`).

        :meth:`start_message` with the whole data set pushed at once (one way
        to fragment).  A data set read in chunks (a file, an async source)
        goes through :meth:`start_message` instead, so that it is never held
        whole.  The wait for the peer's response (the DIMSE timeout) begins
        once the adapter reports the write (:meth:`wrote`).

        Raises
        ------
        LocalProtocolError
            As :meth:`start_message`, and when the command's Command Data Set
            Type disagrees with ``data_set``; nothing is queued.
        """
        check_data_set(command, data_set)
        message = self.start_message(context_id, command, now=now)
        if data_set is not None:
            message.push(data_set)
        message.finish()

    def start_message(
        self,
        context_id: int,
        command: Command,
        *,
        length: int | None = None,
        now: float | None = None,
    ) -> OutgoingMessage:
        """Begin one DIMSE message whose data set the adapter pushes chunk by chunk.

        For a data set read from an async source (a file, a stream already
        encoded in the accepted transfer syntax): :meth:`OutgoingMessage.push`
        each chunk as it is read, and :meth:`OutgoingMessage.finish`; after
        each, write :meth:`data_to_send` (the P-DATA-TF PDUs it completed).
        A message without a data set is just finished
        (:meth:`~OutgoingMessage.finish`).  ``length``, when known, is the
        data set's length in bytes, checked as chunks come.

        Each PDU is a P-DATA request (Evt9): valid in Sta6, and in Sta8 (data
        may still flow after the peer asked to release).  Requests are
        counted against the negotiated asynchronous operations window
        (:attr:`may_invoke`; 1 by default: one outstanding request at a
        time); a response must answer a request the peer sent, and a
        C-CANCEL a request this side sent.  Messages are not interleaved
        (PS3.8 9.3.5): one is finished (or abandoned) before the next begins.
        Beginning a message at ``now`` is progress.

        Raises
        ------
        LocalProtocolError
            For an unaccepted context, a full window, a message ID already
            outstanding, a response or cancel that matches no request, or
            another message still being sent; nothing is changed.
        """
        transition(self._state, Event.EVT9, is_requestor=self.is_requestor)  # blank cell: raises
        negotiated = self.negotiated
        if negotiated is None or context_id not in negotiated.contexts:
            raise LocalProtocolError(f"presentation context {context_id} was not accepted")
        if self._outgoing is not None:
            raise LocalProtocolError(
                "another DIMSE message is still being sent: finish or abandon it "
                "first (PS3.8 9.3.5: messages are not interleaved)"
            )
        peer_max = (
            negotiated.acceptor_max_pdu_length
            if self.is_requestor
            else negotiated.requestor_max_pdu_length
        )
        fragmenter = Fragmenter(context_id, command, max_pdu_length=peer_max, length=length)
        self._track_outgoing(context_id, command)
        self._tick(now)
        self._progress.mark(self._now)
        self._outgoing = OutgoingMessage(self, fragmenter)
        return self._outgoing

    @property
    def may_invoke(self) -> bool:
        """True if a new request fits the asynchronous operations window the
        peer accepted now (PS3.7 D.3.3.3: this side's maximum number of
        operations invoked; 0 is unlimited).  Cancels and responses are not
        counted."""
        if not self.can_send_messages or self.negotiated is None:
            return False
        window = self._window(ours=True)
        return not window or len(self._invoked) < window

    def cancel_for(self, message_id: int, *, now: float | None = None) -> None:
        """Queue the C-CANCEL-RQ of this side's outstanding C-FIND, C-GET or
        C-MOVE ``message_id``, on that request's context (PS3.7 9.3.2.3).
        Its final response still comes, and is to be read.

        Raises LocalProtocolError if ``message_id`` is no such outstanding
        request, or a message is being sent.
        """
        context_id = self.request_context(message_id)
        if context_id is None:
            raise LocalProtocolError(f"message {message_id} is not an outstanding request")
        self.start_message(context_id, c_cancel_rq(message_id), now=now).finish()

    def _queue(self, data: bytes) -> None:
        """Queue bytes for :meth:`data_to_send`."""
        if data:
            self._outbox.append(data)

    def _emit(self, context_id: int, pieces: list[Piece]) -> None:
        """Queue each piece as a P-DATA-TF of one PDV, a P-DATA request
        (Evt9), or nothing if the association ended under the message (an
        abort read meanwhile).

        Evt9 is DT-1 in Sta6 and AR-7 in Sta8 (PS3.8 Table 9-10): send the
        PDU, the state unchanged.  So one step of the table stands for the
        whole burst, nothing else happening between its PDUs; each is queued
        as its 12-byte header and its fragment, a view of the pushed data
        set, joined (copied) once by :meth:`data_to_send`."""
        if self._state not in _SENDING_STATES or not pieces:
            return
        action, next_state = transition(self._state, Event.EVT9, is_requestor=self.is_requestor)
        assert action in (Action.DT_1, Action.AR_7)
        assert next_state is self._state
        if self.record_transitions:
            self._transitions.append((self._state, Event.EVT9, action, next_state))
        outbox = self._outbox
        for control, data in pieces:
            outbox.append(pdata_header(context_id, control, len(data)))
            outbox.append(data)

    def _message_done(self, message: OutgoingMessage) -> None:
        if self._outgoing is message:
            self._outgoing = None

    def _abandon(self, message: OutgoingMessage) -> None:
        """See :meth:`OutgoingMessage.abandon`."""
        if self._outgoing is not message:
            return
        self._outgoing = None
        fragmenter = message._fragmenter
        if not fragmenter.started:
            # Nothing of it left: withdraw it, the association is untouched.
            withdrawn = fragmenter.command.message_id
            if not fragmenter.command.is_response and withdrawn in self._invoked:
                del self._invoked[withdrawn]
            return
        self._queue(self._input(Event.EVT15))
        self._events.append(
            Aborted(
                source=AbortSource.SERVICE_USER,
                reason=AbortReason.NOT_SPECIFIED,
                by_peer=False,
                message="a DIMSE message was abandoned midway (PS3.8 9.3.5: the peer "
                "holds a partial message, so the association was aborted)",
            )
        )

    def _track_outgoing(self, context_id: int, command: Command) -> None:
        """Check and record an outgoing message against the message ID rules of PS3.7."""
        field = command.command_field
        if field == CommandField.C_CANCEL_RQ:
            target = self._invoked.get(command.message_id_being_responded_to)  # type: ignore[arg-type]
            if target is None or target[1] not in _CANCELLABLE:
                raise LocalProtocolError(
                    f"C-CANCEL of message {command.message_id_being_responded_to}, which is "
                    "not an outstanding C-FIND, C-GET or C-MOVE (PS3.7 9.3.2.3, 9.3.3.3, 9.3.4.3)"
                )
            _same_context(context_id, target[0], "C-CANCEL")
            return
        if command.is_response:
            answered = command.message_id_being_responded_to
            request = self._performing.get(answered)  # type: ignore[arg-type]
            if request is None:
                raise LocalProtocolError(
                    f"no request with message ID {answered} awaits a response"
                )
            if field != request[1] | _RESPONSE_BIT:
                raise LocalProtocolError(
                    f"a {CommandField(field).name} cannot answer a {CommandField(request[1]).name}"
                )
            _same_context(context_id, request[0], "a response")
            assert command.status is not None
            if status_category(command.status) is not StatusCategory.PENDING:
                del self._performing[answered]  # type: ignore[arg-type]
                self._cancelled.discard(answered)
            return
        assert command.message_id is not None
        if command.message_id in self._invoked:
            raise LocalProtocolError(f"message ID {command.message_id} is already outstanding")
        window = self._window(ours=True)
        if window and len(self._invoked) >= window:
            raise LocalProtocolError(
                f"the asynchronous operations window allows {window} outstanding "
                "request(s); wait for a response first (PS3.7 D.3.3.3)"
            )
        self._invoked[command.message_id] = (context_id, field)

    def _track_incoming(self, event: CommandReceived) -> bool:
        """Record a received message; False if it is to be dropped.  Peers are
        not held to the window: a lenient receiver interoperates with peers
        that count differently.  A C-CANCEL of a request already answered
        (it crossed the final response) is dropped: it cancels nothing, and
        must not cancel a later request that reuses the message ID (PS3.7
        9.3.2.3: it concerns an outstanding operation)."""
        command = event.command
        if command.command_field == CommandField.C_CANCEL_RQ:
            if command.message_id_being_responded_to not in self._performing:
                return False
            self._cancelled.add(command.message_id_being_responded_to)
            return True
        if command.is_response:
            answered = self._answered_request(command)
            if command.status is None or status_category(command.status) is not (
                StatusCategory.PENDING
            ):
                del self._invoked[answered]
            return True
        if command.message_id is not None:
            if command.message_id in self._performing:
                raise RemoteProtocolError(
                    f"the peer reused message ID {command.message_id} while that "
                    "operation is outstanding (PS3.7 9.1.1.1: unique among outstanding)",
                    abort_reason=AbortReason.INVALID_PDU_PARAMETER_VALUE,
                )
            self._performing[command.message_id] = (event.context_id, command.command_field)
        return True

    def _answered_request(self, response: Command) -> int:
        """The message ID of this side's outstanding request that ``response``
        answers.  A response answers the request whose Message ID it carries
        in Message ID Being Responded To (PS3.7 9.1.x.1.2, 10.1.x.1.2), with
        the response to that request's command field; one that answers no
        outstanding request cannot be matched to anything, and waiting on
        would wait for ever: RemoteProtocolError, so the association is
        aborted (as DCMTK's SCUs abort on an unexpected message ID)."""
        answered = response.message_id_being_responded_to
        name = CommandField(response.command_field).name
        request = None if answered is None else self._invoked.get(answered)
        if answered is None or request is None:
            raise RemoteProtocolError(
                f"the peer sent a {name} to message ID {answered}, which is not an "
                f"outstanding request (outstanding: {sorted(self._invoked) or 'none'})",
                abort_reason=AbortReason.INVALID_PDU_PARAMETER_VALUE,
            )
        if response.command_field != request[1] | _RESPONSE_BIT:
            raise RemoteProtocolError(
                f"the peer answered the {CommandField(request[1]).name} of message ID "
                f"{answered} with a {name}",
                abort_reason=AbortReason.INVALID_PDU_PARAMETER_VALUE,
            )
        return answered

    # --------------------------------------------------------------- engine

    def _process_one(self) -> bool:
        """Handle the next received PDU (or the end of the stream); False if none."""
        try:
            received = self._buffer.next_pdu()
        except RemoteProtocolError as exc:
            self._queue(self._input(Event.EVT19, error=exc))
            return True
        if received is None:
            if self._eof:
                self._eof = False
                self._input(Event.EVT17)
                return True
            return False
        if type(received) is PDataTF and self._state in _PDATA_INDICATED:
            # Evt10 in Sta6 or Sta7: DT-2 or AR-6, the state unchanged (see
            # _PDATA_INDICATED): the action itself, without the bookkeeping
            # of a transition.
            if self.record_transitions:
                action, _ = transition(self._state, Event.EVT10, is_requestor=self.is_requestor)
                self._transitions.append((self._state, Event.EVT10, action, self._state))
            self._queue(self._deliver(received))
            return True
        event = _PDU_EVENTS[type(received)]
        self._queue(self._input(event, pdu=received))
        return True

    def _input(self, event: Event, **context: object) -> bytes:
        """Apply one Table 9-10 event; return the bytes its action sends."""
        request_acceptable = True
        if event is Event.EVT6:
            rq = context.get("pdu")
            if isinstance(rq, AssociateRQ):
                # AE-6: the service provider itself only checks the protocol
                # version (PS3.8 9.3.2: a receiver tests bit 0 only);
                # everything else is the service user's decision.
                request_acceptable = bool(rq.protocol_version & 1)
        previous = self._state
        action, next_state = transition(
            previous,
            event,
            is_requestor=self.is_requestor,
            request_acceptable=request_acceptable,
        )
        if self.record_transitions:
            self._transitions.append((previous, event, action, next_state))
        if next_state is not previous:
            self._state = next_state
            self._progress.mark(self._now)
            if next_state in _ACSE_WAITS and previous not in _ACSE_WAITS:
                self._acse_since = self._now
            if next_state in _ASSOCIATION_GONE:
                self._invoked.clear()
                self._performing.clear()
                self._outgoing = None  # a message being sent dies with the association
        if action not in _CLOSING:
            return _ACTIONS[action](self, event, context)
        try:
            return _ACTIONS[action](self, event, context)
        finally:
            self._artim = None

    def _start_artim(self) -> None:
        self._artim = self._now + self.artim_timeout

    # One method per action (or group of actions that do the same thing); each
    # returns the bytes it sends.  _ACTIONS below maps the table's names to them.

    def _ae_1_request(self, event: Event, context: dict[str, object]) -> bytes:
        """AE-1: keep the A-ASSOCIATE-RQ; the adapter opens the transport."""
        request = context["request"]
        assert isinstance(request, AssociationRequest)
        self._request = build_associate_rq(request)
        self._buffer.max_pdata_length = request.max_pdu_length or None
        return b""

    def _ae_2_send_rq(self, event: Event, context: dict[str, object]) -> bytes:
        """AE-2: send the A-ASSOCIATE-RQ."""
        assert self._request is not None
        return encode(self._request)

    def _ae_3_accepted(self, event: Event, context: dict[str, object]) -> bytes:
        """AE-3: A-ASSOCIATE confirmation (accept)."""
        pdu = context["pdu"]
        assert isinstance(pdu, AssociateAC)
        assert self._request is not None
        try:
            negotiated = interpret_ac(self._request, pdu)
        except RemoteProtocolError as exc:
            # An AC that contradicts the RQ is an invalid PDU (Evt19 in Sta6: AA-8).
            return self._input(Event.EVT19, error=exc)
        self.negotiated = negotiated
        self._start_data_transfer(negotiated, our_max=negotiated.requestor_max_pdu_length)
        self._events.append(AssociationAccepted(negotiated=negotiated, pdu=pdu))
        return b""

    def _ae_4_rejected(self, event: Event, context: dict[str, object]) -> bytes:
        """AE-4: A-ASSOCIATE confirmation (reject); the transport closes."""
        pdu = context["pdu"]
        assert isinstance(pdu, AssociateRJ)
        self._events.append(AssociationRejected(pdu=pdu))
        return b""

    def _ae_5_connected(self, event: Event, context: dict[str, object]) -> bytes:
        """AE-5: transport connection accepted; start ARTIM."""
        self._start_artim()
        return b""

    def _ae_6_requested(self, event: Event, context: dict[str, object]) -> bytes:
        """AE-6: stop ARTIM; indicate the request, or reject it as the provider."""
        self._artim = None
        pdu = context["pdu"]
        assert isinstance(pdu, AssociateRQ)
        if self._state is State.STA3:
            self._request = pdu
            self._events.append(AssociationRequested(request=pdu))
            return b""
        self._start_artim()
        return encode(
            AssociateRJ(
                result=RejectResult.REJECTED_PERMANENT,
                source=RejectSource.SERVICE_PROVIDER_ACSE,
                reason=RejectReasonACSE.PROTOCOL_VERSION_NOT_SUPPORTED,
            )
        )

    def _send_pdu(self, event: Event, context: dict[str, object]) -> bytes:
        """AE-7, DT-1, AR-7: send the PDU the local request carries (DT-1 and
        AR-7 are carried out by :meth:`_emit`, a burst at a time)."""
        pdu = context["pdu"]
        assert isinstance(pdu, AssociateAC | PDataTF)
        return encode(pdu)

    def _ae_8_reject(self, event: Event, context: dict[str, object]) -> bytes:
        """AE-8: send the A-ASSOCIATE-RJ and start ARTIM."""
        pdu = context["pdu"]
        assert isinstance(pdu, AssociateRJ)
        self._start_artim()
        return encode(pdu)

    def _p_data_indication(self, event: Event, context: dict[str, object]) -> bytes:
        """DT-2, AR-6: P-DATA indication."""
        pdu = context["pdu"]
        assert isinstance(pdu, PDataTF)
        return self._deliver(pdu)

    def _ar_1_release(self, event: Event, context: dict[str, object]) -> bytes:
        """AR-1: send the A-RELEASE-RQ."""
        return encode(ReleaseRQ())

    def _ar_2_release_requested(self, event: Event, context: dict[str, object]) -> bytes:
        """AR-2: A-RELEASE indication."""
        self._events.append(ReleaseRequested())
        return b""

    def _released(self, event: Event, context: dict[str, object]) -> bytes:
        """AR-3, AR-10: A-RELEASE confirmation."""
        self._events.append(Released())
        return b""

    def _ar_4_release_response(self, event: Event, context: dict[str, object]) -> bytes:
        """AR-4: send the A-RELEASE-RP and start ARTIM."""
        self._start_artim()
        return encode(ReleaseRP())

    def _ar_8_collision(self, event: Event, context: dict[str, object]) -> bytes:
        """AR-8: A-RELEASE indication, release collision."""
        self._events.append(ReleaseRequested(collision=True))
        return b""

    def _ar_9_release_response(self, event: Event, context: dict[str, object]) -> bytes:
        """AR-9: send the A-RELEASE-RP (collision, requestor side)."""
        return encode(ReleaseRP())

    def _stop(self, event: Event, context: dict[str, object]) -> bytes:
        """AR-5, AA-2, AA-5: stop ARTIM (and close); report a peer's A-ABORT."""
        if event is Event.EVT16:  # an A-ABORT before any association (Sta2) or after (Sta13)
            pdu = context["pdu"]
            assert isinstance(pdu, AbortRQ)
            self._aborted_by_peer(pdu)
        return b""

    def _aa_1_abort(self, event: Event, context: dict[str, object]) -> bytes:
        """AA-1: send an A-ABORT with the service user as source (PS3.8 Table 9-9),
        whether the local user asked (Evt15) or a PDU arrived in Sta2; its reason
        is not significant.  Start ARTIM.  (:meth:`provider_abort` names the
        service provider as the source instead, with reason-not-specified.)"""
        self._start_artim()
        self._aborted_by_us = True
        source = context.get("source", AbortSource.SERVICE_USER)
        assert isinstance(source, AbortSource)
        return encode(AbortRQ(source=source, reason=AbortReason.NOT_SPECIFIED))

    def _aa_3_peer_abort(self, event: Event, context: dict[str, object]) -> bytes:
        """AA-3: A-ABORT (or A-P-ABORT) indication; the transport closes."""
        pdu = context["pdu"]
        assert isinstance(pdu, AbortRQ)
        self._aborted_by_peer(pdu)
        return b""

    def _aa_4_lost(self, event: Event, context: dict[str, object]) -> bytes:
        """AA-4: A-P-ABORT indication (the transport closed under us)."""
        self._events.append(
            Aborted(
                source=AbortSource.SERVICE_PROVIDER,
                reason=AbortReason.NOT_SPECIFIED,
                by_peer=False,
                message="the transport connection closed unexpectedly",
                connection_lost=True,
            )
        )
        return b""

    def _aa_6_ignore(self, event: Event, context: dict[str, object]) -> bytes:
        """AA-6: ignore the PDU."""
        return b""

    def _aa_7_abort(self, event: Event, context: dict[str, object]) -> bytes:
        """AA-7: send an A-ABORT (service-provider source)."""
        reason, _ = _abort_reason(event, context)
        return encode(AbortRQ(source=AbortSource.SERVICE_PROVIDER, reason=reason))

    def _aa_8_abort(self, event: Event, context: dict[str, object]) -> bytes:
        """AA-8: send an A-ABORT (service-provider source), A-P-ABORT indication, ARTIM."""
        reason, message = _abort_reason(event, context)
        self._start_artim()
        self._aborted_by_us = True
        self._events.append(
            Aborted(
                source=AbortSource.SERVICE_PROVIDER, reason=reason, by_peer=False, message=message
            )
        )
        return encode(AbortRQ(source=AbortSource.SERVICE_PROVIDER, reason=reason))

    def _aborted_by_peer(self, pdu: AbortRQ) -> None:
        self._events.append(
            Aborted(source=pdu.source, reason=pdu.reason, by_peer=True, message="A-ABORT received")
        )

    def _start_data_transfer(self, negotiated: Negotiated, *, our_max: int) -> None:
        self._reassembler = Reassembler(negotiated.contexts)
        self._buffer.max_pdata_length = our_max or None

    def _deliver(self, pdata: PDataTF) -> bytes:
        """P-DATA indication: reassemble the PDVs into DIMSE events."""
        assert self._reassembler is not None
        try:
            for pdv in pdata.pdvs:
                event = self._reassembler.feed(pdv)
                if event is not None:
                    self._note_received(event)
                    if isinstance(event, CommandReceived) and not self._track_incoming(event):
                        continue
                    self._events.append(event)
        except RemoteProtocolError as exc:
            # A PDV that breaks PS3.7/PS3.8 rules is an invalid PDU (Evt19).
            return self._input(Event.EVT19, error=exc)
        return b""

    def _note_received(self, event: CommandReceived | DataSetFragment) -> None:
        """A command set or a data set received whole is progress (see _idle);
        keep which request's data set is still arriving."""
        if isinstance(event, CommandReceived):
            command = event.command
            self._progress.mark(self._now)
            if command.has_data_set and not command.is_response:
                self._receiving_data_set_of = command.message_id
        elif event.is_last:
            self._progress.mark(self._now)
            self._receiving_data_set_of = None


def _abort_reason(event: Event, context: dict[str, object]) -> tuple[int, str]:
    """A-ABORT reason (PS3.8 Table 9-26) and explanation for AA-7/AA-8."""
    error = context.get("error")
    if isinstance(error, RemoteProtocolError):
        return error.abort_reason, str(error)
    pdu = context.get("pdu")
    name = type(pdu).__name__ if pdu is not None else event.value
    return AbortReason.UNEXPECTED_PDU, f"unexpected {name} ({event.value})"


_C = Connection
#: PS3.8 Tables 9-6 to 9-9: what the engine does for each action.
_ACTIONS: dict[Action, Callable[[Connection, Event, dict[str, object]], bytes]] = {
    Action.AE_1: _C._ae_1_request,
    Action.AE_2: _C._ae_2_send_rq,
    Action.AE_3: _C._ae_3_accepted,
    Action.AE_4: _C._ae_4_rejected,
    Action.AE_5: _C._ae_5_connected,
    Action.AE_6: _C._ae_6_requested,
    Action.AE_7: _C._send_pdu,
    Action.AE_8: _C._ae_8_reject,
    Action.DT_1: _C._send_pdu,
    Action.DT_2: _C._p_data_indication,
    Action.AR_1: _C._ar_1_release,
    Action.AR_2: _C._ar_2_release_requested,
    Action.AR_3: _C._released,
    Action.AR_4: _C._ar_4_release_response,
    Action.AR_5: _C._stop,
    Action.AR_6: _C._p_data_indication,
    Action.AR_7: _C._send_pdu,
    Action.AR_8: _C._ar_8_collision,
    Action.AR_9: _C._ar_9_release_response,
    Action.AR_10: _C._released,
    Action.AA_1: _C._aa_1_abort,
    Action.AA_2: _C._stop,
    Action.AA_3: _C._aa_3_peer_abort,
    Action.AA_4: _C._aa_4_lost,
    Action.AA_5: _C._stop,
    Action.AA_6: _C._aa_6_ignore,
    Action.AA_7: _C._aa_7_abort,
    Action.AA_8: _C._aa_8_abort,
}

#: The local requests Connection.send takes, and the Table 9-10 event each is.
_LOCAL_REQUESTS: dict[type, Callable[[Connection, Any], bytes]] = {
    RequestAssociation: _C._request_association,
    AcceptAssociation: _C._accept,  # Evt7, or Evt8 if the negotiation rejects
    RejectAssociation: _C._reject,
    RequestRelease: lambda conn, _: conn._input(Event.EVT11),
    RespondRelease: lambda conn, _: conn._input(Event.EVT14),
    Abort: lambda conn, _: conn._input(Event.EVT15),
}
