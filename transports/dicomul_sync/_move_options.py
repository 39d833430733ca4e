"""The keywords a C-MOVE handler gives for the association to its destination.

A pynetdicom handler of EVT_C_MOVE yields the destination as ``(addr,
port)`` or ``(addr, port, kwargs)``, ``kwargs`` being keywords of
``AE.associate()`` for the sub-association that carries the C-STORE
sub-operations (PS3.4 C.4.2.3.1): its presentation contexts, called AE
title, maximum PDU length, extended negotiation, event handlers, local
address, TLS.  :func:`move_association_options` checks them before any
sub-operation starts, so that a typo gives the C-MOVE's requestor a
failure status (and the log says which keyword) instead of an exception
half-way through the matches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from dicomul import ProposedContext, check_ae_title

from ._events import HandlerRegistry
from ._handlers import MoveAssociationOptions
from .pdu_primitives import negotiation_items

if TYPE_CHECKING:
    import ssl

__all__ = ["KEYWORDS", "move_association_options"]

#: The keywords understood: those of ``associate()`` but the address.
KEYWORDS = (
    "ae_title",
    "max_pdu",
    "contexts",
    "ext_neg",
    "evt_handlers",
    "bind_address",
    "tls_args",
)


def move_association_options(keywords: object) -> MoveAssociationOptions:
    """``keywords`` (a mapping, or None) checked and converted.

    Raises
    ------
    TypeError, ValueError
        Naming the keyword at fault: one ``associate()`` does not take, or
        a value it would refuse.
    """
    if keywords is None:
        return MoveAssociationOptions()
    if not isinstance(keywords, Mapping):
        raise TypeError(
            f"the association keywords after (addr, port) must be a dict, "
            f"not {type(keywords).__name__}"
        )
    unknown = sorted(repr(key) for key in keywords if key not in KEYWORDS)
    if unknown:
        raise ValueError(
            f"unknown association keyword(s) {', '.join(unknown)}: "
            f"the destination's association takes {', '.join(KEYWORDS)}"
        )
    given = dict(keywords)
    ae_title = given.get("ae_title")
    max_pdu = given.get("max_pdu")
    if max_pdu is not None and (
        isinstance(max_pdu, bool) or not isinstance(max_pdu, int) or max_pdu < 0
    ):
        raise ValueError(f"max_pdu {max_pdu!r} is not a PDU length (an int from 0, or None)")
    evt_handlers = tuple(given.get("evt_handlers") or ())
    HandlerRegistry(evt_handlers)  # raises TypeError for a bad binding
    return MoveAssociationOptions(
        ae_title=None if ae_title is None else check_ae_title(str(ae_title)),
        max_pdu=max_pdu,
        max_pdu_given="max_pdu" in given,
        contexts=_contexts(given["contexts"]) if given.get("contexts") is not None else None,
        ext_neg=negotiation_items(given.get("ext_neg") or ()),
        evt_handlers=evt_handlers,
        bind_address=_bind_address(given.get("bind_address")),
        tls_args=_tls_args(given.get("tls_args")),
    )


def _contexts(contexts: object) -> tuple[ProposedContext, ...]:
    """Presentation contexts: dicomul's :class:`ProposedContext`, or objects
    with ``abstract_syntax`` and ``transfer_syntax`` (a list, as
    pynetdicom's ``build_context()`` makes them), numbered 1, 3, 5..."""
    if not isinstance(contexts, Sequence) or isinstance(contexts, str | bytes):
        raise TypeError(f"contexts must be a list of presentation contexts, not {contexts!r}")
    proposed: list[ProposedContext] = []
    for index, context in enumerate(contexts):
        context_id = 2 * index + 1
        if isinstance(context, ProposedContext):
            proposed.append(context)
            continue
        abstract = getattr(context, "abstract_syntax", None)
        syntaxes = getattr(context, "transfer_syntax", None)
        if syntaxes is None:
            syntaxes = getattr(context, "transfer_syntaxes", None)
        if not isinstance(abstract, str) or not syntaxes or isinstance(syntaxes, str):
            raise TypeError(
                f"context {context!r} has no abstract_syntax and list of transfer_syntax"
            )
        proposed.append(
            ProposedContext(
                context_id=context_id,
                abstract_syntax=str(abstract),
                transfer_syntaxes=tuple(str(uid) for uid in syntaxes),
            )
        )
    if not proposed:
        raise ValueError("contexts is empty: the association would propose nothing")
    if len({c.context_id for c in proposed}) != len(proposed):
        raise ValueError("contexts repeat a presentation context ID")
    return tuple(proposed)


def _bind_address(address: object) -> tuple[str, int] | None:
    if address is None:
        return None
    if (
        not isinstance(address, tuple | list)
        or len(address) != 2
        or not isinstance(address[0], str)
        or not isinstance(address[1], int)
    ):
        raise TypeError(f"bind_address must be (host, port), not {address!r}")
    return str(address[0]), int(address[1])


def _tls_args(tls: object) -> tuple[ssl.SSLContext, str | None] | None:
    if tls is None:
        return None
    import ssl  # noqa: PLC0415 - only with TLS: an echo loads no TLS (tests/test_lazy_import.py)

    if (
        not isinstance(tls, tuple | list)
        or len(tls) != 2
        or not isinstance(tls[0], ssl.SSLContext)
        or not (tls[1] is None or isinstance(tls[1], str))
    ):
        raise TypeError(f"tls_args must be (ssl.SSLContext, server hostname or None), not {tls!r}")
    return tls[0], tls[1]
