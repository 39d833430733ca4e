"""Careless input through the blocking API (issue 14): settings written as
another library's users write them, and what a mistake costs.  Each test
failed before its fix; each runs real associations."""

from __future__ import annotations

import logging
import pathlib

import pydicom
import pytest
from corpus import CT, image
from dicomul_sync import AE, ServiceRequest, current_request
from dicomul_sync.association import Association
from peers import HOST, serving

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
