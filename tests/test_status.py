"""DIMSE statuses (dicomul._status): PS3.7 Annex C categories, PS3.4 meanings."""

from __future__ import annotations

from enum import IntEnum

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dicomul._status import (
    _GENERAL,
    _SERVICE,
    GeneralStatus,
    QueryRetrieveStatus,
    Status,
    StatusCategory,
    StoreStatus,
    status_category,
    status_meaning,
)


@pytest.mark.parametrize(
    ("code", "category"),
    [
        (0x0000, "Success"),
        (0x0001, "Warning"),
        (0x0107, "Warning"),
        (0x0116, "Warning"),
        (0xB000, "Warning"),
        (0xB007, "Warning"),
        (0xFE00, "Cancel"),
        (0xFF00, "Pending"),
        (0xFF01, "Pending"),
        (0xA700, "Failure"),
        (0xA801, "Failure"),
        (0xC123, "Failure"),
        (0x0110, "Failure"),
        (0x0122, "Failure"),
        (0x0211, "Failure"),
    ],
)
def test_categories(code: int, category: str) -> None:
    assert status_category(code).value == category
    assert Status(code) == category
    assert Status(code) == code
    assert all(Status(code) != other.value for other in StatusCategory if other.value != category)


@pytest.mark.parametrize(
    ("code", "service", "text"),
    [
        (0xA7FE, "store", "out of resources"),
        (0xA900, "store", "does not match SOP Class"),
        (0xC001, "store", "cannot understand"),
        (0xA801, "move", "move destination unknown"),
        (0xC001, "find", "Unable to process"),
        (0x0122, None, "SOP Class not supported"),
        (0xFF01, "find", "optional keys not supported"),
        (0xA123, None, "Failure (0xA123)"),
    ],
)
def test_meanings(code: int, service: str | None, text: str) -> None:
    assert text in status_meaning(code, service)
    assert text in Status(code).meaning(service)


def test_status_is_an_int_and_hashable() -> None:
    assert {Status(0): "ok"}[0] == "ok"
    assert Status(0xFF00) + 1 == 0xFF01
    assert repr(Status(0xFF00)) == "Status(0xFF00 Pending)"
    with pytest.raises(ValueError, match="16-bit"):
        Status(0x10000)


@given(st.integers(0, 0xFFFF))
def test_every_code_has_exactly_one_category(code: int) -> None:
    matches = [c for c in StatusCategory if Status(code) == c.value]
    assert matches == [status_category(code)]


# ------------------------------------------------------------ the enums


@pytest.mark.parametrize(
    ("member", "code", "category", "meaning"),
    [  # PS3.7 Annex C: C.1 Success, C.2 Pending, C.3 Cancel, C.4 Warning, C.5 Failure
        (GeneralStatus.SUCCESS, 0x0000, "Success", "Success"),
        (GeneralStatus.OPTIONAL_ATTRIBUTES_NOT_SUPPORTED, 0x0001, "Warning", "optional"),
        (GeneralStatus.NO_SUCH_ATTRIBUTE, 0x0105, "Failure", "No such attribute"),
        (GeneralStatus.INVALID_ATTRIBUTE_VALUE, 0x0106, "Failure", "Invalid attribute value"),
        (GeneralStatus.ATTRIBUTE_LIST_ERROR, 0x0107, "Warning", "Attribute list error"),
        (GeneralStatus.PROCESSING_FAILURE, 0x0110, "Failure", "Processing failure"),
        (GeneralStatus.DUPLICATE_SOP_INSTANCE, 0x0111, "Failure", "Duplicate SOP Instance"),
        (GeneralStatus.NO_SUCH_SOP_INSTANCE, 0x0112, "Failure", "No such SOP Instance"),
        (GeneralStatus.NO_SUCH_EVENT_TYPE, 0x0113, "Failure", "No such event type"),
        (GeneralStatus.NO_SUCH_ARGUMENT, 0x0114, "Failure", "No such argument"),
        (GeneralStatus.INVALID_ARGUMENT_VALUE, 0x0115, "Failure", "Invalid argument value"),
        (GeneralStatus.ATTRIBUTE_VALUE_OUT_OF_RANGE, 0x0116, "Warning", "out of range"),
        (GeneralStatus.INVALID_OBJECT_INSTANCE, 0x0117, "Failure", "Invalid object instance"),
        (GeneralStatus.NO_SUCH_SOP_CLASS, 0x0118, "Failure", "No such SOP Class"),
        (GeneralStatus.CLASS_INSTANCE_CONFLICT, 0x0119, "Failure", "Class-instance conflict"),
        (GeneralStatus.MISSING_ATTRIBUTE, 0x0120, "Failure", "Missing attribute"),
        (GeneralStatus.MISSING_ATTRIBUTE_VALUE, 0x0121, "Failure", "Missing attribute value"),
        (GeneralStatus.SOP_CLASS_NOT_SUPPORTED, 0x0122, "Failure", "SOP Class not supported"),
        (GeneralStatus.NO_SUCH_ACTION, 0x0123, "Failure", "No such action"),
        (GeneralStatus.NOT_AUTHORIZED, 0x0124, "Failure", "not authorized"),
        (GeneralStatus.DUPLICATE_INVOCATION, 0x0210, "Failure", "Duplicate invocation"),
        (GeneralStatus.UNRECOGNIZED_OPERATION, 0x0211, "Failure", "Unrecognized operation"),
        (GeneralStatus.MISTYPED_ARGUMENT, 0x0212, "Failure", "Mistyped argument"),
        (GeneralStatus.RESOURCE_LIMITATION, 0x0213, "Failure", "Resource limitation"),
        (GeneralStatus.CANCEL, 0xFE00, "Cancel", "Cancel"),
        (GeneralStatus.PENDING, 0xFF00, "Pending", "matches are continuing"),
        (GeneralStatus.PENDING_WARNING, 0xFF01, "Pending", "optional keys not supported"),
    ],
)
def test_each_general_status(
    member: GeneralStatus, code: int, category: str, meaning: str
) -> None:
    assert member == code
    assert Status(member) == category
    assert meaning in status_meaning(member)
    # The same meaning whatever the service: PS3.4 gives none of these its own.
    assert all(status_meaning(member, s) == status_meaning(member) for s in _SERVICE)


def test_the_general_meanings_are_the_enums() -> None:
    """The meaning table and GeneralStatus agree: no code without a member,
    no member without a meaning."""
    assert sorted(_GENERAL) == sorted(GeneralStatus)
    assert len(set(GeneralStatus)) == len(GeneralStatus.__members__)  # no aliases


@pytest.mark.parametrize(
    ("member", "code", "category", "meaning"),
    [  # PS3.4 B.2.3, Table B.2-1
        (StoreStatus.SUCCESS, 0x0000, "Success", "Success"),
        (StoreStatus.OUT_OF_RESOURCES, 0xA700, "Failure", "Refused: out of resources"),
        (StoreStatus.DATA_SET_DOES_NOT_MATCH_SOP_CLASS, 0xA900, "Failure", "does not match"),
        (StoreStatus.CANNOT_UNDERSTAND, 0xC000, "Failure", "cannot understand"),
        (StoreStatus.COERCION_OF_DATA_ELEMENTS, 0xB000, "Warning", "Coercion"),
        (StoreStatus.ELEMENTS_DISCARDED, 0xB006, "Warning", "Elements discarded"),
        (StoreStatus.DATA_SET_DOES_NOT_MATCH_SOP_CLASS_WARNING, 0xB007, "Warning", "not match"),
    ],
)
def test_each_store_status(member: StoreStatus, code: int, category: str, meaning: str) -> None:
    assert member == code
    assert Status(member) == category
    assert meaning in status_meaning(member, "store")


@pytest.mark.parametrize(
    ("member", "code", "category", "services", "meaning"),
    [  # PS3.4 C.4.1.1.4 (find), C.4.2.1.5 (move), C.4.3.1.4 (get)
        (QueryRetrieveStatus.OUT_OF_RESOURCES, 0xA700, "Failure", {"find"}, "out of resources"),
        (
            QueryRetrieveStatus.OUT_OF_RESOURCES_MATCHES,
            0xA701,
            "Failure",
            {"move", "get"},
            "unable to calculate number of matches",
        ),
        (
            QueryRetrieveStatus.OUT_OF_RESOURCES_SUBOPERATIONS,
            0xA702,
            "Failure",
            {"move", "get"},
            "unable to perform sub-operations",
        ),
        (
            QueryRetrieveStatus.MOVE_DESTINATION_UNKNOWN,
            0xA801,
            "Failure",
            {"move"},
            "move destination unknown",
        ),
        (
            QueryRetrieveStatus.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
            0xA900,
            "Failure",
            {"find", "move", "get"},
            "Identifier does not match SOP Class",
        ),
        (
            QueryRetrieveStatus.UNABLE_TO_PROCESS,
            0xC000,
            "Failure",
            {"find", "move", "get"},
            "Unable to process",
        ),
        (
            QueryRetrieveStatus.SUBOPERATIONS_WITH_FAILURES,
            0xB000,
            "Warning",
            {"move", "get"},
            "one or more failures or warnings",
        ),
    ],
)
def test_each_query_retrieve_status(
    member: QueryRetrieveStatus, code: int, category: str, services: set[str], meaning: str
) -> None:
    assert member == code
    assert Status(member) == category
    for service in ("find", "move", "get"):
        if service in services:
            assert meaning in status_meaning(member, service)
        else:
            assert meaning not in status_meaning(member, service)


#: The enum holding each service's own statuses.
SERVICE_ENUMS: dict[str, type[IntEnum]] = {
    "store": StoreStatus,
    "find": QueryRetrieveStatus,
    "move": QueryRetrieveStatus,
    "get": QueryRetrieveStatus,
}


@pytest.mark.parametrize("service", sorted(_SERVICE))
def test_the_service_ranges_start_at_the_enums_members(service: str) -> None:
    """The meaning tables and the enums agree: each range of a service's
    meanings starts at a member of that service's enum."""
    enum = SERVICE_ENUMS[service]
    for low, high, _ in _SERVICE[service]:
        assert low in enum._value2member_map_
        assert low <= high


@pytest.mark.parametrize("enum", [StoreStatus, QueryRetrieveStatus])
def test_every_service_status_has_its_services_meaning(enum: type[IntEnum]) -> None:
    """... and each member but Success has a meaning of its own in one of
    the services the enum serves (not the general fallback)."""
    services = [service for service, e in SERVICE_ENUMS.items() if e is enum]
    for member in enum:
        if member == GeneralStatus.SUCCESS:
            continue
        assert any(
            low <= member <= high for service in services for low, high, _ in _SERVICE[service]
        ), member
