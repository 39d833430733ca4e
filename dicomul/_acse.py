"""Association negotiation (ACSE) as pure functions: PS3.8 7.1 and 9.3, PS3.7 Annex D.

Theory of operation
-------------------
The requestor turns an :class:`AssociationRequest` (what it wants) into an
A-ASSOCIATE-RQ with :func:`build_associate_rq`.  The acceptor hands that RQ,
its :class:`AcceptorConfig` and the facts only the caller knows (how many
associations are open now, what its user-identity check said) to
:func:`negotiate`, which returns the A-ASSOCIATE-AC or -RJ to send and, when
accepting, the :class:`Negotiated` outcome.  The requestor reads the answer
with :func:`interpret_ac`, which gives it the same :class:`Negotiated` view.

Nothing here reads a clock, a socket or a file; a decision that needs I/O
(checking a password against a directory) is made by the caller beforehand
and passed in as data, so an async adapter can await it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import field, replace
from types import MappingProxyType
from typing import Any

from ._command import Command, CommandField
from ._enums import (
    AbortReason,
    ContextResult,
    ItemType,
    RejectReasonACSE,
    RejectReasonPresentation,
    RejectReasonUser,
    RejectResult,
    RejectSource,
    UserIdentityType,
)
from ._errors import LocalProtocolError, RemoteProtocolError
from ._extneg import (
    AsynchronousOperationsWindowNegotiation,
    SOPClassCommonExtendedNegotiation,
    SOPClassExtendedNegotiation,
)
from ._record import dataclass
from ._status import GeneralStatus
from ._version import IMPLEMENTATION_VERSION_NAME
from ._wire import ae_title, check_ae_title, uid
from .pdu import (
    DICOM_APPLICATION_CONTEXT,
    AbstractSyntaxItem,
    ApplicationContextItem,
    AssociateAC,
    AssociateRJ,
    AssociateRQ,
    AsynchronousOperationsWindowSubItem,
    ImplementationClassUIDSubItem,
    ImplementationVersionNameSubItem,
    MaximumLengthSubItem,
    PresentationContextACItem,
    PresentationContextRQItem,
    RoleSelectionSubItem,
    SOPClassCommonExtendedNegotiationSubItem,
    SOPClassExtendedNegotiationSubItem,
    SubItem,
    TransferSyntaxItem,
    UserIdentityACSubItem,
    UserIdentityRQSubItem,
    UserInformationItem,
)

__all__ = [
    "DEFAULT_MAX_PDU_LENGTH",
    "IMPLEMENTATION_CLASS_UID",
    "IMPLEMENTATION_VERSION_NAME",
    "MIN_PEER_MAX_PDU_LENGTH",
    "NATIVE_TRANSFER_SYNTAXES",
    "association_batches",
    "contexts_to_send",
    "AcceptedContext",
    "AcceptorConfig",
    "AssociationRequest",
    "Negotiated",
    "NegotiationAnswers",
    "ProposedContext",
    "RoleProposal",
    "UserIdentity",
    "build_associate_rq",
    "interpret_ac",
    "missing_context_reason",
    "negotiate",
    "propose_contexts",
]

#: dicomul's implementation class UID (PS3.7 D.3.3.2), under pydicom's root
#: for implementations without one of their own: pydicom.uid.generate_uid(
#: prefix=PYDICOM_ROOT_UID, entropy_srcs=["dicomul", "implementation class"]).
IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.8.498.88611029488944445218413247996701090340"
#: Maximum PDU length announced unless configured (PS3.8 D.1); the value
#: DCMTK and pynetdicom also announce by default.
DEFAULT_MAX_PDU_LENGTH = 16382
#: Transfer syntaxes a data set can be re-encoded into without touching
#: compressed pixel data (PS3.5 A.1, A.2, A.5): explicit and implicit VR little
#: endian, explicit VR big endian, deflated explicit VR little endian.
NATIVE_TRANSFER_SYNTAXES = (
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.1.99",
)
_EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"
#: What a data set can be re-encoded from into a native syntax: the native
#: syntaxes themselves, and RLE Lossless once decoded (PS3.5 Annex G).
_RE_ENCODABLE = frozenset({*NATIVE_TRANSFER_SYNTAXES, "1.2.840.10008.1.2.5"})
#: The Verification SOP Class (PS3.4 A), whose one operation is C-ECHO.
VERIFICATION = "1.2.840.10008.1.1"
#: PS3.7 C.5: "Refused: SOP Class not supported"; "Unrecognized operation".
SOP_CLASS_NOT_SUPPORTED = GeneralStatus.SOP_CLASS_NOT_SUPPORTED
UNRECOGNIZED_OPERATION = GeneralStatus.UNRECOGNIZED_OPERATION
_DIMSE_C_REQUESTS = frozenset(
    {
        CommandField.C_STORE_RQ,
        CommandField.C_FIND_RQ,
        CommandField.C_GET_RQ,
        CommandField.C_MOVE_RQ,
        CommandField.C_ECHO_RQ,
    }
)
#: The smallest maximum PDU length accepted from a peer.  PS3.8 sets no
#: floor, but a peer announcing a few bytes would make every message travel
#: in thousands of PDUs (7 bytes: one byte of data per PDU; 6 or less: none
#: at all), so such an association is refused.  No real peer announces less.
MIN_PEER_MAX_PDU_LENGTH = 256
#: At most 128 presentation contexts, with odd IDs 1 to 255 (PS3.8 9.3.2.2).
MAX_CONTEXTS = 128


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposedContext:
    """A presentation context the requestor proposes (PS3.8 7.1.1.13)."""

    context_id: int
    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...]

    def __post_init__(self) -> None:
        if not (isinstance(self.context_id, int) and 1 <= self.context_id <= 255):
            raise LocalProtocolError(f"context ID {self.context_id!r} is not 1 to 255")
        if self.context_id % 2 == 0:
            raise LocalProtocolError(f"context ID {self.context_id} is even (PS3.8 9.3.2.2)")
        if not self.transfer_syntaxes:
            raise LocalProtocolError(f"context {self.context_id} proposes no transfer syntax")


def propose_contexts(
    abstract_syntaxes: Iterable[str], transfer_syntaxes: Sequence[str]
) -> tuple[ProposedContext, ...]:
    """One context per abstract syntax, all proposing ``transfer_syntaxes``, IDs 1, 3, 5...

    Raises LocalProtocolError beyond the 128 contexts PS3.8 allows.
    """
    abstracts = list(abstract_syntaxes)
    if len(abstracts) > MAX_CONTEXTS:
        raise LocalProtocolError(
            f"{len(abstracts)} abstract syntaxes, more than the {MAX_CONTEXTS} presentation "
            "contexts PS3.8 9.3.2.2 allows"
        )
    return tuple(
        ProposedContext(
            context_id=2 * n + 1,
            abstract_syntax=abstract,
            transfer_syntaxes=tuple(transfer_syntaxes),
        )
        for n, abstract in enumerate(abstracts)
    )


def contexts_to_send(
    data_sets: Iterable[tuple[str, str | None]],
    fallback: Sequence[str] = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2"),
) -> tuple[tuple[ProposedContext, ...], int]:
    """Presentation contexts to send data sets of these (SOP class, transfer
    syntax) pairs as they are, and how many were left out past 128.

    Per SOP class, one context per transfer syntax among its data sets,
    offering that syntax only, so that an acceptor that supports it takes it
    and each data set goes as it is; and, where there are native
    (uncompressed) or RLE Lossless ones or ones of no stated syntax, one more offering
    ``fallback`` (by default Explicit then Implicit VR Little Endian; empty
    for none), which they can be re-encoded into if their own syntax is
    refused (:meth:`Negotiated.context_to_send`).  One context
    offering several syntaxes would get the acceptor's preference instead:
    a file then re-encoded needlessly, or, across byte orders, not sent.
    PS3.8 9.3.2.2: at most 128 contexts; the first 128 are kept.
    """
    exact: dict[tuple[str, tuple[str, ...]], None] = {}
    alternatives: dict[tuple[str, tuple[str, ...]], None] = {}
    for sop_class, syntax in data_sets:
        own, alternative = _contexts_wanted(sop_class, syntax, fallback)
        exact[own] = None
        if alternative is not None:
            alternatives[alternative] = None
    wanted = list(exact) + list(alternatives)
    kept = wanted[:MAX_CONTEXTS]
    contexts = tuple(
        ProposedContext(context_id=2 * n + 1, abstract_syntax=sop_class, transfer_syntaxes=ts)
        for n, (sop_class, ts) in enumerate(kept)
    )
    return contexts, len(wanted) - len(kept)


def association_batches(
    data_sets: Sequence[tuple[str, str | None]],
    fallback: Sequence[str] = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2"),
) -> tuple[tuple[tuple[ProposedContext, ...], range], ...]:
    """Split data sets of these (SOP class, transfer syntax) pairs into runs
    that can each be sent on one association: the contexts to propose for
    each run (as :func:`contexts_to_send` makes them) and the run's indices.

    PS3.8 9.3.2.2 allows 128 presentation contexts per association, so data
    sets needing more go over several associations, one after the other
    (PS3.4 C.4.2.3.1 allows as much for C-MOVE sub-operations).  The runs
    keep the data sets' order; a run ends only where the next data set would
    need a 129th context.  No data sets, no runs.
    """
    batches: list[tuple[tuple[ProposedContext, ...], range]] = []
    start = 0
    wanted: set[tuple[str, tuple[str, ...]]] = set()
    for index, (sop_class, syntax) in enumerate(data_sets):
        needs = {c for c in _contexts_wanted(sop_class, syntax, fallback) if c is not None}
        if len(wanted | needs) > MAX_CONTEXTS:
            batches.append(
                (contexts_to_send(data_sets[start:index], fallback)[0], range(start, index))
            )
            start, wanted = index, set()
        wanted |= needs
    if start < len(data_sets):
        contexts = contexts_to_send(data_sets[start:], fallback)[0]
        batches.append((contexts, range(start, len(data_sets))))
    return tuple(batches)


def _contexts_wanted(
    sop_class: str, syntax: str | None, fallback: Sequence[str]
) -> tuple[tuple[str, tuple[str, ...]], tuple[str, tuple[str, ...]] | None]:
    """The (SOP class, syntaxes) of the context offering the data set's own
    syntax, and of the fallback context if it is one that can be re-encoded."""
    own = (sop_class, (syntax or NATIVE_TRANSFER_SYNTAXES[0],))
    if fallback and (syntax is None or syntax in _RE_ENCODABLE):
        return own, (sop_class, tuple(fallback))
    return own, None


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleProposal:
    """SCP/SCU role selection for one SOP class (PS3.7 D.3.3.4).

    From the requestor's view: ``scu`` proposes that it acts as SCU, ``scp``
    that it acts as SCP.  Without a proposal the requestor is SCU only.
    """

    sop_class: str
    scu: bool
    scp: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class UserIdentity:
    """User identity the requestor asserts (PS3.7 D.3.3.7)."""

    identity_type: UserIdentityType
    primary_field: bytes
    secondary_field: bytes = b""
    positive_response_requested: bool = False

    def __post_init__(self) -> None:
        if self.identity_type == UserIdentityType.USERNAME_AND_PASSCODE:
            if not self.secondary_field:
                raise LocalProtocolError("username and passcode identity needs a passcode")
        elif self.secondary_field:
            raise LocalProtocolError("only username-and-passcode identity has a secondary field")
        if not self.primary_field:
            raise LocalProtocolError("a user identity needs a primary field (PS3.7 D.3.3.7.1)")
        for name in ("primary_field", "secondary_field"):
            if len(getattr(self, name)) > 0xFFFF:
                raise LocalProtocolError(f"{name} is longer than 65535 bytes (PS3.7 Table D.3-14)")

    @classmethod
    def username(
        cls,
        username: str,
        passcode: str | None = None,
        *,
        positive_response_requested: bool = False,
    ) -> UserIdentity:
        """Username (type 1), or username and passcode (type 2), UTF-8 encoded
        (PS3.7 D.3.3.7.1)."""
        return cls(
            identity_type=UserIdentityType.USERNAME
            if passcode is None
            else UserIdentityType.USERNAME_AND_PASSCODE,
            primary_field=username.encode("utf-8"),
            secondary_field=b"" if passcode is None else passcode.encode("utf-8"),
            positive_response_requested=positive_response_requested,
        )

    @classmethod
    def kerberos(cls, ticket: bytes, *, positive_response_requested: bool = False) -> UserIdentity:
        """A Kerberos service ticket (type 3)."""
        return cls(
            identity_type=UserIdentityType.KERBEROS,
            primary_field=bytes(ticket),
            positive_response_requested=positive_response_requested,
        )

    @classmethod
    def saml(
        cls, assertion: bytes | str, *, positive_response_requested: bool = False
    ) -> UserIdentity:
        """A SAML assertion (type 4)."""
        return cls(
            identity_type=UserIdentityType.SAML,
            primary_field=assertion.encode("utf-8") if isinstance(assertion, str) else assertion,
            positive_response_requested=positive_response_requested,
        )

    @classmethod
    def jwt(cls, token: bytes | str, *, positive_response_requested: bool = False) -> UserIdentity:
        """A JSON Web Token (type 5)."""
        return cls(
            identity_type=UserIdentityType.JWT,
            primary_field=token.encode("ascii") if isinstance(token, str) else token,
            positive_response_requested=positive_response_requested,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AssociationRequest:
    """Everything the requestor puts into its A-ASSOCIATE-RQ."""

    calling_ae_title: str
    called_ae_title: str
    contexts: tuple[ProposedContext, ...]
    #: Largest P-DATA-TF PDU-length this side receives; 0 means no limit.
    max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH
    implementation_class_uid: str = IMPLEMENTATION_CLASS_UID
    implementation_version_name: str | None = IMPLEMENTATION_VERSION_NAME
    roles: tuple[RoleProposal, ...] = ()
    #: (max operations invoked, max operations performed); None proposes none,
    #: which means one of each (synchronous operation).
    asynchronous_operations: tuple[int, int] | None = None
    #: SOP class UID -> service-class-application-information (PS3.7 D.3.3.5).
    extended_negotiation: Mapping[str, bytes] = field(default_factory=dict)
    #: SOP class common extended negotiation (PS3.7 D.3.3.6): (SOP class,
    #: service class, related general SOP classes).
    common_extended_negotiation: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    user_identity: UserIdentity | None = None

    def __post_init__(self) -> None:
        ids = [pc.context_id for pc in self.contexts]
        if not ids:
            raise LocalProtocolError(
                "an association request needs at least one presentation context"
            )
        if len(set(ids)) != len(ids):
            raise LocalProtocolError(f"duplicate presentation context IDs in {ids}")
        if len(ids) > MAX_CONTEXTS:
            raise LocalProtocolError(
                f"{len(ids)} contexts, more than PS3.8 allows ({MAX_CONTEXTS})"
            )
        if not 0 <= self.max_pdu_length <= 0xFFFFFFFF:
            raise LocalProtocolError(f"max_pdu_length {self.max_pdu_length} does not fit 32 bits")

    def with_negotiation(self, items: Iterable[object]) -> AssociationRequest:
        """This request with ``items`` negotiated too (PS3.7 D.3.3), as
        pynetdicom's ``ext_neg`` lists them: a
        :class:`AsynchronousOperationsWindowNegotiation` sets the window, a
        :class:`RoleProposal` the roles of its SOP class, a
        :class:`SOPClassExtendedNegotiation` and a
        :class:`SOPClassCommonExtendedNegotiation` are added (replacing one
        for the same SOP class), a :class:`UserIdentity` is asserted.

        Raises
        ------
        TypeError
            For an item of any other type.
        ValueError
            For a second user identity (one already in this request, or two
            in ``items``): a request carries one User Identity sub-item
            (PS3.7 D.3.3.7), and taking either silently would assert an
            identity the caller may not have meant.
        """
        window = self.asynchronous_operations
        roles = {r.sop_class: r for r in self.roles}
        extended = dict(self.extended_negotiation)
        common = {c[0]: c for c in self.common_extended_negotiation}
        identity = self.user_identity
        for item in items:
            if isinstance(item, AsynchronousOperationsWindowNegotiation):
                window = (
                    item.maximum_number_operations_invoked,
                    item.maximum_number_operations_performed,
                )
            elif isinstance(item, RoleProposal):
                roles[item.sop_class] = item
            elif isinstance(item, SOPClassExtendedNegotiation):
                extended[item.sop_class_uid] = item.service_class_application_information
            elif isinstance(item, SOPClassCommonExtendedNegotiation):
                common[item.sop_class_uid] = (
                    item.sop_class_uid,
                    item.service_class_uid,
                    tuple(item.related_general_sop_class_identification),
                )
            elif isinstance(item, UserIdentity):
                if identity is not None and identity != item:
                    raise ValueError(
                        "two user identities asserted (user_identity= and ext_neg, or twice "
                        "in ext_neg): a request carries one (PS3.7 D.3.3.7)"
                    )
                identity = item
            else:
                raise TypeError(f"not an extended negotiation item: {item!r}")
        return replace(
            self,
            asynchronous_operations=window,
            roles=tuple(roles.values()),
            extended_negotiation=extended,
            common_extended_negotiation=tuple(common.values()),
            user_identity=identity,
        )


def _user_information(
    max_pdu_length: int,
    implementation_class_uid: str,
    implementation_version_name: str | None,
    extra: Iterable[SubItem],
) -> UserInformationItem:
    """User information in the order peers send it: 51H, 52H, then the rest, 55H last-ish."""
    subs: list[SubItem] = [
        MaximumLengthSubItem(maximum_length=max_pdu_length),
        ImplementationClassUIDSubItem(name=uid(implementation_class_uid)),
    ]
    extras = list(extra)
    # Asynchronous operations window (53H) and role selection (54H) come
    # before the version name (55H), the rest after: ascending type order.
    subs += [s for s in extras if s.item_type < ItemType.IMPLEMENTATION_VERSION_NAME]
    if implementation_version_name:
        name = implementation_version_name.encode("ascii", "replace")
        if not 1 <= len(name) <= 16:
            raise LocalProtocolError("implementation version name must be 1 to 16 characters")
        subs.append(ImplementationVersionNameSubItem(name=name))
    subs += [s for s in extras if s.item_type > ItemType.IMPLEMENTATION_VERSION_NAME]
    return UserInformationItem(sub_items=tuple(subs))


def build_associate_rq(request: AssociationRequest) -> AssociateRQ:
    """Build the A-ASSOCIATE-RQ for ``request`` (PS3.8 9.3.2, PS3.7 D.3.3)."""
    extra: list[SubItem] = []
    if request.asynchronous_operations is not None:
        invoked, performed = request.asynchronous_operations
        extra.append(
            AsynchronousOperationsWindowSubItem(
                max_operations_invoked=invoked, max_operations_performed=performed
            )
        )
    extra += [
        RoleSelectionSubItem(
            sop_class_uid=uid(r.sop_class), scu_role=int(r.scu), scp_role=int(r.scp)
        )
        for r in request.roles
    ]
    extra += [
        SOPClassExtendedNegotiationSubItem(
            sop_class_uid=uid(sop_class), service_class_application_information=info
        )
        for sop_class, info in request.extended_negotiation.items()
    ]
    extra += [
        SOPClassCommonExtendedNegotiationSubItem(
            sop_class_uid=uid(sop_class),
            service_class_uid=uid(service_class),
            related_general_sop_class_uids=tuple(uid(r) for r in related),
        )
        for sop_class, service_class, related in request.common_extended_negotiation
    ]
    if request.user_identity is not None:
        identity = request.user_identity
        extra.append(
            UserIdentityRQSubItem(
                identity_type=identity.identity_type,
                positive_response_requested=int(identity.positive_response_requested),
                primary_field=identity.primary_field,
                secondary_field=identity.secondary_field,
            )
        )
    return AssociateRQ(
        called_ae_title=ae_title(request.called_ae_title),
        calling_ae_title=ae_title(request.calling_ae_title),
        application_context=ApplicationContextItem(name=uid(DICOM_APPLICATION_CONTEXT)),
        presentation_contexts=tuple(
            PresentationContextRQItem(
                context_id=pc.context_id,
                abstract_syntax=AbstractSyntaxItem(name=uid(pc.abstract_syntax)),
                transfer_syntaxes=tuple(
                    TransferSyntaxItem(name=uid(ts)) for ts in pc.transfer_syntaxes
                ),
            )
            for pc in request.contexts
        ),
        user_information=_user_information(
            request.max_pdu_length,
            request.implementation_class_uid,
            request.implementation_version_name,
            extra,
        ),
    )


# ------------------------------------------------------------------ acceptor


@dataclass(frozen=True, slots=True, kw_only=True)
class SupportedContext:
    """An abstract syntax the acceptor supports, with its transfer syntaxes in
    preference order and the roles it lets the requestor take."""

    transfer_syntaxes: tuple[str, ...]
    #: Whether the requestor may act as SCU (the default role) ...
    scu_role: bool = True
    #: ... and as SCP (used by C-GET, storage commitment and the like).
    scp_role: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptorConfig:
    """What an acceptor accepts (PS3.8 7.1, PS3.7 Annex D)."""

    ae_title: str
    #: Abstract syntax UID -> what is supported for it.
    supported: Mapping[str, SupportedContext]
    #: Reject an RQ whose called AE title is not ``ae_title``, or not one of
    #: ``called_ae_titles`` when they are given (RJ 1/1/7).
    require_called_aet: bool = False
    #: The called AE titles answered to, if not only ``ae_title``.
    called_ae_titles: tuple[str, ...] = ()
    #: If not empty, reject calling AE titles not listed (RJ 1/1/3).
    require_calling_aet: tuple[str, ...] = ()
    #: Concurrent associations; one more is rejected 2/3/2 (local limit exceeded).
    maximum_associations: int = 10
    max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH
    implementation_class_uid: str = IMPLEMENTATION_CLASS_UID
    implementation_version_name: str | None = IMPLEMENTATION_VERSION_NAME
    #: The asynchronous operations window this side supports, (invoked,
    #: performed); None answers no window, which leaves operations synchronous.
    asynchronous_operations: tuple[int, int] | None = None
    #: Policy for SOP class extended negotiation: given the SOP class and the
    #: requestor's application information, return the reply, or None to
    #: leave it unanswered (not supported).  Default: unanswered.
    extended_negotiation: Callable[[str, bytes], bytes | None] | None = None
    #: Reject every request, rejected-transient by the service user with no
    #: reason given (RJ 2/1/1): this acceptor cannot serve now, for instance
    #: because its configuration is unusable.
    out_of_service: bool = False
    #: Reject every request, rejected-permanent by the service user with no
    #: reason given (RJ 1/1/1): an acceptor that takes no association at all
    #: (DCMTK storescp's --refuse, for testing a requestor).
    refuse_all: bool = False
    #: Reject a request whose User Information carries no Implementation
    #: Class UID (or an empty one), rejected-permanent by the service user
    #: with no reason given (RJ 1/1/1).  PS3.7 D.3.3.2 makes the sub-item
    #: mandatory in every A-ASSOCIATE-RQ; DCMTK storescp's --reject rejects
    #: such a request so (seen: DCMTK 3.6.7 answers 1/1/1), where by default
    #: it, as this acceptor, takes it.
    require_implementation_class_uid: bool = False
    #: Who may call each of these AE titles, as DCMTK's dcmqrscp.cfg AETable
    #: lists its peers: called AE title -> (calling AE title, addresses)
    #: pairs.  A request to a called title listed here is rejected unless
    #: its calling AE title is in a pair whose addresses hold the peer's
    #: address (``negotiate``'s ``peer_address``; no addresses: from any
    #: host).  The rejection is rejected-permanent by the service user,
    #: reason 7 "called-AE-title-not-recognized", which is what dcmqrscp
    #: (DCMTK 3.6.7) answers a peer its AETable does not permit, title or
    #: host (PS3.8 9.3.4 has no reason for a host).  Titles not listed: no rule.
    permitted_peers: Mapping[str, tuple[tuple[str, frozenset[str]], ...]] = field(
        default_factory=dict
    )
    #: What an abstract syntax not in ``supported`` is accepted with; None
    #: (the default) rejects it, result 3 (PS3.8 Table 9-18).  A storage SCP
    #: that keeps whatever it is sent (DCMTK storescp's "promiscuous" mode)
    #: sets it.
    unknown_abstract_syntax: SupportedContext | None = None

    def __post_init__(self) -> None:
        """Check the AE titles (PS3.5 6.2): ValueError names a bad one, so a
        configuration mistake shows here rather than mid-negotiation."""
        for name in ("called_ae_titles", "require_calling_aet"):
            titles = getattr(self, name)
            if not isinstance(titles, tuple):
                raise TypeError(f"{name} is a tuple of AE titles, not {type(titles).__name__}")
            for title in titles:
                check_ae_title(title)
        check_ae_title(self.ae_title)

    @classmethod
    def for_sop_classes(
        cls,
        *,
        ae_title: str,
        scp_sop_classes: Iterable[str],
        scu_sop_classes: Iterable[str] = (),
        transfer_syntaxes: Iterable[str],
        require_called_aet: str | bool | Sequence[str] = False,
        require_calling_aet: str | bool | Sequence[str] = False,
        maximum_operations_performed: int = 1,
        accept_unknown_sop_classes: bool = False,
        supported_contexts: Mapping[str, SupportedContext] | None = None,
        **settings: Any,
    ) -> AcceptorConfig:
        """The configuration of an AE that serves ``scp_sop_classes`` and uses
        ``scu_sop_classes``, in the AE settings' own terms (pynetdicom3's).

        Roles (PS3.7 D.3.3.4): an SCP SOP class is accepted with the
        requestor as SCU; an SCU SOP class (a storage class a C-GET sends
        back) with the requestor as SCP, when it proposes that role; a class
        in both lists allows both.  A title requirement is True (this AE's
        own title), False (none), a title, or a list of titles.
        ``maximum_operations_performed`` other than 1 offers that
        asynchronous operations window (PS3.7 D.3.3.3: this side invokes one
        operation at a time and performs that many, 0 for no limit; 1
        answers none, which means the same; checked by
        :func:`check_operations_window`).  ``accept_unknown_sop_classes``
        accepts any other abstract syntax too, with the requestor as SCU
        (:attr:`AcceptorConfig.unknown_abstract_syntax`).  ``supported_contexts``
        set what is supported for their abstract syntaxes (transfer syntaxes
        and roles, pynetdicom's ``add_supported_context``), over what the SOP
        class lists say.  Other ``settings`` are fields of
        :class:`AcceptorConfig` as they are.
        """
        performed = check_operations_window(maximum_operations_performed)
        if performed != 1:
            settings["asynchronous_operations"] = (1, performed)
        syntaxes = tuple(transfer_syntaxes)
        supported = {
            sop_class: SupportedContext(transfer_syntaxes=syntaxes, scu_role=False, scp_role=True)
            for sop_class in scu_sop_classes
        }
        for sop_class in scp_sop_classes:
            supported[sop_class] = SupportedContext(
                transfer_syntaxes=syntaxes, scu_role=True, scp_role=sop_class in supported
            )
        if accept_unknown_sop_classes:
            settings["unknown_abstract_syntax"] = SupportedContext(transfer_syntaxes=syntaxes)
        supported.update(supported_contexts or {})
        called = _required_titles(require_called_aet, ae_title)
        return cls(
            ae_title=ae_title,
            supported=supported,
            require_called_aet=bool(called),
            called_ae_titles=called,
            require_calling_aet=_required_titles(require_calling_aet, ae_title),
            **settings,
        )


#: The largest operations window (PS3.7 D.3.3.3: a 16-bit field).
MAX_OPERATIONS = 0xFFFF


def check_operations_window(value: object, *, name: str = "maximum_operations_performed") -> int:
    """``value`` as a number of outstanding operations (PS3.7 D.3.3.3): an
    int from 0 (no limit) to 65535.

    Raises
    ------
    TypeError
        If it is no int (a bool is none).
    ValueError
        If it is out of that range.
    """
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} is an int, not {type(value).__name__}")
    if not 0 <= value <= MAX_OPERATIONS:
        raise ValueError(
            f"{name} is 0 (no limit) to {MAX_OPERATIONS}, not {value} (a 16-bit field, "
            "PS3.7 D.3.3.3)"
        )
    return value


def _required_titles(setting: str | bool | Sequence[str], own: str) -> tuple[str, ...]:
    """The AE titles a requirement setting lists (none: no requirement)."""
    if setting is True:
        return (own,)
    if not setting:
        return ()
    return (setting,) if isinstance(setting, str) else tuple(setting)


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptedContext:
    """A presentation context both sides agreed on."""

    context_id: int
    abstract_syntax: str
    transfer_syntax: str
    #: Roles of the association requestor for this context.
    requestor_is_scu: bool = True
    requestor_is_scp: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Negotiated:
    """The outcome of an accepted association, the same on both sides."""

    calling_ae_title: str
    called_ae_title: str
    #: Accepted contexts by ID.
    contexts: Mapping[int, AcceptedContext]
    #: Rejected contexts by ID, with their PS3.8 Table 9-18 result.
    rejected: Mapping[int, int]
    #: Largest P-DATA-TF PDU-length the requestor and acceptor each receive (0: no limit).
    requestor_max_pdu_length: int
    acceptor_max_pdu_length: int
    requestor_implementation: tuple[str, str | None]
    acceptor_implementation: tuple[str, str | None]
    #: Outstanding operations the requestor may invoke, and the acceptor may
    #: invoke (0: unlimited; 1 without a window: synchronous).
    requestor_max_invoked: int = 1
    acceptor_max_invoked: int = 1
    #: Extended negotiation replies by SOP class (PS3.7 D.3.3.5).
    extended_negotiation: Mapping[str, bytes] = field(default_factory=dict)
    #: The user identity sub-item the requestor sent (as received: a peer's
    #: values are not validated here), and the acceptor's server response.
    user_identity: UserIdentityRQSubItem | None = None
    user_identity_response: bytes | None = None
    #: The SOP class common extended negotiations the acceptor took
    #: (PS3.7 D.3.3.6), by SOP class; the acceptor answers none of them on
    #: the wire, so the requestor's view is always empty.
    common_extended_negotiation: Mapping[str, SOPClassCommonExtendedNegotiation] = field(
        default_factory=dict
    )

    def context_to_send(
        self, sop_class: str, transfer_syntax: str | None, *, requestor_as_scp: bool = False
    ) -> AcceptedContext | None:
        """The accepted context to send a data set of ``sop_class`` on, as SCU
        of its service: the requestor's, or with ``requestor_as_scp`` the
        acceptor's (C-GET's C-STORE sub-operations, PS3.4 C.4.3.3).

        The data set's own ``transfer_syntax`` if a context accepted it;
        otherwise, for a data set in a native (uncompressed) syntax or of
        unknown syntax (taken as little endian), a context with a native
        syntax it can be re-encoded into (PS3.5 A.1, A.2, A.5), one of the
        same byte order first (:func:`dicomul.encode_dataset` swaps the
        words of OW and like values across byte orders, PS3.5 7.3).
        RLE Lossless is decoded first (:func:`dicomul.decompress_rle`);
        other compressed pixel data cannot be re-encoded: None then.
        """
        candidates = [
            c
            for c in self.contexts.values()
            if c.abstract_syntax == sop_class
            and (c.requestor_is_scp if requestor_as_scp else c.requestor_is_scu)
        ]
        for context in candidates:
            if context.transfer_syntax == transfer_syntax:
                return context
        if transfer_syntax is not None and transfer_syntax not in _RE_ENCODABLE:
            return None
        big_endian = transfer_syntax == _EXPLICIT_VR_BIG_ENDIAN
        native = [c for c in candidates if c.transfer_syntax in NATIVE_TRANSFER_SYNTAXES]
        native.sort(key=lambda c: (c.transfer_syntax == _EXPLICIT_VR_BIG_ENDIAN) != big_endian)
        return native[0] if native else None

    def refusal_for(
        self, context_id: int, command: Command, *, sender_is_requestor: bool
    ) -> int | None:
        """The status that refuses a request received on ``context_id``, or
        None if it may be served.

        A presentation context carries one SOP class, and its roles say who
        may invoke its operations (PS3.7 D.3.3.4, PS3.4 C.4.1.1.1): 0x0122
        (SOP class not supported) for a DIMSE-C request whose affected SOP
        class is not the context's, or whose sender does not hold the SCU
        role there; 0x0211 (unrecognized operation) for a C-ECHO off the
        Verification context or anything else on it.  DIMSE-N requests may
        name a SOP class other than the context's (Meta SOP classes, PS3.4
        H), so only their sender's role is checked.
        """
        context = self.contexts.get(context_id)
        if context is None:
            return SOP_CLASS_NOT_SUPPORTED
        may_invoke = context.requestor_is_scu if sender_is_requestor else context.requestor_is_scp
        if not may_invoke:
            return SOP_CLASS_NOT_SUPPORTED
        field_ = command.command_field
        if field_ not in _DIMSE_C_REQUESTS:
            return None
        if (field_ == CommandField.C_ECHO_RQ) != (context.abstract_syntax == VERIFICATION):
            return UNRECOGNIZED_OPERATION
        if command.affected_sop_class_uid != context.abstract_syntax:
            return SOP_CLASS_NOT_SUPPORTED
        return None

    def context_for(
        self, abstract_syntax: str, *, requestor_as_scp: bool = False
    ) -> AcceptedContext | None:
        """The first accepted context for ``abstract_syntax`` in which the
        association requestor may act as SCU (or, with ``requestor_as_scp``,
        as SCP: C-GET's C-STORE sub-operations), or None."""
        for context in self.contexts.values():
            if context.abstract_syntax != abstract_syntax:
                continue
            if context.requestor_is_scp if requestor_as_scp else context.requestor_is_scu:
                return context
        return None


#: Why the acceptor rejected a presentation context (PS3.8 Table 9-18).
_CONTEXT_REJECTIONS: dict[int, str] = {
    ContextResult.USER_REJECTION: "user rejection",
    ContextResult.NO_REASON: "no reason given (provider rejection)",
    ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED: "abstract syntax not supported",
    ContextResult.TRANSFER_SYNTAXES_NOT_SUPPORTED: "transfer syntaxes not supported",
}


def missing_context_reason(
    sop_class: str,
    proposed: Iterable[ProposedContext],
    negotiated: Negotiated,
    *,
    requestor_as_scp: bool = False,
) -> str:
    """Why no accepted presentation context carries ``sop_class`` (for the
    requestor as SCU, or as SCP), in words for an error message: it was not
    proposed (not among the SOP classes the requestor uses, or past the 128
    contexts of PS3.8 9.3.2.2), the acceptor rejected each context proposing
    it (with the PS3.8 Table 9-18 reason), or it accepted it without the
    role needed (PS3.7 D.3.3.4).
    """
    ids = [pc.context_id for pc in proposed if pc.abstract_syntax == sop_class]
    if not ids:
        return "it was not proposed in the association request (PS3.8 9.3.2.2)"
    reasons = [
        _CONTEXT_REJECTIONS.get(result, f"result {result}")
        for context_id, result in negotiated.rejected.items()
        if context_id in ids
    ]
    if len(reasons) == len(ids):
        return "the peer rejected it: " + "; ".join(dict.fromkeys(reasons)) + " (PS3.8 9.3.3.2)"
    role = "SCP" if requestor_as_scp else "SCU"
    return f"the peer accepted it without this side in the {role} role (PS3.7 D.3.3.4)"


@dataclass(frozen=True, slots=True, kw_only=True)
class NegotiationAnswers:
    """The acceptor application's own answers to a request's extended
    negotiation, decided before :func:`negotiate` runs (an adapter asks its
    handlers, which :func:`dicomul.requested_negotiation` tells what was
    asked).  None leaves that part to :class:`AcceptorConfig`."""

    #: The asynchronous operations window to answer, (maximum invoked,
    #: maximum performed) as the AC's sub-item carries them (PS3.7
    #: D.3.3.3); answered only if the request offered a window.
    asynchronous_operations: tuple[int, int] | None = None
    #: SOP class UID -> the service class application information to
    #: answer (PS3.7 D.3.3.5); a SOP class the request did not negotiate is
    #: not answered.  Replaces :attr:`AcceptorConfig.extended_negotiation`.
    extended_negotiation: Mapping[str, bytes] | None = None
    #: The SOP classes whose common extended negotiation is accepted (PS3.7
    #: D.3.3.6: nothing is sent back; :attr:`Negotiated.common_extended_negotiation`
    #: records them); one the request did not negotiate is ignored.
    common_extended_negotiation: frozenset[str] | None = None


def _reject(result: int, source: int, reason: int) -> tuple[AssociateRJ, None]:
    return AssociateRJ(result=result, source=source, reason=reason), None


def _permitted(
    peers: tuple[tuple[str, frozenset[str]], ...], calling: str, address: str | None
) -> bool:
    """Whether ``calling`` from ``address`` is one of ``peers`` (see
    :attr:`AcceptorConfig.permitted_peers`)."""
    if address is not None and address.lower().startswith("::ffff:") and "." in address:
        address = address[7:]  # an IPv4 peer on a dual-stack socket
    return any(
        title.strip() == calling and (not addresses or address in addresses)
        for title, addresses in peers
    )


def negotiate(
    rq: AssociateRQ,
    config: AcceptorConfig,
    *,
    active_associations: int = 0,
    user_identity_result: tuple[bool, bytes | None] | None = None,
    peer_address: str | None = None,
    answers: NegotiationAnswers | None = None,
) -> tuple[AssociateAC, Negotiated] | tuple[AssociateRJ, None]:
    """Decide the acceptor's answer to ``rq``.

    Parameters
    ----------
    rq : AssociateRQ
        The request received.
    config : AcceptorConfig
        What this acceptor supports.
    active_associations : int
        Associations open now, not counting this one.
    user_identity_result : (bool, bytes or None) or None
        The caller's verdict on the request's user identity sub-item, if it
        checked one: (accepted, server response).  None when the acceptor
        does not check identities: the sub-item is then ignored, as PS3.7
        D.3.3.7 lets an acceptor do.
    peer_address : str or None
        The requestor's IP address, for :attr:`AcceptorConfig.permitted_peers`
        (an IPv4-mapped IPv6 address counts as its IPv4 address); None when
        the transport has none: a peer that must come from given hosts is
        then rejected.
    answers : NegotiationAnswers or None
        The application's answers to the asynchronous operations window,
        SOP class extended and common extended negotiation, where it gave
        them; the rest follows ``config``.

    Returns
    -------
    (AssociateAC, Negotiated) or (AssociateRJ, None)
    """
    # PS3.8 9.3.2: a receiver tests only bit 0 of the protocol version.
    if not rq.protocol_version & 1:
        return _reject(
            RejectResult.REJECTED_PERMANENT,
            RejectSource.SERVICE_PROVIDER_ACSE,
            RejectReasonACSE.PROTOCOL_VERSION_NOT_SUPPORTED,
        )
    # PS3.7 A.2.1: DICOM has one application context name.
    if rq.application_context.uid != DICOM_APPLICATION_CONTEXT:
        return _reject(
            RejectResult.REJECTED_PERMANENT,
            RejectSource.SERVICE_USER,
            RejectReasonUser.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED,
        )
    if config.out_of_service:
        return _reject(
            RejectResult.REJECTED_TRANSIENT,
            RejectSource.SERVICE_USER,
            RejectReasonUser.NO_REASON_GIVEN,
        )
    if config.refuse_all:
        return _reject(
            RejectResult.REJECTED_PERMANENT,
            RejectSource.SERVICE_USER,
            RejectReasonUser.NO_REASON_GIVEN,
        )
    if config.require_implementation_class_uid and not (
        rq.user_information is not None and rq.user_information.implementation_class_uid
    ):
        return _reject(
            RejectResult.REJECTED_PERMANENT,
            RejectSource.SERVICE_USER,
            RejectReasonUser.NO_REASON_GIVEN,
        )
    called = config.called_ae_titles or (config.ae_title,)
    if config.require_called_aet and rq.called_aet not in {t.strip() for t in called}:
        return _reject(
            RejectResult.REJECTED_PERMANENT,
            RejectSource.SERVICE_USER,
            RejectReasonUser.CALLED_AE_TITLE_NOT_RECOGNIZED,
        )
    if config.require_calling_aet and rq.calling_aet not in {
        t.strip() for t in config.require_calling_aet
    }:
        return _reject(
            RejectResult.REJECTED_PERMANENT,
            RejectSource.SERVICE_USER,
            RejectReasonUser.CALLING_AE_TITLE_NOT_RECOGNIZED,
        )
    peers = config.permitted_peers.get(rq.called_aet)
    if peers is not None and not _permitted(peers, rq.calling_aet, peer_address):
        return _reject(
            RejectResult.REJECTED_PERMANENT,
            RejectSource.SERVICE_USER,
            RejectReasonUser.CALLED_AE_TITLE_NOT_RECOGNIZED,
        )
    peer_max = rq.user_information.maximum_length if rq.user_information else None
    if 0 < (peer_max or 0) < MIN_PEER_MAX_PDU_LENGTH:
        return _reject(
            RejectResult.REJECTED_PERMANENT,
            RejectSource.SERVICE_USER,
            RejectReasonUser.NO_REASON_GIVEN,
        )
    if active_associations >= config.maximum_associations:
        return _reject(
            RejectResult.REJECTED_TRANSIENT,
            RejectSource.SERVICE_PROVIDER_PRESENTATION,
            RejectReasonPresentation.LOCAL_LIMIT_EXCEEDED,
        )
    info = rq.user_information or UserInformationItem(sub_items=())
    identity_item = info.user_identity
    if user_identity_result is not None and not user_identity_result[0]:
        # PS3.7 D.3.3.7.3: rejected-permanent, source "DICOM UL service-provider
        # (ACSE related function)"; no reason is given, so no-reason-given.
        return _reject(
            RejectResult.REJECTED_PERMANENT,
            RejectSource.SERVICE_PROVIDER_ACSE,
            RejectReasonACSE.NO_REASON_GIVEN,
        )
    proposed_roles = {r.sop_class: r for r in info.role_selections}
    ac_contexts: list[PresentationContextACItem] = []
    accepted: dict[int, AcceptedContext] = {}
    rejected: dict[int, int] = {}
    role_replies: dict[str, RoleSelectionSubItem] = {}
    seen_ids: set[int] = set()
    for pc in rq.presentation_contexts:
        result, transfer, roles = _decide_context(pc, config, proposed_roles, seen_ids)
        seen_ids.add(pc.context_id)
        ac_contexts.append(
            PresentationContextACItem(
                context_id=pc.context_id,
                result=result,
                transfer_syntax=TransferSyntaxItem(name=uid(transfer) if transfer else b""),
            )
        )
        if result != ContextResult.ACCEPTANCE:
            rejected[pc.context_id] = result
            continue
        assert transfer is not None
        accepted[pc.context_id] = AcceptedContext(
            context_id=pc.context_id,
            abstract_syntax=pc.abstract_syntax_uid,
            transfer_syntax=transfer,
            requestor_is_scu=roles[0],
            requestor_is_scp=roles[1],
        )
        proposal = proposed_roles.get(pc.abstract_syntax_uid)
        if proposal is not None:
            role_replies[pc.abstract_syntax_uid] = RoleSelectionSubItem(
                sop_class_uid=proposal.sop_class_uid,
                scu_role=int(roles[0]),
                scp_role=int(roles[1]),
            )
    extra: list[SubItem] = []
    requestor_invoked = acceptor_invoked = 1
    answers = answers or NegotiationAnswers()
    window = info.asynchronous_operations_window
    if window is not None and answers.asynchronous_operations is not None:
        # The application's answer goes out as it is; what holds is never
        # more than was offered (PS3.7 D.3.3.3, as interpret_ac reads it).
        answer_invoked, answer_performed = answers.asynchronous_operations
        requestor_invoked = _window_min(window.max_operations_invoked, answer_invoked)
        acceptor_invoked = _window_min(window.max_operations_performed, answer_performed)
        extra.append(
            AsynchronousOperationsWindowSubItem(
                max_operations_invoked=answer_invoked, max_operations_performed=answer_performed
            )
        )
    elif window is not None and config.asynchronous_operations is not None:
        # PS3.7 D.3.3.3: the AC grants the requestor a number of operations to
        # invoke and to perform, each no more than it offered (0: unlimited).
        # What the requestor performs, this side invokes, and vice versa.
        our_invoked, our_performed = config.asynchronous_operations
        requestor_invoked = _window_min(window.max_operations_invoked, our_performed)
        acceptor_invoked = _window_min(window.max_operations_performed, our_invoked)
        extra.append(
            AsynchronousOperationsWindowSubItem(
                max_operations_invoked=requestor_invoked, max_operations_performed=acceptor_invoked
            )
        )
    extra += list(role_replies.values())
    ext_replies: dict[str, bytes] = {}
    if answers.extended_negotiation is not None:
        # PS3.7 D.3.3.5: one reply per SOP class the request negotiated.
        for item in info.extended_negotiations:
            answer = answers.extended_negotiation.get(item.sop_class)
            if answer is not None and item.sop_class not in ext_replies:
                ext_replies[item.sop_class] = answer
                extra.append(
                    SOPClassExtendedNegotiationSubItem(
                        sop_class_uid=item.sop_class_uid,
                        service_class_application_information=answer,
                    )
                )
    elif config.extended_negotiation is not None:
        for item in info.extended_negotiations:
            reply = config.extended_negotiation(
                item.sop_class, item.service_class_application_information
            )
            if reply is not None:
                ext_replies[item.sop_class] = reply
                extra.append(
                    SOPClassExtendedNegotiationSubItem(
                        sop_class_uid=item.sop_class_uid,
                        service_class_application_information=reply,
                    )
                )
    common: dict[str, SOPClassCommonExtendedNegotiation] = {}
    if answers.common_extended_negotiation is not None:
        for common_item in info.common_extended_negotiations:
            if common_item.sop_class in answers.common_extended_negotiation:
                common[common_item.sop_class] = SOPClassCommonExtendedNegotiation(
                    common_item.sop_class,
                    common_item.service_class,
                    common_item.related_general_sop_classes,
                )
    identity = None
    response = None
    if isinstance(identity_item, UserIdentityRQSubItem) and user_identity_result is not None:
        identity = identity_item
        response = user_identity_result[1]
        if identity_item.identity_type in (
            UserIdentityType.USERNAME,
            UserIdentityType.USERNAME_AND_PASSCODE,
        ):
            response = b""  # PS3.7 Table D.3-15: zero length for types 1 and 2
        if identity_item.positive_response_requested:
            # PS3.7 D.3.3.7: a requested positive response is always answered.
            extra.append(UserIdentityACSubItem(server_response=response or b""))
    ac = AssociateAC(
        called_ae_title=rq.called_ae_title,
        calling_ae_title=rq.calling_ae_title,
        reserved_43_74=rq.reserved_43_74,
        application_context=rq.application_context,
        presentation_contexts=tuple(ac_contexts),
        user_information=_user_information(
            config.max_pdu_length,
            config.implementation_class_uid,
            config.implementation_version_name,
            extra,
        ),
    )
    negotiated = Negotiated(
        calling_ae_title=rq.calling_aet,
        called_ae_title=rq.called_aet,
        contexts=MappingProxyType(accepted),
        rejected=MappingProxyType(rejected),
        requestor_max_pdu_length=info.maximum_length or 0,
        acceptor_max_pdu_length=config.max_pdu_length,
        requestor_implementation=(
            info.implementation_class_uid or "",
            info.implementation_version_name,
        ),
        acceptor_implementation=(
            config.implementation_class_uid,
            config.implementation_version_name,
        ),
        requestor_max_invoked=requestor_invoked,
        acceptor_max_invoked=acceptor_invoked,
        extended_negotiation=MappingProxyType(ext_replies),
        user_identity=identity,
        user_identity_response=response,
        common_extended_negotiation=MappingProxyType(common),
    )
    return ac, negotiated


def _window_min(offered: int, supported: int) -> int:
    """The window to grant: at most what was offered, 0 meaning unlimited."""
    if offered == 0:
        return supported
    if supported == 0:
        return offered
    return min(offered, supported)


def _decide_context(
    pc: PresentationContextRQItem,
    config: AcceptorConfig,
    proposed_roles: Mapping[str, RoleSelectionSubItem],
    seen_ids: set[int],
) -> tuple[int, str | None, tuple[bool, bool]]:
    """Result, chosen transfer syntax and requestor roles for one context (PS3.8 9.3.3.2)."""
    if pc.context_id % 2 == 0 or pc.context_id in seen_ids:
        return ContextResult.NO_REASON, None, (False, False)
    supported = config.supported.get(pc.abstract_syntax_uid, config.unknown_abstract_syntax)
    if supported is None:
        return ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED, None, (False, False)
    offered = set(pc.transfer_syntax_uids)
    transfer = next((ts for ts in supported.transfer_syntaxes if ts in offered), None)
    if transfer is None:
        return ContextResult.TRANSFER_SYNTAXES_NOT_SUPPORTED, None, (False, False)
    proposal = proposed_roles.get(pc.abstract_syntax_uid)
    if proposal is None:
        roles = (True, False)  # PS3.7 D.3.3.4: by default the requestor is SCU
        if not supported.scu_role:
            return ContextResult.USER_REJECTION, None, (False, False)
    else:
        roles = (
            bool(proposal.scu_role) and supported.scu_role,
            bool(proposal.scp_role) and supported.scp_role,
        )
        if not any(roles):
            return ContextResult.USER_REJECTION, None, (False, False)
    return ContextResult.ACCEPTANCE, transfer, roles


def interpret_ac(rq: AssociateRQ, ac: AssociateAC) -> Negotiated:
    """The requestor's view of an accepted association (PS3.8 9.3.3, PS3.7 D.3.3).

    Raises
    ------
    RemoteProtocolError
        If the AC answers a context that was not proposed, or accepts one with
        a transfer syntax that was not proposed for it.
    """
    proposed = {pc.context_id: pc for pc in rq.presentation_contexts}
    rq_info = rq.user_information or UserInformationItem(sub_items=())
    ac_info = ac.user_information or UserInformationItem(sub_items=())
    if 0 < (ac_info.maximum_length or 0) < MIN_PEER_MAX_PDU_LENGTH:
        raise RemoteProtocolError(
            f"the acceptor's maximum PDU length {ac_info.maximum_length} is below "
            f"{MIN_PEER_MAX_PDU_LENGTH}: too small to carry DIMSE messages",
            abort_reason=AbortReason.INVALID_PDU_PARAMETER_VALUE,
        )
    role_replies = {r.sop_class: r for r in ac_info.role_selections}
    proposed_roles = {r.sop_class: r for r in rq_info.role_selections}
    accepted: dict[int, AcceptedContext] = {}
    rejected: dict[int, int] = {}
    for pc in ac.presentation_contexts:
        offer = proposed.get(pc.context_id)
        if offer is None:
            raise RemoteProtocolError(
                f"A-ASSOCIATE-AC answers context {pc.context_id}, never proposed"
            )
        if pc.result != ContextResult.ACCEPTANCE:
            rejected[pc.context_id] = pc.result
            continue
        transfer = pc.transfer_syntax_uid
        if transfer not in offer.transfer_syntax_uids:
            raise RemoteProtocolError(
                f"context {pc.context_id} accepted with transfer syntax {transfer!r}, "
                "not proposed",
                abort_reason=AbortReason.INVALID_PDU_PARAMETER_VALUE,
            )
        sop_class = offer.abstract_syntax_uid
        reply = role_replies.get(sop_class)
        proposal = proposed_roles.get(sop_class)
        if reply is None or proposal is None:
            roles = (True, False)
        else:  # the acceptor may only turn a proposed role down (PS3.7 D.3.3.4)
            roles = (
                bool(reply.scu_role and proposal.scu_role),
                bool(reply.scp_role and proposal.scp_role),
            )
        assert transfer is not None
        accepted[pc.context_id] = AcceptedContext(
            context_id=pc.context_id,
            abstract_syntax=sop_class,
            transfer_syntax=transfer,
            requestor_is_scu=roles[0],
            requestor_is_scp=roles[1],
        )
    # PS3.8 9.3.3.2: one answer per proposed context; one left out is unusable.
    for context_id in proposed.keys() - accepted.keys() - rejected.keys():
        rejected[context_id] = ContextResult.NO_REASON
    requestor_invoked = acceptor_invoked = 1
    rq_window, ac_window = (
        rq_info.asynchronous_operations_window,
        ac_info.asynchronous_operations_window,
    )
    if rq_window is not None and ac_window is not None:  # PS3.7 D.3.3.3
        # The AC may only lower what was offered; never trust it to raise it.
        requestor_invoked = _window_min(
            rq_window.max_operations_invoked, ac_window.max_operations_invoked
        )
        acceptor_invoked = _window_min(
            rq_window.max_operations_performed, ac_window.max_operations_performed
        )
    identity_item = rq_info.user_identity
    response_item = ac_info.user_identity
    return Negotiated(
        calling_ae_title=rq.calling_aet,
        called_ae_title=rq.called_aet,
        contexts=MappingProxyType(accepted),
        rejected=MappingProxyType(rejected),
        requestor_max_pdu_length=rq_info.maximum_length or 0,
        acceptor_max_pdu_length=ac_info.maximum_length or 0,
        requestor_implementation=(
            rq_info.implementation_class_uid or "",
            rq_info.implementation_version_name,
        ),
        acceptor_implementation=(
            ac_info.implementation_class_uid or "",
            ac_info.implementation_version_name,
        ),
        requestor_max_invoked=requestor_invoked,
        acceptor_max_invoked=acceptor_invoked,
        extended_negotiation=MappingProxyType(
            {
                e.sop_class: e.service_class_application_information
                for e in ac_info.extended_negotiations
            }
        ),
        user_identity=identity_item if isinstance(identity_item, UserIdentityRQSubItem) else None,
        user_identity_response=(
            response_item.server_response
            if isinstance(response_item, UserIdentityACSubItem)
            else None
        ),
    )
