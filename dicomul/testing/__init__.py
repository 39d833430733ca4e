"""Test helpers for users of dicomul.

* :class:`ConnectionPair` and :func:`replay` (:mod:`dicomul.testing.pair`): a
  requestor and an acceptor wired together in memory with a virtual clock,
  and recorded sessions fed back into the engine; :func:`split_pdus` cuts
  written bytes into PDUs.  No hypothesis needed.
* :mod:`dicomul.testing.strategies`: hypothesis strategies for every PDU,
  item, sub-item and DIMSE command (install the ``testing`` extra); not
  imported here, so that this package never needs hypothesis.
"""

from .pair import ConnectionPair, replay, split_pdus

__all__ = ["ConnectionPair", "replay", "split_pdus"]
