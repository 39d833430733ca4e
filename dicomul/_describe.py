"""Human-readable descriptions of PDUs, as DCMTK's ``-d`` output lays them out.

Pure functions from bytes or decoded PDUs to lines of text: the apps' debug
logging uses them, and so can a packet analyser reading a capture.

>>> from dicomul import pdu
>>> frame = pdu.encode(pdu.ReleaseRQ())
>>> describe_frame(frame)[0]
'PDU Type: Release Request, PDU Length: 4 + 6 bytes PDU header'
>>> describe_frame(frame)[1]
'    05 00 00 00 00 04 00 00 00 00'
"""

from __future__ import annotations

from ._enums import ContextResult
from ._wire import BytesLike
from .pdu import PDU, AssociateAC, AssociateRJ, AssociateRQ, PDataTF, PresentationDataValue, decode

__all__ = ["describe_association", "describe_frame", "describe_pdu", "describe_pdv", "hex_dump"]

#: PS3.8 Table 9-1: PDU types, as DCMTK names them.
PDU_NAMES = {
    0x01: "Associate Request",
    0x02: "Associate Accept",
    0x03: "Associate Reject",
    0x04: "Data",
    0x05: "Release Request",
    0x06: "Release Response",
    0x07: "Abort",
}

#: Bytes of a PDU shown in a hex dump by default; the rest is counted.
HEX_DUMP_LIMIT = 512


def hex_dump(
    data: BytesLike, limit: int | None = HEX_DUMP_LIMIT, *, size: int | None = None
) -> list[str]:
    """Lines of 16 hexadecimal bytes, indented, at most ``limit`` bytes shown.

    ``size`` is the length of the whole when ``data`` is only its first
    bytes (a packet analyser keeps no more of a long PDU than it shows).
    """
    shown = bytes(data if limit is None else data[:limit])
    lines = [
        "    " + " ".join(f"{byte:02x}" for byte in shown[at : at + 16])
        for at in range(0, len(shown), 16)
    ]
    total = len(data) if size is None else size
    if len(shown) < total:
        lines.append(f"    ... ({total - len(shown)} more bytes)")
    return lines


def describe_frame(
    frame: BytesLike, limit: int | None = HEX_DUMP_LIMIT, *, size: int | None = None
) -> list[str]:
    """The type and length line of one whole PDU, then its hex dump.

    ``frame`` may be only the PDU's first bytes (at least its header) if
    ``size`` gives the whole PDU's length, header included.
    """
    pdu_type = frame[0] if frame else 0
    name = PDU_NAMES.get(pdu_type, f"Unknown (0x{pdu_type:02x})")
    total = len(frame) if size is None else size
    return [
        f"PDU Type: {name}, PDU Length: {total - 6} + 6 bytes PDU header",
        *hex_dump(frame, limit, size=size),
    ]


def describe_association(frame: BytesLike) -> list[str]:
    """For an A-ASSOCIATE-RQ, -AC or -RJ, its parameters as a block of lines;
    for a P-DATA-TF, one line per PDV; nothing for the other PDUs or for a
    PDU that does not decode."""
    try:
        pdu = decode(frame)
    except Exception:  # a describer never raises for what it is shown
        return []
    return describe_pdu(pdu)


def describe_pdu(pdu: PDU) -> list[str]:
    """What :func:`describe_association` says of a PDU already decoded: the
    A-ASSOCIATE parameters, the reject reason, or one line per PDV."""
    if isinstance(pdu, AssociateRQ | AssociateAC):
        return _associate_lines(pdu)
    if isinstance(pdu, AssociateRJ):
        return [
            f"Association Reject: result {pdu.result}, source {pdu.source}, reason {pdu.reason}"
        ]
    if isinstance(pdu, PDataTF):
        return [describe_pdv(pdv) for pdv in pdu.pdvs]
    return []


def describe_pdv(pdv: PresentationDataValue) -> str:
    """One PDV of a P-DATA-TF in a line: context, command or data set, last
    fragment or not, size (PS3.8 Annex E.2)."""
    return (
        f"PDV: context {pdv.context_id}, "
        f"{'command' if pdv.is_command else 'data set'}"
        f"{', last fragment' if pdv.is_last else ''}, {len(pdv.data)} bytes"
    )


def _associate_lines(pdu: AssociateRQ | AssociateAC) -> list[str]:
    kind = "A-ASSOCIATE-RQ" if isinstance(pdu, AssociateRQ) else "A-ASSOCIATE-AC"
    info = pdu.user_information
    lines = [
        f"====================== BEGIN {kind} =====================",
        f"Implementation Class UID:   {info.implementation_class_uid if info else None}",
        f"Implementation Version:     {info.implementation_version_name if info else None}",
        f"Calling AE Title:           {pdu.calling_aet}",
        f"Called AE Title:            {pdu.called_aet}",
        f"Application Context Name:   {pdu.application_context.uid}",
        f"Max PDU Length:             {info.maximum_length if info else None}",
        "Presentation Contexts:",
    ]
    if isinstance(pdu, AssociateRQ):
        for pc in pdu.presentation_contexts:
            lines.append(f"  Context ID:        {pc.context_id} (Proposed)")
            lines.append(f"    Abstract Syntax: {pc.abstract_syntax_uid}")
            lines.append("    Proposed Transfer Syntax(es):")
            lines += [f"      {ts}" for ts in pc.transfer_syntax_uids]
    else:
        for ac in pdu.presentation_contexts:
            result = _RESULTS.get(ac.result, f"Result {ac.result}")
            lines.append(f"  Context ID:        {ac.context_id} ({result})")
            if ac.result == ContextResult.ACCEPTANCE:
                lines.append(f"    Accepted Transfer Syntax: {ac.transfer_syntax_uid}")
    if info is not None:
        for role in info.role_selections:
            lines.append(
                f"Role Selection:             {role.sop_class} "
                f"SCU={role.scu_role} SCP={role.scp_role}"
            )
        window = info.asynchronous_operations_window
        if window is not None:
            lines.append(
                f"Asynchronous Operations:    invoked {window.max_operations_invoked}, "
                f"performed {window.max_operations_performed}"
            )
        if info.user_identity is not None:
            lines.append(f"User Identity:              {type(info.user_identity).__name__}")
    lines.append(f"======================= END {kind} ======================")
    return lines


#: The presentation context results (PS3.8 Table 9-18), in DCMTK's words.
_RESULTS: dict[int, str] = {
    ContextResult.ACCEPTANCE: "Accepted",
    ContextResult.USER_REJECTION: "User Rejection",
    ContextResult.NO_REASON: "Provider Rejection",
    ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED: "Abstract Syntax Not Supported",
    ContextResult.TRANSFER_SYNTAXES_NOT_SUPPORTED: "Transfer Syntaxes Not Supported",
}
