"""The predicates an adapter asks a Connection (issue 15: one question, one
predicate), and how they nest, as the Connection docstring promises: in
every PS3.8 state either role can be in."""

from __future__ import annotations

import itertools

import pytest

from dicomul import NEED_DATA, Connection, ConnectionClosed, Role, State


def reachable() -> list[tuple[Role, State, bool, bool]]:
    """(role, state, connected, aborted by this side): a transport connection
    exists in every state but Sta1 (and in Sta1 after one); this side's own
    A-ABORT leads to Sta13, then Sta1."""
    cases = []
    for role, state in itertools.product(Role, State):
        for connected, aborted in itertools.product((False, True), repeat=2):
            if not connected and (state is not State.STA1 or aborted):
                continue
            if aborted and state not in (State.STA1, State.STA13):
                continue
            cases.append((role, state, connected, aborted))
    return cases


def connection(role: Role, state: State, connected: bool, aborted: bool) -> Connection:
    conn = Connection(role)
    conn._state = state
    conn._connected = connected
    conn._aborted_by_us = aborted
    return conn


def closes_now(conn: Connection) -> bool:
    """True if the next event is ConnectionClosed (the one signal to close)."""
    return conn.next_event() == ConnectionClosed()


@pytest.mark.parametrize(("role", "state", "connected", "aborted"), reachable())
def test_the_predicates_nest(role: Role, state: State, connected: bool, aborted: bool) -> None:
    conn = connection(role, state, connected, aborted)
    if conn.association_over:
        assert not conn.can_send_messages
        assert not conn.release_to_answer
        assert not conn.may_invoke
    if closes_now(conn):
        assert conn.association_over
        # Sta1 after a connection; in Sta13 only a requestor after its own A-ABORT.
        assert state is State.STA1 or (role, state, aborted) == (
            Role.REQUESTOR,
            State.STA13,
            True,
        )
        assert conn.next_event() is NEED_DATA  # it comes once


@pytest.mark.parametrize("aborted", [False, True])
def test_an_acceptor_is_never_told_to_close_while_it_waits_for_the_peer(aborted: bool) -> None:
    conn = connection(Role.ACCEPTOR, State.STA13, connected=True, aborted=aborted)
    assert conn.association_over
    assert not closes_now(conn)
