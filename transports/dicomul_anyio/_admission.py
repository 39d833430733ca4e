"""Who gets into the async server: connections not associated yet, and slots.

Two bounds, the same as the blocking server's (``dicomul_sync._accept``,
``dicomul_sync.server``):

* :class:`Unassociated` keeps, in the order they came, the connections
  that hold no association (waiting for the A-ASSOCIATE-RQ, or lingering
  after a rejection or the association's end).  Past
  :data:`MAX_UNASSOCIATED` the oldest is closed for each new one, so that
  a flood of silent connections cannot keep a real peer out until ARTIM
  frees them (a real peer asks at once).  This is resource keeping, not a
  DICOM rule.
* :class:`Slots` counts the associations holding one of the server's
  slots.  At the limit, the core decides whether a displacement would help
  (:func:`dicomul.only_the_limit_refuses`) and which association gives way
  (:func:`dicomul.longest_idle` over :meth:`dicomul.Connection.idle_for`);
  this module only gathers the figures and tells the chosen association.
"""

from __future__ import annotations

import logging
from typing import Protocol

from dicomul import longest_idle

__all__ = ["MAX_UNASSOCIATED", "Displaceable", "Slots", "Unassociated"]

LOGGER = logging.getLogger("dicomul.anyio.server")

#: Connections without an association the server holds at most (as the
#: blocking server's ``MAX_PENDING``).
MAX_UNASSOCIATED = 256


class Closable(Protocol):
    """A connection that can be closed from another task."""

    def close_now(self) -> None: ...


class Displaceable(Protocol):
    """An association that may give its slot to a new peer."""

    def idle_for(self, now: float) -> float | None: ...

    def displace(self, idle_for: float) -> None: ...


class Unassociated:
    """The connections holding no association, oldest first."""

    def __init__(self, limit: int = MAX_UNASSOCIATED) -> None:
        self.limit = limit
        self._held: dict[Closable, None] = {}  # insertion order: oldest first
        self._warned = False

    def add(self, connection: Closable) -> None:
        """Hold ``connection``; past the limit, close the oldest held."""
        self._held.pop(connection, None)
        while len(self._held) >= self.limit:
            oldest = next(iter(self._held))
            del self._held[oldest]
            if not self._warned:
                self._warned = True
                LOGGER.warning(
                    "%d connections without an association: closing the oldest ones", self.limit
                )
            oldest.close_now()
        self._held[connection] = None

    def discard(self, connection: Closable) -> None:
        """``connection`` holds an association now, or is gone."""
        self._held.pop(connection, None)

    def __len__(self) -> int:
        return len(self._held)


class Slots:
    """The associations holding one of the server's slots."""

    def __init__(self) -> None:
        self._holders: set[Displaceable] = set()

    @property
    def active(self) -> int:
        """How many associations hold a slot."""
        return len(self._holders)

    def take(self, holder: Displaceable) -> None:
        self._holders.add(holder)

    def free(self, holder: Displaceable) -> None:
        self._holders.discard(holder)

    def displace_idle(self, *, now: float, after: float | None) -> bool:
        """Free the slot of the association idle longest, if idle at least
        ``after`` seconds (None: never); True if one gave way.

        Every association's task is suspended while this runs (one event
        loop), so each engine is seen at rest, as the blocking server sees
        it under the association's lock.
        """
        if after is None:
            return False
        idle = {holder: holder.idle_for(now) for holder in self._holders}
        chosen = longest_idle(idle, at_least=after)
        if chosen is None:
            return False
        seconds = idle[chosen]
        assert seconds is not None
        self.free(chosen)
        chosen.displace(seconds)
        return True
