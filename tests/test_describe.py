"""PDU descriptions for -d output and packet analysis (dicomul._describe):
the A-ASSOCIATE parameter blocks in the layout and words of DCMTK's."""

from __future__ import annotations

from dicomul import describe_association, pdu
from dicomul._acse import (
    AcceptorConfig,
    AssociationRequest,
    SupportedContext,
    build_associate_rq,
    negotiate,
    propose_contexts,
)

VERIFICATION, CT = "1.2.840.10008.1.1", "1.2.840.10008.5.1.4.1.1.2"
IMPLICIT, EXPLICIT = "1.2.840.10008.1.2", "1.2.840.10008.1.2.1"


def test_request_and_acceptance_blocks() -> None:
    rq = build_associate_rq(
        AssociationRequest(
            calling_ae_title="ECHOSCU",
            called_ae_title="ANY-SCP",
            contexts=propose_contexts([VERIFICATION, CT], [IMPLICIT, EXPLICIT]),
        )
    )
    lines = describe_association(pdu.encode(rq))
    assert lines[0] == "====================== BEGIN A-ASSOCIATE-RQ ====================="
    assert lines[-1] == "======================= END A-ASSOCIATE-RQ ======================"
    at = lines.index("  Context ID:        1 (Proposed)")
    assert lines[at : at + 5] == [
        "  Context ID:        1 (Proposed)",
        f"    Abstract Syntax: {VERIFICATION}",
        "    Proposed Transfer Syntax(es):",
        f"      {IMPLICIT}",
        f"      {EXPLICIT}",
    ]
    config = AcceptorConfig(
        ae_title="ANY-SCP",
        supported={VERIFICATION: SupportedContext(transfer_syntaxes=(EXPLICIT,))},
    )
    answer, _ = negotiate(rq, config)
    lines = describe_association(pdu.encode(answer))
    assert lines[0] == "====================== BEGIN A-ASSOCIATE-AC ====================="
    at = lines.index("  Context ID:        1 (Accepted)")
    assert lines[at + 1] == f"    Accepted Transfer Syntax: {EXPLICIT}"
    assert "  Context ID:        3 (Abstract Syntax Not Supported)" in lines
