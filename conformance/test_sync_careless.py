"""Careless input through the blocking API (issue 14): settings written as
another library's users write them, and what a mistake costs.  Each test
failed before its fix; each runs real associations."""

from __future__ import annotations

import logging

import pytest
from dicomul_sync import AE
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
