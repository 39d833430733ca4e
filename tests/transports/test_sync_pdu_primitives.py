"""dicomul_sync.pdu_primitives: pynetdicom's mutable negotiation items,
converted to the core's records and checked on conversion (issue 17)."""

from __future__ import annotations

from typing import Any

import pytest
from dicomul_sync import AE
from dicomul_sync.pdu_primitives import (
    AsynchronousOperationsWindowNegotiation,
    SCP_SCU_RoleSelectionNegotiation,
    SOPClassCommonExtendedNegotiation,
    SOPClassExtendedNegotiation,
    UserIdentityNegotiation,
    negotiation_items,
)

import dicomul
from dicomul import UserIdentityType

CT = "1.2.840.10008.5.1.4.1.1.2"
FIND = "1.2.840.10008.5.1.4.1.2.1.1"


def role(uid: Any = CT, scu: Any = None, scp: Any = True) -> SCP_SCU_RoleSelectionNegotiation:
    item = SCP_SCU_RoleSelectionNegotiation()
    item.sop_class_uid, item.scu_role, item.scp_role = uid, scu, scp
    return item


def identity(kind: Any, primary: Any, secondary: Any = None) -> UserIdentityNegotiation:
    item = UserIdentityNegotiation()
    item.user_identity_type, item.primary_field, item.secondary_field = kind, primary, secondary
    return item


def test_each_item_becomes_the_cores_record() -> None:
    window = AsynchronousOperationsWindowNegotiation()
    window.maximum_number_operations_invoked = 0
    extended = SOPClassExtendedNegotiation()
    extended.sop_class_uid, extended.service_class_application_information = FIND, b"\x01"
    common = SOPClassCommonExtendedNegotiation()
    common.sop_class_uid, common.service_class_uid = CT + ".1", "1.2.840.10008.4.2"
    common.related_general_sop_class_identification = [CT]
    user = identity(2, b"alice", b"secret")
    user.positive_response_requested = True
    assert negotiation_items([role(), user, window, extended, common]) == (
        dicomul.RoleProposal(sop_class=CT, scu=False, scp=True),  # None counts as False
        dicomul.UserIdentity(
            identity_type=UserIdentityType.USERNAME_AND_PASSCODE,
            primary_field=b"alice",
            secondary_field=b"secret",
            positive_response_requested=True,
        ),
        dicomul.AsynchronousOperationsWindowNegotiation(0, 1),
        dicomul.SOPClassExtendedNegotiation(FIND, b"\x01"),
        dicomul.SOPClassCommonExtendedNegotiation(CT + ".1", "1.2.840.10008.4.2", (CT,)),
    )


def test_the_cores_records_pass_as_they_are_and_the_items_stay_mutable() -> None:
    record = dicomul.AsynchronousOperationsWindowNegotiation(2, 2)
    item = role()
    assert negotiation_items([record, item])[0] is record
    item.scu_role = True  # changed after a first use: the next conversion sees it
    assert negotiation_items([item]) == (dicomul.RoleProposal(sop_class=CT, scu=True, scp=True),)


@pytest.mark.parametrize(
    ("item", "error", "words"),
    [
        (role(uid=None), ValueError, "sop_class_uid is not set"),
        (role(uid="1.2.abc"), ValueError, "is not a UID"),
        (role(uid=12), TypeError, "sop_class_uid is a UID string"),
        (role(scu=None, scp=None), ValueError, "neither scu_role nor scp_role"),
        (role(scp="yes"), TypeError, "scp_role is True or False"),
        (identity(None, b"bob"), ValueError, "user_identity_type is not set"),
        (identity(6, b"bob"), ValueError, "user_identity_type is 1 to 5"),
        (identity(1, None), ValueError, "primary_field is not set"),
        (identity(1, b""), ValueError, "primary_field is empty"),
        (identity(2, b"bob"), ValueError, "needs secondary_field"),
        (identity(1, b"bob", b"pw"), ValueError, "secondary_field is for type 2 only"),
        (identity(5, 42), TypeError, "primary_field is bytes"),
        (identity(3, b"x" * 65536), ValueError, "longer than 65535 bytes"),
        ("not an item", TypeError, "is not an extended negotiation item"),
    ],
)
def test_a_mistake_is_named_on_conversion(item: object, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        negotiation_items([item])


def test_window_extended_and_common_mistakes_are_named() -> None:
    window = AsynchronousOperationsWindowNegotiation()
    window.maximum_number_operations_performed = 70000
    with pytest.raises(ValueError, match=r"AsynchronousOperationsWindowNegotiation: .*65535"):
        negotiation_items([window])
    extended = SOPClassExtendedNegotiation()
    extended.sop_class_uid = FIND
    with pytest.raises(ValueError, match="service_class_application_information is not set"):
        negotiation_items([extended])
    extended.service_class_application_information = "\x01"  # type: ignore[assignment]
    with pytest.raises(TypeError, match="service_class_application_information is bytes"):
        negotiation_items([extended])
    common = SOPClassCommonExtendedNegotiation()
    common.sop_class_uid = CT
    with pytest.raises(ValueError, match="service_class_uid is not set"):
        negotiation_items([common])
    common.service_class_uid = "1.2.840.10008.4.2"
    common.related_general_sop_class_identification = CT  # type: ignore[assignment]
    with pytest.raises(TypeError, match="a list of UIDs"):
        negotiation_items([common])


def test_a_username_given_as_text_is_sent_as_utf_8() -> None:
    (record,) = negotiation_items([identity(1, "jürgen")])
    assert record == dicomul.UserIdentity.username("jürgen")


def test_the_secret_stays_out_of_the_repr() -> None:
    assert "secret" not in repr(identity(2, b"alice", b"secret"))


def test_associate_refuses_a_bad_item_before_connecting() -> None:
    ae = AE(scu_sop_class=[CT])
    with pytest.raises(ValueError, match="neither scu_role nor scp_role"):
        ae.associate("127.0.0.1", 9, ext_neg=[role(scu=None, scp=None)])  # port 9: never reached
