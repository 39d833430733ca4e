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
  matches back on this association as C-STORE requests).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ._acse import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    MAX_CONTEXTS,
    AssociationRequest,
    ProposedContext,
    RoleProposal,
    propose_contexts,
)
from ._command import CommandField
from ._wire import is_valid_uid

__all__ = [
    "FIND_MODELS",
    "GET_MODELS",
    "MOVE_MODELS",
    "VERIFICATION_SOP_CLASS",
    "RequestorProposal",
    "model_sop_class",
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
) -> RequestorProposal:
    """The association an AE requests: a context per SCU SOP class offering
    ``transfer_syntaxes``; if one of them is a C-GET model, also a context
    and an SCP role proposal per storage class among ``scp_sop_classes``
    (the classes the matches may come back as).  Past 128 contexts the
    rest are left out (first come, first kept).  ``contexts``, if given,
    are proposed instead (the roles stay those of the AE's classes).
    The implementation class UID and version name (PS3.7 D.3.3.2) are
    dicomul's unless given."""
    scu = list(dict.fromkeys(scu_sop_classes))
    classes = scu
    roles: tuple[RoleProposal, ...] = ()
    if set(scu) & set(GET_MODELS.values()):
        storage = [uid for uid in dict.fromkeys(scp_sop_classes) if uid not in _NOT_STORAGE]
        classes = scu + [uid for uid in storage if uid not in scu]
        kept = set(classes[:MAX_CONTEXTS])
        roles = tuple(
            RoleProposal(sop_class=uid, scu=uid in scu, scp=True) for uid in storage if uid in kept
        )
    request = AssociationRequest(
        calling_ae_title=calling_ae_title,
        called_ae_title=called_ae_title,
        contexts=propose_contexts(classes[:MAX_CONTEXTS], transfer_syntaxes)
        if contexts is None
        else tuple(contexts),
        max_pdu_length=max_pdu_length,
        roles=roles,
        implementation_class_uid=implementation_class_uid,
        implementation_version_name=implementation_version_name,
    )
    left_out = () if contexts is not None else tuple(classes[MAX_CONTEXTS:])
    return RequestorProposal(request, left_out)
