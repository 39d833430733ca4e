"""Coded fields of the DICOM Upper Layer protocol as ``IntEnum`` types.

Every one-byte code of PS3.8 section 9.3 and PS3.7 Annex D has a name here, so
no module of dicomul compares against bare hex.  Decoded PDUs hold the enum
member when the value is one the standard defines and the plain ``int``
otherwise, so reserved values received from a peer survive a round trip
(``IntEnum`` members compare equal to their integer values either way).
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

__all__ = [
    "AbortReason",
    "AbortSource",
    "ContextResult",
    "ItemType",
    "MessageControlHeader",
    "PDUType",
    "REJECT_REASONS",
    "RejectReasonACSE",
    "RejectReasonPresentation",
    "RejectReasonUser",
    "RejectResult",
    "RejectSource",
    "RoleValue",
    "UserIdentityType",
    "reject_reason_name",
]


class PDUType(IntEnum):
    """PDU-type byte, PS3.8 section 9.3.1 (Tables 9-11 to 9-26)."""

    A_ASSOCIATE_RQ = 0x01
    A_ASSOCIATE_AC = 0x02
    A_ASSOCIATE_RJ = 0x03
    P_DATA_TF = 0x04
    A_RELEASE_RQ = 0x05
    A_RELEASE_RP = 0x06
    A_ABORT = 0x07


class ItemType(IntEnum):
    """Item-type byte of variable items and sub-items.

    PS3.8 sections 9.3.2 to 9.3.3 and Annex D; PS3.7 Annex D.3.3.
    """

    APPLICATION_CONTEXT = 0x10
    PRESENTATION_CONTEXT_RQ = 0x20
    PRESENTATION_CONTEXT_AC = 0x21
    ABSTRACT_SYNTAX = 0x30
    TRANSFER_SYNTAX = 0x40
    USER_INFORMATION = 0x50
    MAXIMUM_LENGTH = 0x51
    IMPLEMENTATION_CLASS_UID = 0x52
    ASYNCHRONOUS_OPERATIONS_WINDOW = 0x53
    ROLE_SELECTION = 0x54
    IMPLEMENTATION_VERSION_NAME = 0x55
    SOP_CLASS_EXTENDED_NEGOTIATION = 0x56
    SOP_CLASS_COMMON_EXTENDED_NEGOTIATION = 0x57
    USER_IDENTITY_RQ = 0x58
    USER_IDENTITY_AC = 0x59


class RejectResult(IntEnum):
    """A-ASSOCIATE-RJ Result field, PS3.8 Table 9-21 byte 8."""

    REJECTED_PERMANENT = 1
    REJECTED_TRANSIENT = 2


class RejectSource(IntEnum):
    """A-ASSOCIATE-RJ Source field, PS3.8 Table 9-21 byte 9."""

    SERVICE_USER = 1
    SERVICE_PROVIDER_ACSE = 2
    SERVICE_PROVIDER_PRESENTATION = 3


class RejectReasonUser(IntEnum):
    """A-ASSOCIATE-RJ reasons when the source is the service user (PS3.8 Table 9-21)."""

    NO_REASON_GIVEN = 1
    APPLICATION_CONTEXT_NAME_NOT_SUPPORTED = 2
    CALLING_AE_TITLE_NOT_RECOGNIZED = 3
    CALLED_AE_TITLE_NOT_RECOGNIZED = 7


class RejectReasonACSE(IntEnum):
    """A-ASSOCIATE-RJ reasons when the source is the ACSE service provider."""

    NO_REASON_GIVEN = 1
    PROTOCOL_VERSION_NOT_SUPPORTED = 2


class RejectReasonPresentation(IntEnum):
    """A-ASSOCIATE-RJ reasons when the source is the presentation service provider."""

    TEMPORARY_CONGESTION = 1
    LOCAL_LIMIT_EXCEEDED = 2


#: The enum that names the Reason/Diag. codes of each A-ASSOCIATE-RJ source.
#: PS3.8 Table 9-21 gives the reason a meaning only together with its source.
REJECT_REASONS: dict[int, type[IntEnum]] = {
    RejectSource.SERVICE_USER: RejectReasonUser,
    RejectSource.SERVICE_PROVIDER_ACSE: RejectReasonACSE,
    RejectSource.SERVICE_PROVIDER_PRESENTATION: RejectReasonPresentation,
}


def reject_reason_name(source: int, reason: int) -> str:
    """Return the PS3.8 Table 9-21 name of an A-ASSOCIATE-RJ reason.

    Parameters
    ----------
    source, reason : int
        The Source and Reason/Diag. fields of the A-ASSOCIATE-RJ PDU.

    Examples
    --------
    >>> reject_reason_name(3, 2)
    'local-limit-exceeded'
    """
    enum = REJECT_REASONS.get(source)
    if enum is None or reason not in enum._value2member_map_:
        return f"reserved ({source}/{reason})"
    return enum(reason).name.lower().replace("_", "-").replace("-ae-", "-AE-")


class AbortSource(IntEnum):
    """A-ABORT Source field, PS3.8 Table 9-26 byte 9."""

    SERVICE_USER = 0
    RESERVED = 1
    SERVICE_PROVIDER = 2


class AbortReason(IntEnum):
    """A-ABORT Reason/Diag. field, PS3.8 Table 9-26 byte 10.

    Significant only when the source is the service provider.
    """

    NOT_SPECIFIED = 0
    UNRECOGNIZED_PDU = 1
    UNEXPECTED_PDU = 2
    RESERVED = 3
    UNRECOGNIZED_PDU_PARAMETER = 4
    UNEXPECTED_PDU_PARAMETER = 5
    INVALID_PDU_PARAMETER_VALUE = 6


class ContextResult(IntEnum):
    """Presentation context Result/Reason, PS3.8 Table 9-18 byte 7."""

    ACCEPTANCE = 0
    USER_REJECTION = 1
    NO_REASON = 2
    ABSTRACT_SYNTAX_NOT_SUPPORTED = 3
    TRANSFER_SYNTAXES_NOT_SUPPORTED = 4


class RoleValue(IntEnum):
    """SCU-role and SCP-role fields of the role selection sub-item, PS3.7 D.3.3.4."""

    NON_SUPPORT = 0
    SUPPORT = 1


class UserIdentityType(IntEnum):
    """User-Identity-Type of the user identity sub-item, PS3.7 Table D.3-14."""

    USERNAME = 1
    USERNAME_AND_PASSCODE = 2
    KERBEROS = 3
    SAML = 4
    JWT = 5


class MessageControlHeader(IntFlag):
    """Bits of a PDV's Message Control Header, PS3.8 Annex E.2.

    Bit 0 set means the fragment holds command information (clear: data set);
    bit 1 set means it is the last fragment of that command or data set.
    """

    DATASET = 0x00
    COMMAND = 0x01
    LAST = 0x02
