"""Extended negotiation items as a pynetdicom program builds them.

A pynetdicom 2/3 program makes an item, sets its attributes one by one,
and lists it in ``associate(ext_neg=[...])``.  The classes here take the
same names and attributes, so such a program changes only its import
(``from dicomul_sync.pdu_primitives import ...``).  They are mutable
holders and nothing more: :meth:`to_record` checks the attributes and
gives the core's frozen record (PS3.7 D.3.3), which is what goes into the
A-ASSOCIATE-RQ:

- :class:`SCP_SCU_RoleSelectionNegotiation`: :class:`dicomul.RoleProposal`
  (D.3.3.4);
- :class:`UserIdentityNegotiation`: :class:`dicomul.UserIdentity` (D.3.3.7);
- :class:`AsynchronousOperationsWindowNegotiation`:
  :class:`dicomul.AsynchronousOperationsWindowNegotiation` (D.3.3.3);
- :class:`SOPClassExtendedNegotiation`:
  :class:`dicomul.SOPClassExtendedNegotiation` (D.3.3.5);
- :class:`SOPClassCommonExtendedNegotiation`:
  :class:`dicomul.SOPClassCommonExtendedNegotiation` (D.3.3.6).

:func:`negotiation_items` converts an ``ext_neg`` list (these classes and
the core's records alike); ``associate()`` calls it, so a mistake raises
TypeError or ValueError naming the item and attribute before anything is
sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import dicomul
from dicomul import UserIdentityType

__all__ = [
    "AsynchronousOperationsWindowNegotiation",
    "SCP_SCU_RoleSelectionNegotiation",
    "SOPClassCommonExtendedNegotiation",
    "SOPClassExtendedNegotiation",
    "UserIdentityNegotiation",
    "negotiation_items",
]

#: The core's records an ``ext_neg`` list may hold as they are.
CORE_RECORDS = (
    dicomul.AsynchronousOperationsWindowNegotiation,
    dicomul.RoleProposal,
    dicomul.SOPClassExtendedNegotiation,
    dicomul.SOPClassCommonExtendedNegotiation,
    dicomul.UserIdentity,
)

#: A UID: numeric components separated by periods, 64 characters at most
#: (PS3.5 9.1).
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
_MAX_UID_LENGTH = 64
#: The largest user identity field (its length is two bytes, PS3.7 Table D.3-14).
_MAX_FIELD_LENGTH = 0xFFFF


def _uid(item: object, name: str, value: object) -> str:
    """``value`` of ``item``'s attribute ``name`` as a UID, or a clear error."""
    label = f"{type(item).__name__}.{name}"
    if value is None:
        raise ValueError(f"{label} is not set")
    if not isinstance(value, str):
        raise TypeError(f"{label} is a UID string, not {type(value).__name__}")
    uid = value.strip("\0 ")
    if len(uid) > _MAX_UID_LENGTH or not _UID.fullmatch(uid):
        raise ValueError(f"{label} {value!r} is not a UID (PS3.5 9.1)")
    return uid


def _bool(item: object, name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{type(item).__name__}.{name} is True or False, not {value!r}")
    return value


def _bytes(item: object, name: str, value: object) -> bytes:
    """Bytes (a str is taken as UTF-8), or a clear error."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(f"{type(item).__name__}.{name} is bytes, not {type(value).__name__}")
    return bytes(value)


class SCP_SCU_RoleSelectionNegotiation:  # noqa: N801 - pynetdicom's name, so only the import changes
    """SCP/SCU role selection for one SOP class (PS3.7 D.3.3.4).

    ``sop_class_uid``; ``scu_role`` and ``scp_role``: whether the requestor
    proposes to act as SCU, and as SCP, for it (None counts as False; at
    least one must be set).  A C-GET SCU proposes ``scp_role = True`` for
    the storage classes it receives.
    """

    def __init__(self) -> None:
        self.sop_class_uid: str | None = None
        self.scu_role: bool | None = None
        self.scp_role: bool | None = None

    def to_record(self) -> dicomul.RoleProposal:
        """The core's :class:`dicomul.RoleProposal`."""
        sop_class = _uid(self, "sop_class_uid", self.sop_class_uid)
        if self.scu_role is None and self.scp_role is None:
            raise ValueError(
                f"SCP_SCU_RoleSelectionNegotiation for {sop_class}: "
                "neither scu_role nor scp_role is set"
            )
        return dicomul.RoleProposal(
            sop_class=sop_class,
            scu=self.scu_role is not None and _bool(self, "scu_role", self.scu_role),
            scp=self.scp_role is not None and _bool(self, "scp_role", self.scp_role),
        )

    def __repr__(self) -> str:
        return (
            f"SCP_SCU_RoleSelectionNegotiation(sop_class_uid={self.sop_class_uid!r}, "
            f"scu_role={self.scu_role!r}, scp_role={self.scp_role!r})"
        )


class UserIdentityNegotiation:
    """The user identity a requestor asserts (PS3.7 D.3.3.7).

    ``user_identity_type``: 1 username, 2 username and passcode, 3 Kerberos
    service ticket, 4 SAML assertion, 5 JSON Web Token; ``primary_field``
    (bytes: the username, ticket, assertion or token); ``secondary_field``
    (bytes: the passcode, for type 2 only); ``positive_response_requested``
    (whether the acceptor is asked to answer with a server response).
    """

    def __init__(self) -> None:
        self.user_identity_type: int | None = None
        self.primary_field: bytes | None = None
        self.secondary_field: bytes | None = None
        self.positive_response_requested: bool = False

    def to_record(self) -> dicomul.UserIdentity:
        """The core's :class:`dicomul.UserIdentity`."""
        kind = self.user_identity_type
        if kind is None:
            raise ValueError("UserIdentityNegotiation.user_identity_type is not set")
        try:
            identity_type = UserIdentityType(kind)
        except ValueError:
            raise ValueError(
                f"UserIdentityNegotiation.user_identity_type is 1 to 5, not {kind!r} "
                "(PS3.7 Table D.3-14)"
            ) from None
        if self.primary_field is None:
            raise ValueError("UserIdentityNegotiation.primary_field is not set")
        primary = _bytes(self, "primary_field", self.primary_field)
        secondary = (
            b""
            if self.secondary_field is None
            else _bytes(self, "secondary_field", self.secondary_field)
        )
        if not primary:
            raise ValueError("UserIdentityNegotiation.primary_field is empty (PS3.7 D.3.3.7.1)")
        if identity_type is UserIdentityType.USERNAME_AND_PASSCODE and not secondary:
            raise ValueError(
                "UserIdentityNegotiation: type 2 (username and passcode) needs secondary_field"
            )
        if identity_type is not UserIdentityType.USERNAME_AND_PASSCODE and secondary:
            raise ValueError(
                f"UserIdentityNegotiation: secondary_field is for type 2 only, not {kind}"
            )
        for name, value in (("primary_field", primary), ("secondary_field", secondary)):
            if len(value) > _MAX_FIELD_LENGTH:
                raise ValueError(
                    f"UserIdentityNegotiation.{name} is longer than 65535 bytes "
                    "(PS3.7 Table D.3-14)"
                )
        return dicomul.UserIdentity(
            identity_type=identity_type,
            primary_field=primary,
            secondary_field=secondary,
            positive_response_requested=_bool(
                self, "positive_response_requested", self.positive_response_requested
            ),
        )

    def __repr__(self) -> str:
        secret = None if self.secondary_field is None else "***"
        return (
            f"UserIdentityNegotiation(user_identity_type={self.user_identity_type!r}, "
            f"primary_field={self.primary_field!r}, secondary_field={secret}, "
            f"positive_response_requested={self.positive_response_requested!r})"
        )


class AsynchronousOperationsWindowNegotiation:
    """The asynchronous operations window the requestor proposes (PS3.7
    D.3.3.3): ``maximum_number_operations_invoked`` and
    ``maximum_number_operations_performed``, 0 (no limit) to 65535; (1, 1),
    the default, is synchronous operation."""

    def __init__(self) -> None:
        self.maximum_number_operations_invoked: int = 1
        self.maximum_number_operations_performed: int = 1

    def to_record(self) -> dicomul.AsynchronousOperationsWindowNegotiation:
        """The core's record (which checks the range)."""
        try:
            return dicomul.AsynchronousOperationsWindowNegotiation(
                self.maximum_number_operations_invoked,
                self.maximum_number_operations_performed,
            )
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"AsynchronousOperationsWindowNegotiation: {exc}") from None

    def __repr__(self) -> str:
        return (
            "AsynchronousOperationsWindowNegotiation("
            f"maximum_number_operations_invoked={self.maximum_number_operations_invoked!r}, "
            f"maximum_number_operations_performed={self.maximum_number_operations_performed!r})"
        )


class SOPClassExtendedNegotiation:
    """SOP class extended negotiation (PS3.7 D.3.3.5): ``sop_class_uid`` and
    its ``service_class_application_information`` (bytes, whose meaning the
    service class gives: PS3.4 C.3.5 for query/retrieve, say)."""

    def __init__(self) -> None:
        self.sop_class_uid: str | None = None
        self.service_class_application_information: bytes | None = None

    def to_record(self) -> dicomul.SOPClassExtendedNegotiation:
        """The core's record."""
        sop_class = _uid(self, "sop_class_uid", self.sop_class_uid)
        information = self.service_class_application_information
        if information is None:
            raise ValueError(
                f"SOPClassExtendedNegotiation for {sop_class}: "
                "service_class_application_information is not set"
            )
        if isinstance(information, str) or not isinstance(
            information, bytes | bytearray | memoryview
        ):
            raise TypeError(
                "SOPClassExtendedNegotiation.service_class_application_information is bytes, "
                f"not {type(information).__name__}"
            )
        return dicomul.SOPClassExtendedNegotiation(sop_class, bytes(information))

    def __repr__(self) -> str:
        return (
            f"SOPClassExtendedNegotiation(sop_class_uid={self.sop_class_uid!r}, "
            "service_class_application_information="
            f"{self.service_class_application_information!r})"
        )


class SOPClassCommonExtendedNegotiation:
    """SOP class common extended negotiation (PS3.7 D.3.3.6):
    ``sop_class_uid``, the ``service_class_uid`` it belongs to, and
    ``related_general_sop_class_identification``, a list of the general SOP
    class UIDs it specialises (may be empty)."""

    def __init__(self) -> None:
        self.sop_class_uid: str | None = None
        self.service_class_uid: str | None = None
        self.related_general_sop_class_identification: list[str] = []

    def to_record(self) -> dicomul.SOPClassCommonExtendedNegotiation:
        """The core's record."""
        sop_class = _uid(self, "sop_class_uid", self.sop_class_uid)
        service_class = _uid(self, "service_class_uid", self.service_class_uid)
        related = self.related_general_sop_class_identification
        if related is None:
            related = []
        if isinstance(related, str) or not isinstance(related, Iterable):
            raise TypeError(
                "SOPClassCommonExtendedNegotiation.related_general_sop_class_identification "
                f"is a list of UIDs, not {related!r}"
            )
        return dicomul.SOPClassCommonExtendedNegotiation(
            sop_class,
            service_class,
            tuple(_uid(self, "related_general_sop_class_identification", uid) for uid in related),
        )

    def __repr__(self) -> str:
        return (
            f"SOPClassCommonExtendedNegotiation(sop_class_uid={self.sop_class_uid!r}, "
            f"service_class_uid={self.service_class_uid!r}, "
            "related_general_sop_class_identification="
            f"{self.related_general_sop_class_identification!r})"
        )


#: The classes here, each converted by its ``to_record()``.
PRIMITIVES = (
    SCP_SCU_RoleSelectionNegotiation,
    UserIdentityNegotiation,
    AsynchronousOperationsWindowNegotiation,
    SOPClassExtendedNegotiation,
    SOPClassCommonExtendedNegotiation,
)


def negotiation_items(items: Iterable[object]) -> tuple[object, ...]:
    """An ``ext_neg`` list as the core's records: this module's items
    converted (and checked), the core's kept as they are.

    Raises
    ------
    TypeError
        For an item of any other type (naming the types taken), or an
        attribute of the wrong type.
    ValueError
        For an attribute not set or out of range, naming it.
    """
    if isinstance(items, str | bytes) or not isinstance(items, Iterable):
        raise TypeError(f"ext_neg must be a list of negotiation items, not {items!r}")
    converted: list[object] = []
    for item in items:
        if isinstance(item, PRIMITIVES):
            converted.append(item.to_record())
        elif isinstance(item, CORE_RECORDS):
            converted.append(item)
        else:
            names = ", ".join(kind.__name__ for kind in PRIMITIVES)
            raise TypeError(
                f"{item!r} is not an extended negotiation item "
                f"(dicomul_sync.pdu_primitives' {names}, or dicomul's records)"
            )
    return tuple(converted)
