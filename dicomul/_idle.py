"""Progress and idleness: what keeps silent or trickling peers from holding an association.

Theory of operation
-------------------
Rule 1: a byte is not progress.  A peer that sends one byte every few
seconds must not keep an association (and one of the acceptor's limited
association slots) for ever, so the timers that watch the peer restart on
*progress*, never on a single byte.  :class:`Progress` keeps the time of the
last progress; the engine counts as progress:

* :data:`PROGRESS_BYTES` bytes received since the last progress,
* a DIMSE message's command set, or its data set, received whole,
* anything this side writes (the peer's turn begins anew), as the adapter
  reports it with :meth:`Connection.wrote`,
* a change of PS3.8 state (the association established, a release begun).

The DIMSE and network timeouts (``dimse_timeout``, ``network_timeout`` of
:class:`~dicomul.Connection`) run from the last progress.  A timeout of
``T`` seconds therefore asks for a minimum rate: at least
:data:`PROGRESS_BYTES` bytes, or a whole message, every ``T`` seconds (4096
bytes in 30 seconds is 137 bytes a second; a link slower than that carries
no DICOM).  The DIMSE timeout waits for the peer: it does not run while
this side is still sending a message (the peer is reading it), and starts
anew when the last PDU is written, however long the message took to send.
The ACSE timeout and ARTIM were never restarted by bytes: they
bound the whole A-ASSOCIATE-RQ, AC or release exchange (PS3.8 9.1.5).

Rule 2: at the association limit, the idlest association gives way.  The
timeouts default to None (unlimited, as the seed documents), so without
them a peer that associates and says nothing would hold its slot for ever.
An association is *idle* when it is established (Sta6), this side has
nothing in hand (no message being sent, and no request of the peer's that
arrived whole awaits this side's answer, unless this side is itself waiting
for the peer, as a C-GET waits for its C-STORE sub-operations' responses),
and the peer has made no progress: :meth:`Connection.idle_for` says for how
long.  A peer half-way through a message counts: sending it one byte at a
time is no progress.  When a new peer asks for an association and the limit
is reached, :func:`longest_idle` picks the association idle longest, if idle
at least :data:`DEFAULT_DISPLACE_IDLE_AFTER` seconds (the acceptor may set
its own figure); that association is aborted by the service provider
(A-P-ABORT, :meth:`Connection.provider_abort`) and the new one accepted.
:func:`only_the_limit_refuses` says whether displacing would help at all.
An operation making progress is never displaced: it is not idle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from ._acse import AcceptorConfig, negotiate
from .pdu import AssociateRQ

__all__ = [
    "DEFAULT_DISPLACE_IDLE_AFTER",
    "PROGRESS_BYTES",
    "Progress",
    "longest_idle",
    "only_the_limit_refuses",
]

#: Bytes received that count as progress when no message completes meanwhile.
PROGRESS_BYTES = 4096
#: Seconds an association must have been idle before a new peer may take its
#: slot when the association limit is reached.
DEFAULT_DISPLACE_IDLE_AFTER = 5.0

_Key = TypeVar("_Key")


class Progress:
    """The time of the peer's last progress, as Rule 1 above defines it.

    Parameters
    ----------
    now : float
        The time the count starts from.
    """

    __slots__ = ("_bytes", "since")

    def __init__(self, now: float = 0.0) -> None:
        #: The time of the last progress.
        self.since = now
        self._bytes = 0

    def received(self, count: int, now: float) -> None:
        """``count`` bytes arrived at ``now``: progress once they add up to
        :data:`PROGRESS_BYTES` since the last progress."""
        self._bytes += count
        if self._bytes >= PROGRESS_BYTES:
            self.mark(now)

    def mark(self, now: float) -> None:
        """Progress at ``now`` (a message whole, something sent, a new state)."""
        self.since = now
        self._bytes = 0


def longest_idle(idle: Mapping[_Key, float | None], *, at_least: float) -> _Key | None:
    """The key whose association has been idle longest, if at least ``at_least`` seconds.

    ``idle`` maps each association to :meth:`Connection.idle_for` (None: not
    idle).  Returns None when no association is idle long enough: the new
    peer is then refused as before (A-ASSOCIATE-RJ, rejected-transient,
    local-limit-exceeded, PS3.8 Table 9-21).
    """
    candidates = [(seconds, key) for key, seconds in idle.items() if seconds is not None]
    if not candidates:
        return None
    seconds, key = max(candidates, key=lambda pair: pair[0])
    return key if seconds >= at_least else None


def only_the_limit_refuses(request: AssociateRQ, config: AcceptorConfig) -> bool:
    """True when ``request`` would be accepted were one association slot free.

    Displacing an idle association for a request refused anyway (a wrong
    called AE title, say) would end it for nothing.
    """
    if config.maximum_associations < 1:
        return False
    _, negotiated = negotiate(request, config, active_associations=config.maximum_associations - 1)
    return negotiated is not None
