"""N-CREATE's instance UID on the performing side (PS3.7 10.1.5.1.4): the
UID the request carries for its handler, and the one its response carries."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dicomul import (
    GeneralStatus,
    InstanceCreation,
    LocalProtocolError,
    n_create_rq,
    n_set_rq,
    response_for,
    status_category,
)

MPPS = "1.2.840.10008.3.1.2.3.3"
ASSIGNED = "1.2.826.0.1.3680043.9.1"


class Generator:
    """A UID generator that counts its calls."""

    def __init__(self, uid: str = ASSIGNED) -> None:
        self.uid = uid
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return self.uid


#: Every category's codes, as an N-CREATE handler may answer them.
STATUSES = st.sampled_from(
    [0x0000, 0x0107, 0x0116, 0xB000, 0x0110, 0x0111, 0x0211, 0x0213, 0xA700, 0xC000, 0xFE00]
)


def test_a_request_without_a_uid_gets_the_generated_one() -> None:
    new_uid = Generator()
    creation = InstanceCreation.of(n_create_rq(1, MPPS), new_uid=new_uid)
    assert creation.assigned
    assert creation.request.affected_sop_instance_uid == ASSIGNED
    assert new_uid.calls == 1
    expected = dataclasses.replace(n_create_rq(1, MPPS), affected_sop_instance_uid=ASSIGNED)
    assert creation.request == expected  # nothing else changes


def test_a_request_naming_its_instance_keeps_it_and_costs_no_uid() -> None:
    new_uid = Generator()
    request = n_create_rq(1, MPPS, "1.2.3.99")
    creation = InstanceCreation.of(request, new_uid=new_uid)
    assert not creation.assigned
    assert creation.request is request
    assert new_uid.calls == 0


@given(STATUSES)
def test_an_assigned_uid_is_answered_only_when_the_instance_was_created(status: int) -> None:
    """PS3.7 10.1.5.1.4: the response carries the UID the SCP assigned, and
    only in a success (or warning: created all the same) response."""
    creation = InstanceCreation.of(n_create_rq(1, MPPS), new_uid=Generator())
    created = status_category(status).name in ("SUCCESS", "WARNING")
    assert creation.response_uid(status) == (ASSIGNED if created else None)
    response = response_for(
        creation.request, status, affected_sop_instance_uid=creation.response_uid(status)
    )
    assert response.affected_sop_instance_uid == (ASSIGNED if created else None)


@given(STATUSES)
def test_the_requestors_uid_is_answered_only_when_the_instance_was_created(status: int) -> None:
    """PS3.7 10.1.5.1.4: "only ... in the success response", even when the
    requestor chose the UID (unlike the other DIMSE-N responses, which
    response_for makes echo their request's instance)."""
    creation = InstanceCreation.of(n_create_rq(1, MPPS, "1.2.3.99"), new_uid=Generator())
    created = status_category(status).name in ("SUCCESS", "WARNING")
    assert creation.response_uid(status) == ("1.2.3.99" if created else None)
    response = response_for(
        creation.request, status, affected_sop_instance_uid=creation.response_uid(status)
    )
    assert response.affected_sop_instance_uid == ("1.2.3.99" if created else None)


@pytest.mark.parametrize("bad", ["", "1.2.x", "1." * 40 + "1", "1.2.\u00e9"])
def test_a_generator_that_gives_no_uid_is_a_local_error(bad: str) -> None:
    with pytest.raises(LocalProtocolError, match="no UID"):
        InstanceCreation.of(n_create_rq(1, MPPS), new_uid=lambda: bad)


def test_only_an_n_create_request_creates_an_instance() -> None:
    with pytest.raises(LocalProtocolError, match="not an N-CREATE"):
        InstanceCreation.of(n_set_rq(1, MPPS, "1.2.3"), new_uid=Generator())


def test_success_is_the_status_that_answers_the_uid() -> None:
    creation = InstanceCreation.of(n_create_rq(1, MPPS), new_uid=Generator())
    assert creation.response_uid(GeneralStatus.SUCCESS) == ASSIGNED
