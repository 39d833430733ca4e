"""The async Driver writes the core's queue unjoined where that saves a copy (issue 16).

:meth:`dicomul.Connection.data_to_send_buffers` queues each PDU's header and
then a view of the data set pushed.  The Driver sends a view at least
``SEND_UNJOINED_FROM`` bytes long as it is (the data set is never copied
into one ``bytes``), and joins runs of small buffers so that a short message
is still one write.  The bytes on the wire, in order, are the same either way.
"""

from __future__ import annotations

import anyio
import anyio.abc
import pytest
from dicomul_anyio._driver import SEND_UNJOINED_FROM, Driver

from dicomul import (
    AcceptAssociation,
    AcceptorConfig,
    AssociationRequest,
    Connection,
    RequestAssociation,
    Role,
    SupportedContext,
    c_echo_rq,
    c_store_rq,
    propose_contexts,
)
from dicomul.testing.pair import ACCEPTOR, REQUESTOR, ConnectionPair

pytestmark = pytest.mark.anyio

VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
IMPLICIT = "1.2.840.10008.1.2"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class RecordingStream(anyio.abc.ByteStream):
    """A byte stream that keeps every object ``send`` was given, as given."""

    def __init__(self) -> None:
        self.sent: list[object] = []

    async def send(self, item: bytes) -> None:
        self.sent.append(item)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        raise anyio.EndOfStream

    async def send_eof(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def associated(max_pdu_length: int) -> ConnectionPair:
    """A requestor and acceptor with an association up; the acceptor takes
    PDUs of ``max_pdu_length`` bytes."""
    pair = ConnectionPair(requestor=Connection(Role.REQUESTOR), acceptor=Connection(Role.ACCEPTOR))
    request = AssociationRequest(
        calling_ae_title="SCU",
        called_ae_title="SCP",
        contexts=propose_contexts([VERIFICATION, CT], [IMPLICIT]),
    )
    pair.send(REQUESTOR, RequestAssociation(request=request))
    pair.connect()
    pair.pump()
    config = AcceptorConfig(
        ae_title="SCP",
        max_pdu_length=max_pdu_length,
        supported={
            VERIFICATION: SupportedContext(transfer_syntaxes=(IMPLICIT,)),
            CT: SupportedContext(transfer_syntaxes=(IMPLICIT,)),
        },
    )
    pair.send(ACCEPTOR, AcceptAssociation(config=config))
    pair.pump()
    assert pair.requestor.can_send_messages
    return pair


def as_bytes(sent: list[object]) -> bytes:
    return b"".join(bytes(item) for item in sent)  # type: ignore[call-overload]


async def test_a_large_data_set_goes_out_as_views_of_itself(anyio_backend: str) -> None:
    pair = associated(max_pdu_length=1 << 20)
    conn = pair.requestor
    data_set = bytes(range(256)) * (3 * 1024 * 3)  # 2.25 MiB: 3 PDUs of about 1 MiB
    stream = RecordingStream()
    driver = Driver(stream, conn)
    await driver.send_message(3, c_store_rq(1, CT, "1.2.3"), data_set)

    # The same message queued again, the reference way: one joined bytes.
    reference = associated(max_pdu_length=1 << 20).requestor
    reference.send_message(3, c_store_rq(1, CT, "1.2.3"), data_set, now=0.0)
    assert as_bytes(stream.sent) == reference.data_to_send()

    views = [item for item in stream.sent if isinstance(item, memoryview)]
    assert len(views) == 3  # every fragment of the data set, unjoined
    assert all(view.obj is data_set for view in views)  # views of it: never copied
    assert b"".join(views) == data_set
    # The small buffers (command PDU, each PDU's header) were joined, not
    # written one by one: at most one write before each view, one at the start.
    assert len(stream.sent) <= 2 * len(views) + 1
    assert not conn.data_pending


async def test_a_short_message_is_one_write(anyio_backend: str) -> None:
    pair = associated(max_pdu_length=16384)
    stream = RecordingStream()
    driver = Driver(stream, pair.requestor)
    await driver.send_message(1, c_echo_rq(1))
    (written,) = stream.sent
    assert isinstance(written, bytes)
    pair.write(REQUESTOR, written)
    (received,) = pair.pump()[ACCEPTOR]
    assert type(received).__name__ == "CommandReceived"


async def test_small_fragments_are_joined_into_bounded_writes(anyio_backend: str) -> None:
    # 16 KiB PDUs: each fragment is below SEND_UNJOINED_FROM, so they are
    # joined, into writes of about that size (never the whole data set).
    pair = associated(max_pdu_length=16384)
    data_set = bytes(range(256)) * 4096  # 1 MiB
    stream = RecordingStream()
    driver = Driver(stream, pair.requestor)
    await driver.send_message(3, c_store_rq(1, CT, "1.2.3"), data_set)
    assert all(isinstance(item, bytes) for item in stream.sent)
    sizes = [len(item) for item in stream.sent]  # type: ignore[arg-type]
    assert max(sizes) < SEND_UNJOINED_FROM + 16384 + 12
    assert len(sizes) >= len(data_set) // (SEND_UNJOINED_FROM + 16384 + 12)
    reference = associated(max_pdu_length=16384).requestor
    reference.send_message(3, c_store_rq(1, CT, "1.2.3"), data_set, now=0.0)
    assert as_bytes(stream.sent) == reference.data_to_send()
