"""What both servers hand the core's negotiation besides their settings:
the user identity a request asserts and the verdict of the AE's identity
handler, and the presentation contexts configured by SOP class.

Shared by the blocking server (``dicomul_sync``) and the async one
(``dicomul_anyio``), so that a handler answers the same way in both: the
rules themselves (what is sent back for which identity type, RJ 1/2/1 when
the identity is refused, PS3.7 D.3.3.7.3; roles, PS3.7 D.3.3.4) are the
core's :func:`dicomul.negotiate`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from dicomul.pdu import UserIdentityRQSubItem

if TYPE_CHECKING:
    from dicomul import ContextSetting, SupportedContext
    from dicomul.pdu import AssociateRQ

__all__ = ["asserted_identity", "identity_verdict", "supported_by_sop_class"]


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
