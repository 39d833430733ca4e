"""What a requestor AE proposes, and the query/retrieve models by letter.

Every adapter (blocking, asyncio, trio) turns the same AE settings into the
same A-ASSOCIATE-RQ, so the rules live here:

- the seed's ``query_model`` letters (pynetdicom3's ``send_c_find``,
  ``send_c_get``, ``send_c_move``): ``P`` Patient Root, ``S`` Study Root,
  ``O`` Patient/Study Only (PS3.4 C.6), ``W`` Modality Worklist (PS3.4 K.6,
  C-FIND only);
- one presentation context per SOP class the AE uses as SCU, offering its
  transfer syntaxes; and, when it can C-GET, the SCP role proposed for its
  storage classes (PS3.4 C.4.3.1, PS3.7 D.3.3.4: the C-GET SCP sends the
  matches back on this association as C-STORE requests);
- the contexts an AE asks for one by one (pynetdicom's
  ``add_requested_context``, :class:`ContextSetting`), before those, each
  with its own transfer syntaxes and, if set, its SCP/SCU role selection;
  and which of them the acceptor rejected (:func:`rejected_contexts`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ._acse import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    MAX_CONTEXTS,
    AssociationRequest,
    Negotiated,
    ProposedContext,
    RoleProposal,
    SupportedContext,
    UserIdentity,
)
from ._command import CommandField
from ._enums import ContextResult
from ._record import dataclass
from ._wire import is_valid_uid

__all__ = [
    "FIND_MODELS",
    "GET_MODELS",
    "MOVE_MODELS",
    "VERIFICATION_SOP_CLASS",
    "ContextSetting",
    "RejectedContext",
    "RequestorProposal",
    "model_sop_class",
    "rejected_contexts",
    "requestor_proposal",
]

VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1"

#: C-FIND information models by letter (PS3.4 C.6.1.1.1, C.6.2.1.1, C.6.3.1.1, K.6.1.1.1).
FIND_MODELS = {
    "W": "1.2.840.10008.5.1.4.31",
    "P": "1.2.840.10008.5.1.4.1.2.1.1",
    "S": "1.2.840.10008.5.1.4.1.2.2.1",
    "O": "1.2.840.10008.5.1.4.1.2.3.1",
}
#: C-GET information models by letter (PS3.4 C.6.1.1.3, C.6.2.1.3, C.6.3.1.3).
GET_MODELS = {
    "P": "1.2.840.10008.5.1.4.1.2.1.3",
    "S": "1.2.840.10008.5.1.4.1.2.2.3",
    "O": "1.2.840.10008.5.1.4.1.2.3.3",
}
#: C-MOVE information models by letter (PS3.4 C.6.1.1.2, C.6.2.1.2, C.6.3.1.2).
MOVE_MODELS = {
    "P": "1.2.840.10008.5.1.4.1.2.1.2",
    "S": "1.2.840.10008.5.1.4.1.2.2.2",
    "O": "1.2.840.10008.5.1.4.1.2.3.2",
}
#: Other standard retrieve models (PS3.4 Y: Composite Instance Root, Z:
#: Without Bulk Data) by the request they serve, for the check in
#: :func:`model_sop_class` (any UID not listed is taken).
_OTHER_MODELS = {
    "1.2.840.10008.5.1.4.1.2.4.2": CommandField.C_MOVE_RQ,  # Composite Instance Root MOVE
    "1.2.840.10008.5.1.4.1.2.4.3": CommandField.C_GET_RQ,  # Composite Instance Root GET
    "1.2.840.10008.5.1.4.1.2.5.3": CommandField.C_GET_RQ,  # ... Without Bulk Data GET
}
_MODELS = {
    CommandField.C_FIND_RQ: FIND_MODELS,
    CommandField.C_GET_RQ: GET_MODELS,
    CommandField.C_MOVE_RQ: MOVE_MODELS,
}
#: The service of each standard model known here.
_MODEL_SERVICE = {
    **_OTHER_MODELS,
    **{uid: field for field, models in _MODELS.items() for uid in models.values()},
}
_NOT_STORAGE = frozenset(
    {VERIFICATION_SOP_CLASS, *FIND_MODELS.values(), *GET_MODELS.values(), *MOVE_MODELS.values()}
)


def model_sop_class(field: CommandField, letter: str) -> str:
    """The SOP class of query/retrieve model ``letter`` for a C-FIND, C-GET
    or C-MOVE request ``field``.

    ``letter`` may also be the SOP Class UID itself (pynetdicom 2's way):
    any UID is taken (a private or newer model, say) except one of the
    standard models of another service (a C-FIND model for a C-MOVE: its
    operation is not that SOP class's, PS3.4 C.4).  ValueError otherwise.
    """
    field = CommandField(field)
    models = _MODELS[field]
    found = models.get(letter)
    if found is not None:
        return found
    if is_valid_uid(letter.encode("ascii", "replace")):
        service = _MODEL_SERVICE.get(letter, field)
        if service != field:
            raise ValueError(
                f"{letter} is a query/retrieve model of another service, "
                f"not of {field.name.removesuffix('_RQ').replace('_', '-')}"
            )
        return letter
    names = ", ".join(sorted(models))
    raise ValueError(f"query_model must be one of {names} or a SOP Class UID, not {letter!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ContextSetting:
    """A presentation context an AE asks for, or supports, by SOP class
    (pynetdicom's ``add_requested_context`` / ``add_supported_context``).

    ``transfer_syntaxes`` in order of preference; None: the AE's own list,
    read when an association is negotiated.  Roles (PS3.7 D.3.3.4), from
    the requestor's view: requested, None for both proposes no role
    selection (SCU only); otherwise the item proposes each role given as
    True (None counts as False, as the item carries both).  Supported,
    whether the acceptor lets the requestor take each role when it proposes
    it: None is the default, SCU yes and SCP no.
    """

    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...] | None = None
    scu_role: bool | None = None
    scp_role: bool | None = None

    def __post_init__(self) -> None:
        for value in (self.abstract_syntax, *(self.transfer_syntaxes or ())):
            if not isinstance(value, str) or not is_valid_uid(value.encode("ascii", "replace")):
                raise ValueError(f"{value!r} is not a UID (PS3.5 9.1)")
        if self.transfer_syntaxes is not None and not self.transfer_syntaxes:
            raise ValueError(f"a context for {self.abstract_syntax} needs a transfer syntax")

    @property
    def transfer_syntax(self) -> list[str] | None:
        """``transfer_syntaxes`` as pynetdicom names it (a list)."""
        return None if self.transfer_syntaxes is None else list(self.transfer_syntaxes)

    def syntaxes(self, default: Sequence[str]) -> tuple[str, ...]:
        """The transfer syntaxes, or ``default`` where none were given."""
        return tuple(default) if self.transfer_syntaxes is None else self.transfer_syntaxes

    def role_proposal(self) -> RoleProposal | None:
        """The role selection a requestor proposes for this context, if any."""
        if self.scu_role is None and self.scp_role is None:
            return None
        return RoleProposal(
            sop_class=self.abstract_syntax, scu=bool(self.scu_role), scp=bool(self.scp_role)
        )

    def supported(self, default: Sequence[str]) -> SupportedContext:
        """What an acceptor supports for this abstract syntax."""
        return SupportedContext(
            transfer_syntaxes=self.syntaxes(default),
            scu_role=True if self.scu_role is None else self.scu_role,
            scp_role=bool(self.scp_role),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectedContext:
    """A proposed presentation context the acceptor rejected (PS3.8 9.3.3.2)."""

    context_id: int
    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...]
    #: PS3.8 Table 9-18: user rejection, no reason, abstract syntax or
    #: transfer syntaxes not supported.
    result: ContextResult | int


def rejected_contexts(
    proposed: Iterable[ProposedContext], negotiated: Negotiated
) -> tuple[RejectedContext, ...]:
    """The proposed contexts ``negotiated`` says were rejected, with why."""
    results = negotiated.rejected
    return tuple(
        RejectedContext(
            context_id=pc.context_id,
            abstract_syntax=pc.abstract_syntax,
            transfer_syntaxes=pc.transfer_syntaxes,
            result=_result(results[pc.context_id]),
        )
        for pc in proposed
        if pc.context_id in results
    )


def _result(value: int) -> ContextResult | int:
    try:
        return ContextResult(value)
    except ValueError:
        return value


@dataclass(frozen=True, slots=True)
class RequestorProposal:
    """An A-ASSOCIATE-RQ's contents, and the SOP classes left out of it
    because PS3.8 9.3.2.2 allows 128 presentation contexts."""

    request: AssociationRequest
    left_out: tuple[str, ...]


def requestor_proposal(
    *,
    calling_ae_title: str,
    called_ae_title: str,
    scu_sop_classes: Iterable[str],
    scp_sop_classes: Iterable[str] = (),
    transfer_syntaxes: Sequence[str],
    max_pdu_length: int = 0,
    contexts: Sequence[ProposedContext] | None = None,
    implementation_class_uid: str = IMPLEMENTATION_CLASS_UID,
    implementation_version_name: str | None = IMPLEMENTATION_VERSION_NAME,
    requested_contexts: Sequence[ContextSetting] = (),
    user_identity: UserIdentity | None = None,
) -> RequestorProposal:
    """The association an AE requests: a context per SCU SOP class offering
    ``transfer_syntaxes``; if one of them is a C-GET model, also a context
    and an SCP role proposal per storage class among ``scp_sop_classes``
    (the classes the matches may come back as).  Past 128 contexts the
    rest are left out (first come, first kept).  ``contexts``, if given,
    are proposed instead (the roles stay those of the AE's classes).
    The implementation class UID and version name (PS3.7 D.3.3.2) are
    dicomul's unless given.

    ``requested_contexts`` come first, each with its own transfer syntaxes
    (``transfer_syntaxes`` where it has none) and role selection; the SCU
    SOP classes none of them names follow.  A role a requested context sets
    replaces the one its SOP class would get as a storage class."""
    requested = list(requested_contexts)
    named = {c.abstract_syntax for c in requested}
    scu = list(dict.fromkeys(scu_sop_classes))
    every_scu = [*named, *scu]
    classes = [uid for uid in scu if uid not in named]
    storage: list[str] = []
    if set(every_scu) & set(GET_MODELS.values()):
        storage = [uid for uid in dict.fromkeys(scp_sop_classes) if uid not in _NOT_STORAGE]
        classes += [uid for uid in storage if uid not in classes and uid not in named]
    wanted = [(c.abstract_syntax, c.syntaxes(transfer_syntaxes)) for c in requested]
    wanted += [(uid, tuple(transfer_syntaxes)) for uid in classes]
    kept = wanted[:MAX_CONTEXTS]
    kept_classes = {uid for uid, _ in kept}
    role_of = {
        uid: RoleProposal(sop_class=uid, scu=uid in every_scu, scp=True)
        for uid in storage
        if uid in kept_classes
    }
    for context in requested:
        proposal = context.role_proposal()
        if proposal is not None and context.abstract_syntax in kept_classes:
            role_of[context.abstract_syntax] = proposal
    request = AssociationRequest(
        calling_ae_title=calling_ae_title,
        called_ae_title=called_ae_title,
        contexts=tuple(
            ProposedContext(context_id=2 * n + 1, abstract_syntax=uid, transfer_syntaxes=ts)
            for n, (uid, ts) in enumerate(kept)
        )
        if contexts is None
        else tuple(contexts),
        max_pdu_length=max_pdu_length,
        roles=tuple(role_of.values()),
        implementation_class_uid=implementation_class_uid,
        implementation_version_name=implementation_version_name,
        user_identity=user_identity,
    )
    left_out = () if contexts is not None else tuple(uid for uid, _ in wanted[MAX_CONTEXTS:])
    return RequestorProposal(request, left_out)
