"""The event definitions of ``dicomul._evt``: shared by every adapter."""

from __future__ import annotations

import dataclasses

import pytest

import dicomul
from dicomul import CommandField

INTERVENTIONS = {
    "EVT_C_ECHO",
    "EVT_C_STORE",
    "EVT_C_FIND",
    "EVT_C_GET",
    "EVT_C_MOVE",
    "EVT_N_ACTION",
    "EVT_N_CREATE",
    "EVT_N_DELETE",
    "EVT_N_EVENT_REPORT",
    "EVT_N_GET",
    "EVT_N_SET",
    "EVT_USER_ID",
    "EVT_ASYNC_OPS",
    "EVT_SOP_EXTENDED",
    "EVT_SOP_COMMON",
}
NOTIFICATIONS = {
    "EVT_CONN_OPEN",
    "EVT_CONN_CLOSE",
    "EVT_REQUESTED",
    "EVT_ACCEPTED",
    "EVT_REJECTED",
    "EVT_RELEASED",
    "EVT_ABORTED",
    "EVT_PDU_RECV",
    "EVT_PDU_SENT",
    "EVT_DIMSE_RECV",
    "EVT_DIMSE_SENT",
    "EVT_DATA_RECV",
    "EVT_DATA_SENT",
    "EVT_FSM_TRANSITION",
}


@pytest.mark.parametrize("name", sorted(INTERVENTIONS | NOTIFICATIONS))
def test_each_event_is_exported_with_its_kind(name: str) -> None:
    event = getattr(dicomul, name)
    assert isinstance(event, dicomul.EventType)
    assert event.name == name == str(event)
    assert event.is_intervention == (name in INTERVENTIONS)
    assert event.is_notification == (name in NOTIFICATIONS)
    assert event.description


def test_event_types_lists_every_event_once() -> None:
    assert {e.name for e in dicomul.EVENT_TYPES} == INTERVENTIONS | NOTIFICATIONS
    assert len(dicomul.EVENT_TYPES) == len(INTERVENTIONS | NOTIFICATIONS)


def test_event_types_are_frozen_and_hashable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        dicomul.EVT_C_STORE.name = "other"  # type: ignore[misc]
    assert {dicomul.EVT_C_STORE: 1}[dicomul.EVT_C_STORE] == 1


def test_every_request_an_scp_serves_has_its_intervention_event() -> None:
    requests = {f for f in CommandField if f.name.endswith("_RQ") and f.name != "C_CANCEL_RQ"}
    assert set(dicomul.SERVICE_EVENTS) == requests
    assert dicomul.SERVICE_EVENTS[CommandField.C_STORE_RQ] is dicomul.EVT_C_STORE
    assert all(e.is_intervention for e in dicomul.SERVICE_EVENTS.values())
