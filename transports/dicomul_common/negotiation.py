"""What both servers hand the core's negotiation besides their settings:
the user identity a request asserts and the verdict of the AE's identity
handler, and the presentation contexts configured by SOP class.

Shared by the blocking server (``dicomul_sync``) and the async one
(``dicomul_anyio``), so that a handler answers the same way in both: the
rules themselves (what is sent back for which identity type, RJ 1/2/1 when
the identity is refused, PS3.7 D.3.3.7.3; roles, PS3.7 D.3.3.4) are the
core's :func:`dicomul.negotiate`.  The same for the rest of the extended
negotiation (PS3.7 D.3.3.3, D.3.3.5, D.3.3.6): what the EVT_ASYNC_OPS,
EVT_SOP_EXTENDED and EVT_SOP_COMMON handlers are asked
(:func:`negotiation_questions`) and what their replies become, the core's
:class:`dicomul.NegotiationAnswers` (:func:`negotiation_answers`); calling
the handlers is each adapter's (the async one awaits them).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from dicomul import (
    EVT_ASYNC_OPS,
    EVT_SOP_COMMON,
    EVT_SOP_EXTENDED,
    EventType,
    NegotiationAnswers,
    check_operations_window,
    requested_negotiation,
)
from dicomul.pdu import UserIdentityRQSubItem

if TYPE_CHECKING:
    from dicomul import ContextSetting, SupportedContext
    from dicomul.pdu import AssociateRQ

__all__ = [
    "NEGOTIATION_EVENTS",
    "asserted_identity",
    "identity_verdict",
    "negotiation_answers",
    "negotiation_questions",
    "supported_by_sop_class",
]

LOGGER = logging.getLogger("dicomul.negotiation")


def asserted_identity(request: AssociateRQ) -> UserIdentityRQSubItem | None:
    """The User Identity sub-item ``request`` carries (PS3.7 D.3.3.7.1), if any."""
    info = request.user_information
    identity = None if info is None else info.user_identity
    return identity if isinstance(identity, UserIdentityRQSubItem) else None


def identity_verdict(answer: object) -> tuple[bool, bytes | None]:
    """What an identity handler returned, as the core's ``user_identity_result``:
    True or False (accepted, no server response), or ``(accepted, server
    response)``; the response is bytes-like or None."""
    if isinstance(answer, tuple):
        accepted, response = answer
        return bool(accepted), None if response is None else bytes(response)
    return bool(answer), None


def supported_by_sop_class(
    settings: Iterable[ContextSetting], transfer_syntaxes: Sequence[str]
) -> dict[str, SupportedContext]:
    """``AcceptorConfig.for_sop_classes(supported_contexts=...)`` from the
    contexts an AE supports by SOP class; those with no transfer syntaxes
    of their own take ``transfer_syntaxes`` (the AE's)."""
    return {context.abstract_syntax: context.supported(transfer_syntaxes) for context in settings}


#: The extended negotiation events an acceptor's application answers
#: (PS3.7 D.3.3.3, D.3.3.5, D.3.3.6), in the order they are asked.
NEGOTIATION_EVENTS: tuple[EventType, ...] = (EVT_ASYNC_OPS, EVT_SOP_EXTENDED, EVT_SOP_COMMON)


def negotiation_questions(
    request: AssociateRQ, bound: Iterable[EventType]
) -> dict[EventType, dict[str, object]]:
    """What to ask the handlers bound to ``bound``'s extended negotiation
    events about ``request``: each event's attributes (EVT_ASYNC_OPS:
    ``invoked``/``performed``, as pynetdicom's ``nr_invoked``/``nr_performed``
    too; EVT_SOP_EXTENDED: ``app_info``, SOP class UID -> bytes;
    EVT_SOP_COMMON: ``items``, SOP class UID -> its
    :class:`dicomul.SOPClassCommonExtendedNegotiation`), only for what the
    request negotiates.  The answers go to :func:`negotiation_answers`."""
    bound = set(bound)
    asked = requested_negotiation(request)
    questions: dict[EventType, dict[str, object]] = {}
    if EVT_ASYNC_OPS in bound and asked.asynchronous_operations is not None:
        invoked, performed = asked.asynchronous_operations
        questions[EVT_ASYNC_OPS] = {
            "invoked": invoked,
            "performed": performed,
            "nr_invoked": invoked,
            "nr_performed": performed,
        }
    if EVT_SOP_EXTENDED in bound and asked.extended_negotiation:
        questions[EVT_SOP_EXTENDED] = {"app_info": dict(asked.extended_negotiation)}
    if EVT_SOP_COMMON in bound and asked.common_extended_negotiation:
        questions[EVT_SOP_COMMON] = {"items": dict(asked.common_extended_negotiation)}
    return questions


def negotiation_answers(
    bound: Iterable[EventType], replies: Mapping[EventType, object]
) -> NegotiationAnswers | None:
    """The core's :class:`dicomul.NegotiationAnswers` from what the handlers
    of ``bound`` replied to :func:`negotiation_questions` (an exception
    for a handler that raised).  None when no handler is bound (the AE's
    settings decide).  A bound handler that was not asked (the request
    did not negotiate that part) answers nothing; one that raised, or
    answered what cannot be sent, is logged and answers nothing (the
    window: synchronous, the safe answer to an offer)."""
    bound = set(bound) & set(NEGOTIATION_EVENTS)
    if not bound:
        return None
    window: tuple[int, int] | None = None
    if EVT_ASYNC_OPS in replies:
        try:
            window = _window_answer(_raised(replies[EVT_ASYNC_OPS]))
        except Exception:
            LOGGER.exception("EVT_ASYNC_OPS handler failed: no window answered")
            window = (1, 1)
    extended: dict[str, bytes] | None = None
    if EVT_SOP_EXTENDED in bound:
        extended = {}
        if EVT_SOP_EXTENDED in replies:
            try:
                extended = _extended_answer(_raised(replies[EVT_SOP_EXTENDED]))
            except Exception:
                LOGGER.exception("EVT_SOP_EXTENDED handler failed: none answered")
    common: frozenset[str] | None = None
    if EVT_SOP_COMMON in bound:
        common = frozenset()
        if EVT_SOP_COMMON in replies:
            try:
                common = _common_answer(_raised(replies[EVT_SOP_COMMON]))
            except Exception:
                LOGGER.exception("EVT_SOP_COMMON handler failed: none accepted")
    return NegotiationAnswers(
        asynchronous_operations=window,
        extended_negotiation=extended,
        common_extended_negotiation=common,
    )


def _raised(reply: object) -> object:
    """A handler's reply, or the exception it raised raised again."""
    if isinstance(reply, BaseException):
        raise reply
    return reply


def _window_answer(answer: object) -> tuple[int, int]:
    """An EVT_ASYNC_OPS handler's (maximum invoked, maximum performed)."""
    if not isinstance(answer, tuple | list) or len(answer) != 2:
        raise TypeError(f"EVT_ASYNC_OPS returns (invoked, performed), not {answer!r}")
    invoked = check_operations_window(answer[0], name="invoked")
    performed = check_operations_window(answer[1], name="performed")
    return invoked, performed


def _extended_answer(answer: object) -> dict[str, bytes]:
    """An EVT_SOP_EXTENDED handler's {SOP class UID: application information}."""
    if answer is None:
        return {}
    if not isinstance(answer, Mapping):
        raise TypeError(f"EVT_SOP_EXTENDED returns a dict of UID: bytes, not {answer!r}")
    replies: dict[str, bytes] = {}
    for sop_class, info in answer.items():
        if not isinstance(info, bytes | bytearray):
            raise TypeError(f"EVT_SOP_EXTENDED answers bytes, not {info!r} for {sop_class}")
        replies[str(sop_class)] = bytes(info)
    return replies


def _common_answer(answer: object) -> frozenset[str]:
    """The SOP classes of an EVT_SOP_COMMON handler's accepted items."""
    if answer is None:
        return frozenset()
    if not isinstance(answer, Mapping):
        raise TypeError(f"EVT_SOP_COMMON returns a dict of UID: item, not {answer!r}")
    return frozenset(str(sop_class) for sop_class in answer)
