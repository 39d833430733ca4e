"""A scripted DICOM conversation built with the core's encoders, for the
conversation decoder's tests: what each side sent, as (sender, bytes)
pieces, one per PDU, and what the decoder must find in it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dicomul import (
    AcceptorConfig,
    AssociationRequest,
    ConversationDecoder,
    ConversationEvent,
    Role,
    SupportedContext,
    build_associate_rq,
    c_echo_rq,
    c_find_rq,
    c_store_rq,
    fragment,
    negotiate,
    pdu,
    propose_contexts,
    response_for,
)

VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
STUDY_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
IMPLICIT, EXPLICIT, BIG = "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"

Piece = tuple[Role, bytes]


def data_set(size: int, *, explicit: bool = True, seed: int = 0) -> bytes:
    """An encoded data set's bytes: a (0008,0016) header then a counting pattern."""
    header = bytes.fromhex("08001600") + (b"UI\x02\x00" if explicit else b"\x02\x00\x00\x00")
    body = bytes((seed + i * 7) % 251 for i in range(max(size - len(header) - 2, 0)))
    return (header + b"1\x00" + body)[:size] if size >= len(header) + 2 else header[:size]


@dataclass(frozen=True)
class Expected:
    """A message the decoder must report: (sender, name, message ID, data set bytes)."""

    sender: Role
    name: str
    message_id: int
    data: bytes | None


def association(
    *,
    stores: int = 2,
    store_size: int = 3000,
    max_pdu: int = 1024,
    with_release: bool = True,
    acceptor_max_pdu: int | None = None,
) -> tuple[list[Piece], list[Expected]]:
    """An association: C-ECHO, ``stores`` C-STOREs (CT, explicit; MR, implicit),
    a C-FIND with two matches, then release; one piece per PDU.  Both sides
    send P-DATA-TFs of up to ``max_pdu`` bytes, whatever the acceptor
    announces (``acceptor_max_pdu``, by default the same)."""
    request = build_associate_rq(
        AssociationRequest(
            calling_ae_title="SCU",
            called_ae_title="SCP",
            contexts=propose_contexts([VERIFICATION, CT, MR, STUDY_FIND], [EXPLICIT, IMPLICIT]),
            max_pdu_length=max_pdu,
        )
    )
    supported = {
        VERIFICATION: SupportedContext(transfer_syntaxes=(IMPLICIT,)),
        CT: SupportedContext(transfer_syntaxes=(EXPLICIT,)),
        MR: SupportedContext(transfer_syntaxes=(IMPLICIT,)),
        STUDY_FIND: SupportedContext(transfer_syntaxes=(EXPLICIT,)),
    }
    answer, _ = negotiate(
        request,
        AcceptorConfig(
            ae_title="SCP", supported=supported, max_pdu_length=acceptor_max_pdu or max_pdu
        ),
    )
    assert isinstance(answer, pdu.AssociateAC)
    ids = {
        abstract: pc.context_id
        for pc in request.presentation_contexts
        for abstract in [pc.abstract_syntax_uid]
    }
    pieces: list[Piece] = [
        (Role.REQUESTOR, pdu.encode(request)),
        (Role.ACCEPTOR, pdu.encode(answer)),
    ]
    expected: list[Expected] = []

    def send(sender: Role, context: str, command: object, body: bytes | None) -> None:
        for one in fragment(ids[context], command, body, max_pdu_length=max_pdu):  # type: ignore[arg-type]
            pieces.append((sender, pdu.encode(one)))
        expected.append(Expected(sender, _name(command), _id(command), body))

    echo = c_echo_rq(1)
    send(Role.REQUESTOR, VERIFICATION, echo, None)
    send(Role.ACCEPTOR, VERIFICATION, response_for(echo, 0x0000), None)
    for n in range(stores):
        abstract = CT if n % 2 == 0 else MR
        rq = c_store_rq(2 + n, abstract, f"1.2.3.{n}")
        body = data_set(store_size + n, explicit=abstract == CT, seed=n)
        send(Role.REQUESTOR, abstract, rq, body)
        send(Role.ACCEPTOR, abstract, response_for(rq, 0x0000), None)
    find = c_find_rq(50, STUDY_FIND)
    send(Role.REQUESTOR, STUDY_FIND, find, data_set(40, seed=9))
    for match in (1, 2):
        send(
            Role.ACCEPTOR,
            STUDY_FIND,
            response_for(find, 0xFF00, with_data_set=True),
            data_set(60 + match, seed=match),
        )
    send(Role.ACCEPTOR, STUDY_FIND, response_for(find, 0x0000), None)
    if with_release:
        pieces.append((Role.REQUESTOR, pdu.encode(pdu.ReleaseRQ())))
        pieces.append((Role.ACCEPTOR, pdu.encode(pdu.ReleaseRP())))
    return pieces, expected


def _name(command: object) -> str:
    from dicomul import CommandField

    return CommandField(command.command_field).name.replace("_", "-")  # type: ignore[attr-defined]


def _id(command: object) -> int:
    mid = command.message_id  # type: ignore[attr-defined]
    return mid if mid is not None else command.message_id_being_responded_to  # type: ignore[attr-defined]


def decode_all(
    pieces: Iterable[Piece], decoder: ConversationDecoder | None = None, *, close: bool = True
) -> list[ConversationEvent]:
    """Every event the decoder gives for ``pieces`` (times 0, 1, 2...)."""
    decoder = decoder or ConversationDecoder()
    events: list[ConversationEvent] = []
    for time, (sender, data) in enumerate(pieces):
        events += decoder.feed(sender, data, float(time))
    if close:
        events += decoder.close()
    return events
