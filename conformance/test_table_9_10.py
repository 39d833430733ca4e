"""dicomul's state table against PS3.8 Table 9-10 as transcribed by hand.

``conformance/table_9_10.csv`` was copied from the standard's own text (its
header names the edition and pages), independently of ``dicomul/_fsm.py``;
``table_9_6_to_9_9.csv`` holds the action definitions with their next
states.  All 13 x 19 = 247 cells must agree.
"""

from __future__ import annotations

import csv
import io
import pathlib
import re

import pytest

from dicomul import LocalProtocolError
from dicomul._fsm import LOCAL_EVENTS, NEXT_STATE, TRANSITIONS, Action, Event, State, transition

HERE = pathlib.Path(__file__).resolve().parent


def _rows(name: str) -> list[dict[str, str]]:
    text = (HERE / name).read_text()
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    return list(csv.DictReader(io.StringIO(body)))


TABLE = {row["event"]: row for row in _rows("table_9_10.csv")}
ACTIONS = {row["action"]: row for row in _rows("table_9_6_to_9_9.csv")}
CELLS = [(state, event) for event in Event for state in State]


def test_the_transcription_is_complete() -> None:
    assert list(TABLE) == [event.value for event in Event]
    assert len(CELLS) == 247
    assert set(ACTIONS) == {action.value for action in Action}


@pytest.mark.parametrize(("state", "event"), CELLS, ids=[f"{s.value}-{e.value}" for s, e in CELLS])
def test_cell_matches_the_standard(state: State, event: Event) -> None:
    cell = TABLE[event.value][state.value].strip()
    expected = cell.split("/")[0] if cell else None
    got = TRANSITIONS.get((state, event))
    assert (got.value if got else None) == expected


@pytest.mark.parametrize("action", list(Action), ids=[a.value for a in Action])
def test_next_state_matches_the_action_definitions(action: Action) -> None:
    written = re.findall(r"Sta\s?(\d+)", ACTIONS[action.value]["next_state"])
    states = [State(f"Sta{n}") for n in written]
    if NEXT_STATE[action] is None:
        assert len(states) == 2  # AE-6 and AR-8 depend on the situation
    else:
        assert states == [NEXT_STATE[action]]


def test_situational_next_states() -> None:
    assert transition(State.STA2, Event.EVT6, is_requestor=False) == (Action.AE_6, State.STA3)
    assert transition(State.STA2, Event.EVT6, is_requestor=False, request_acceptable=False) == (
        Action.AE_6,
        State.STA13,
    )
    assert transition(State.STA7, Event.EVT12, is_requestor=True) == (Action.AR_8, State.STA9)
    assert transition(State.STA7, Event.EVT12, is_requestor=False) == (Action.AR_8, State.STA10)


@pytest.mark.parametrize(
    ("state", "event"),
    [(s, e) for s, e in CELLS if (s, e) not in TRANSITIONS],
    ids=[f"{s.value}-{e.value}" for s, e in CELLS if (s, e) not in TRANSITIONS],
)
def test_blank_cells_are_local_misuse(state: State, event: Event) -> None:
    with pytest.raises(LocalProtocolError, match=f"{event.value} .* not valid in {state.value}"):
        transition(state, event, is_requestor=True)


def test_peer_pdus_always_have_an_action_once_connected() -> None:
    """A peer cannot drive the machine off the table: every PDU event has a
    cell in every state that has a transport connection."""
    connected = [s for s in State if s not in (State.STA1, State.STA4)]
    for event in set(Event) - LOCAL_EVENTS:
        for state in connected:
            assert (state, event) in TRANSITIONS, (state, event)


def test_issue_examples() -> None:
    """The cells the issue names: an unrecognised PDU or a second
    A-ASSOCIATE-RQ in Sta6 is AA-8; a P-DATA-TF in Sta2 is AA-1."""
    assert TRANSITIONS[State.STA6, Event.EVT19] is Action.AA_8
    assert TRANSITIONS[State.STA6, Event.EVT6] is Action.AA_8
    assert TRANSITIONS[State.STA2, Event.EVT10] is Action.AA_1
