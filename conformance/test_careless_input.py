"""Careless input through the blocking API and the apps (issue 14): settings
written as another library's users write them, what a mistake costs, and
peers that answer the wrong request or never answer.  Each test failed
before its fix; each runs real associations."""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import time

import pydicom
import pytest
from corpus import CT, image
from dicomul_sync import AE, ServiceRequest, current_request
from dicomul_sync.association import Association
from peers import HOST, RawAcceptor, serving
from test_apps_echo import dicomul

from dicomul import Command, response_for

VERIFICATION = "1.2.840.10008.1.1"


def echo_as(port: int, calling: str, called: str = "ANY-SCP") -> Association:
    """An association from ``calling`` to ``called``, a C-ECHO if it is
    accepted, then released; the association, to see how it went."""
    scu = AE(ae_title=calling, scu_sop_class=[VERIFICATION])
    scu.acse_timeout = 5
    assoc = scu.associate(HOST, port, called)
    if assoc.is_established:
        assert assoc.send_c_echo().Status == 0  # type: ignore[union-attr]
        assoc.release()
    return assoc


def rejection(assoc: Association) -> tuple[int, int, int]:
    """(result, source, reason) of a rejected association."""
    assert assoc.is_rejected, "the association was not rejected"
    assert assoc.rejection is not None
    pdu = assoc.rejection.pdu
    return pdu.result, pdu.source, pdu.reason


def test_required_titles_as_lists() -> None:
    """``require_calling_aet = ["SCU", "OTHER"]`` (pynetdicom 2's way).
    Before: every association ended in an AttributeError in the accept loop,
    and the peer saw the connection closed."""
    ae = AE(ae_title="SCP", scp_sop_class=[VERIFICATION])
    ae.require_calling_aet = ["SCU", "OTHER"]
    ae.require_called_aet = ["SCP", "ALIAS"]
    with serving(ae) as port:
        assert echo_as(port, "SCU", "SCP").is_released
        assert echo_as(port, "OTHER", "ALIAS").is_released
        assert rejection(echo_as(port, "NOBODY", "SCP")) == (1, 1, 3)
        assert rejection(echo_as(port, "SCU", "ANY-SCP")) == (1, 1, 7)
        ae.require_called_aet = True  # pynetdicom 2's way: our own title
        assert echo_as(port, "SCU", "SCP").is_released
        assert rejection(echo_as(port, "SCU", "ALIAS")) == (1, 1, 7)


def test_a_setting_broken_while_serving_rejects_cleanly(caplog: pytest.LogCaptureFixture) -> None:
    """A requirement list appended to after it was checked no longer makes a
    configuration: each peer gets an A-ASSOCIATE-RJ (transient, service user,
    no reason), not a closed connection; the error is logged once, not per
    peer; and once the setting is fixed the server serves again."""
    ae = AE(ae_title="SCP", scp_sop_class=[VERIFICATION])
    ae.require_calling_aet = ["SCU"]
    with caplog.at_level(logging.INFO, logger="dicomul.sync"), serving(ae) as port:
        assert echo_as(port, "SCU").is_released
        ae.require_calling_aet.append("ÄÖÜ")  # type: ignore[union-attr]
        assert rejection(echo_as(port, "SCU")) == (2, 1, 1)
        assert rejection(echo_as(port, "SCU")) == (2, 1, 1)
        ae.require_calling_aet = ["SCU"]
        assert echo_as(port, "SCU").is_released
    errors = [
        r
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.name.startswith("dicomul.sync.server")
    ]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "The AE's settings are unusable" in errors[0].getMessage()
    assert "holds 'Ä'" in errors[0].getMessage()
    assert errors[0].exc_info is None  # one line, no traceback


def test_current_request_inside_every_storage_handler(tmp_path: pathlib.Path) -> None:
    """README: current_request() works in every handler.  Before: inside
    on_c_store (and on_c_stored, on_c_store_stream and its sink) it raised
    LookupError, as the data set's handler ran before the request was
    recorded."""
    seen: dict[str, tuple[str, str | None]] = {}

    def note(where: str) -> None:
        request = current_request()
        seen[where] = (request.calling_ae_title, request.sop_instance_uid)

    def on_c_store(dataset: pydicom.Dataset) -> int:
        note("on_c_store")
        return 0

    class Sink:
        def write(self, data: bytes | memoryview) -> None:
            note("write")

        def commit(self) -> None:
            note("commit")

    def on_c_store_stream(request: ServiceRequest) -> Sink:
        note("on_c_store_stream")
        return Sink()

    ds = image(rows=8, columns=8)
    uid = str(ds.SOPInstanceUID)
    for setting, handlers in [
        ("on_c_store", ["on_c_store"]),
        ("store_directory", ["on_c_stored"]),
        ("on_c_store_stream", ["on_c_store_stream", "write", "commit"]),
    ]:
        seen.clear()
        ae = AE(ae_title="SCP", scp_sop_class=[CT])
        ae.on_c_store = on_c_store  # type: ignore[method-assign]
        ae.on_c_stored = lambda path: note("on_c_stored")  # type: ignore[method-assign]
        if setting == "store_directory":
            ae.store_directory = str(tmp_path)
        elif setting == "on_c_store_stream":
            ae.on_c_store_stream = on_c_store_stream
        with serving(ae) as port:
            scu = AE(ae_title="STORE-SCU", scu_sop_class=[CT])
            assoc = scu.associate(HOST, port, "SCP")
            response = assoc.send_c_store(ds)
            assoc.release()
        assert response is not None
        assert response.Status == 0, setting
        assert seen == dict.fromkeys(handlers, ("STORE-SCU", uid)), setting


# ------------------------------------------- peers that answer wrongly or never


def never(command: Command) -> None:
    """A peer that accepts the association and never answers a request."""
    return


def to_the_next_message_id(command: Command) -> Command:
    """A peer that answers Success, but to the message ID after the request's."""
    response = response_for(command, 0x0000)
    return dataclasses.replace(
        response, message_id_being_responded_to=(command.message_id or 0) + 1
    )


def test_the_library_defaults_wait_for_ever_and_say_so() -> None:
    """The seed's default stays (dimse_timeout None); the API says what it means."""
    ae = AE()
    assert ae.dimse_timeout is None
    assert ae.network_timeout is None
    for doc in (AE.__doc__, AE.associate.__doc__, Association.__doc__):
        assert "for ever" in (doc or ""), doc


def test_an_scu_aborts_on_a_response_to_another_message_id() -> None:
    """Before: the response was ignored and send_c_echo() waited for ever (the
    default dimse_timeout is None).  Now the association is aborted at once
    (PS3.7 9.1.5.1.2: a response carries the Message ID of its request)."""
    with RawAcceptor(to_the_next_message_id) as peer:
        scu = AE(scu_sop_class=[VERIFICATION])
        scu.dimse_timeout = 10  # only so that a regression fails rather than hangs
        assoc = scu.associate(HOST, peer.port)
        started = time.monotonic()
        assert assoc.send_c_echo() is None
        assert time.monotonic() - started < 5
        assert assoc.is_aborted
    assert "Aborted" in peer.seen  # our A-ABORT reached it


def test_a_dimse_timeout_bounds_the_wait_for_a_silent_peer() -> None:
    with RawAcceptor(never) as peer:
        scu = AE(scu_sop_class=[VERIFICATION])
        scu.dimse_timeout = 0.5
        assoc = scu.associate(HOST, peer.port)
        started = time.monotonic()
        assert assoc.send_c_echo() is None
        assert 0.5 <= time.monotonic() - started < 5
        assert assoc.is_aborted


def success(command: Command) -> Command:
    """A peer that answers each request with Success."""
    return response_for(command, 0x0000)


@pytest.mark.parametrize("timeout", ["dimse_timeout", "network_timeout"])
def test_a_store_longer_than_the_timeout_is_not_aborted_by_its_sender(timeout: str) -> None:
    """Issue 15: a data set that takes longer to send than the DIMSE or network
    timeout made the SCU abort itself right after its last PDU, although the
    peer read it all along.  16 MB to a peer reading 3 MB a second (over 5
    seconds), 2.5-second timeout: the peer's Success arrives and the
    association stays.  The timeout must exceed the time the peer needs to
    drain what the kernel buffered once our last write returned (a send
    buffer grows to 4 MiB on loopback, about 1.4 s at this rate): the DIMSE
    timeout rightly counts from there."""
    with RawAcceptor(success, read_rate=3_000_000) as peer:
        scu = AE(scu_sop_class=[CT])
        setattr(scu, timeout, 2.5)
        assoc = scu.associate(HOST, peer.port)
        started = time.monotonic()
        status = assoc.send_c_store(image(rows=1024, columns=1024, frames=8))
        assert status is not None
        assert status.Status == 0
        assert assoc.is_established
        assert time.monotonic() - started > 5  # twice the timeout
        assoc.release()


@pytest.fixture
def scu_commands(tmp_path: pathlib.Path) -> dict[str, list[str]]:
    """Each SCU app and the arguments of one request (before peer and port)."""
    from corpus import write

    ct = write(image(rows=8, columns=8), tmp_path / "ct.dcm", "1.2.840.10008.1.2")
    query = ["-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=1"]
    return {
        "echoscu": [],
        "storescu": [str(ct)],
        "findscu": query,
        "getscu": [*query, "-od", str(tmp_path)],
        "movescu": query,
    }


def run_app(app: str, arguments: list[str], options: list[str], port: int) -> tuple[float, str]:
    """Run an SCU app against ``port``: (seconds it took, stderr); it must fail."""
    args = [*options, *arguments, HOST, str(port)]
    if app == "storescu":  # its files come after the peer and port
        args = [*options, HOST, str(port), *arguments]
    started = time.monotonic()
    done = dicomul(app, *args, timeout=15)
    took = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    return took, done.stderr


@pytest.mark.parametrize("app", ["echoscu", "storescu", "findscu", "getscu", "movescu"])
def test_apps_give_up_on_a_silent_peer_after_td_seconds(
    app: str, scu_commands: dict[str, list[str]]
) -> None:
    """-td N: a peer that accepts and never answers is given up on after N
    seconds, the association aborted and the app failing."""
    with RawAcceptor(never) as peer:
        took, stderr = run_app(app, scu_commands[app], ["-td", "1"], peer.port)
    assert 1 <= took < 10, stderr
    assert "DIMSE timeout: a response or message did not come" in stderr


def test_apps_give_up_on_a_silent_peer_after_ts_seconds(
    scu_commands: dict[str, list[str]],
) -> None:
    """Without -td (unlimited, as DCMTK), the socket timeout (-ts, 60 s by
    default, as DCMTK's) ends the wait: an app never hangs for ever by
    default.  Shown with -ts 1."""
    with RawAcceptor(never) as peer:
        took, stderr = run_app("findscu", scu_commands["findscu"], ["-ts", "1"], peer.port)
    assert 1 <= took < 10, stderr
    assert "network timeout: nothing sent or received" in stderr


@pytest.mark.parametrize("app", ["echoscu", "storescu", "findscu", "getscu", "movescu"])
def test_apps_abort_on_a_response_to_another_message_id(
    app: str, scu_commands: dict[str, list[str]]
) -> None:
    """Before: the response was ignored and the app waited for ever (no -td).
    Now the association is aborted at once and the app fails, as DCMTK's do
    ("Unexpected Response MsgId")."""
    with RawAcceptor(to_the_next_message_id) as peer:
        took, stderr = run_app(app, scu_commands[app], ["-ts", "0"], peer.port)
    assert took < 10, stderr
    assert "to message ID 2, which is not an outstanding request (outstanding: [1])" in stderr
    assert "Aborted" in peer.seen


@pytest.mark.parametrize("app", ["echoscu", "storescu", "findscu", "getscu", "movescu"])
def test_help_states_the_timeout_defaults(app: str) -> None:
    shown = " ".join(dicomul(app, "--help").stdout.split())
    assert (
        "-td [s]econds, --dimse-timeout [s]econds timeout for DIMSE messages (default: unlimited)"
        in shown
    )
    assert "(default: 60, DCMTK's socket timeout; 0 for none: wait for ever)" in shown
