"""pynetdicom's negotiation item classes on dicomul_sync (issue 17).

One program, written as a pynetdicom 3 user writes it, builds each
extended negotiation item attribute by attribute (SCP/SCU role selection,
user identity, asynchronous operations window, SOP class extended and SOP
class common extended negotiation: PS3.7 D.3.3.3 to D.3.3.7) and lists
them in ``associate(ext_neg=...)``.  It runs as its own process twice:
with pynetdicom's imports (the reference) and with dicomul_sync's (only
the imports changed), each against pynetdicom 3 as the acceptor and
against dicomul_sync.  The acceptor must see the same sub-items in the
A-ASSOCIATE-RQ from both, its handlers the same values, and answer the
same roles.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from peers import free_port

from dicomul import pdu
from dicomul.pdu import (
    AsynchronousOperationsWindowSubItem,
    RoleSelectionSubItem,
    SOPClassCommonExtendedNegotiationSubItem,
    SOPClassExtendedNegotiationSubItem,
    UserIdentityRQSubItem,
)

HOST = "127.0.0.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
FIND = "1.2.840.10008.5.1.4.1.2.1.1"
STORAGE_SERVICE = "1.2.840.10008.4.2"

PROGRAM = """
import json
import sys

from pynetdicom import AE
from pynetdicom.pdu_primitives import (
    AsynchronousOperationsWindowNegotiation,
    SCP_SCU_RoleSelectionNegotiation,
    SOPClassCommonExtendedNegotiation,
    SOPClassExtendedNegotiation,
    UserIdentityNegotiation,
)

CT = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
FIND = "1.2.840.10008.5.1.4.1.2.1.1"

ae = AE(ae_title="EXTNEG_SCU")
for uid in (CT, ENHANCED_CT, FIND):
    ae.add_requested_context(uid)

role = SCP_SCU_RoleSelectionNegotiation()
role.sop_class_uid = CT
role.scu_role = True
role.scp_role = True

identity = UserIdentityNegotiation()
identity.user_identity_type = 2
identity.primary_field = b"alice"
identity.secondary_field = b"wonderland"
identity.positive_response_requested = True

window = AsynchronousOperationsWindowNegotiation()
window.maximum_number_operations_invoked = 3
window.maximum_number_operations_performed = 2

extended = SOPClassExtendedNegotiation()
extended.sop_class_uid = FIND
extended.service_class_application_information = b"\\x01\\x01"

common = SOPClassCommonExtendedNegotiation()
common.sop_class_uid = ENHANCED_CT
common.service_class_uid = "1.2.840.10008.4.2"
common.related_general_sop_class_identification = [CT]

assoc = ae.associate(
    "127.0.0.1",
    int(sys.argv[1]),
    ae_title="XN_ACCEPTOR",
    ext_neg=[role, identity, window, extended, common],
)
print(json.dumps({"established": assoc.is_established}))
if assoc.is_established:
    assoc.release()
"""

IMPORTS = {
    "pynetdicom": ("from pynetdicom import", "from pynetdicom.pdu_primitives import"),
    "dicomul_sync": ("from dicomul_sync import", "from dicomul_sync.pdu_primitives import"),
}


def program(flavour: str) -> str:
    """The program with ``flavour``'s imports: nothing else differs."""
    ae_import, primitives_import = IMPORTS[flavour]
    return PROGRAM.replace("from pynetdicom import", ae_import).replace(
        "from pynetdicom.pdu_primitives import", primitives_import
    )


def run(flavour: str, port: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", program(flavour), str(port)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


class Acceptor:
    """What an acceptor was asked and answered: the negotiation sub-items of
    each A-ASSOCIATE-RQ received and the role items of each AC sent (as
    dicomul decodes the bytes), and what its handlers were given."""

    def __init__(self) -> None:
        self.requests: list[list[str]] = []
        self.answers: list[list[str]] = []
        self.handlers: list[tuple[str, Any]] = []
        self.done = threading.Event()

    def pdu_received(self, encoded: bytes) -> None:
        decoded = pdu.decode(encoded)
        if isinstance(decoded, pdu.AssociateRQ):
            self.requests.append(_negotiation(decoded))

    def pdu_sent(self, encoded: bytes) -> None:
        decoded = pdu.decode(encoded)
        if isinstance(decoded, pdu.AssociateAC):
            self.answers.append(_negotiation(decoded))
            self.done.set()


def _negotiation(associate: pdu.AssociateRQ | pdu.AssociateAC) -> list[str]:
    """The extended negotiation sub-items (PS3.7 D.3.3.3 to D.3.3.7), in a
    stable order (the order of sub-items is free)."""
    kinds = (
        AsynchronousOperationsWindowSubItem,
        RoleSelectionSubItem,
        SOPClassExtendedNegotiationSubItem,
        SOPClassCommonExtendedNegotiationSubItem,
        UserIdentityRQSubItem,
    )
    info = associate.user_information
    assert info is not None
    return sorted(repr(sub) for sub in info.sub_items if isinstance(sub, kinds))


def pynetdicom_acceptor(acceptor: Acceptor) -> Callable[[], Iterator[int]]:
    def serve() -> Iterator[int]:
        import pynetdicom
        from pynetdicom import evt

        logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
        ae = pynetdicom.AE(ae_title="XN_ACCEPTOR")
        ae.add_supported_context(CT, scu_role=True, scp_role=True)
        ae.add_supported_context(ENHANCED_CT)
        ae.add_supported_context(FIND)
        port = free_port()
        server = ae.start_server((HOST, port), block=False, evt_handlers=handlers(acceptor, evt))
        try:
            yield port
        finally:
            server.shutdown()

    return serve


def dicomul_acceptor(acceptor: Acceptor) -> Callable[[], Iterator[int]]:
    def serve() -> Iterator[int]:
        from dicomul_sync import AE, evt

        ae = AE(ae_title="XN_ACCEPTOR")
        ae.bind_address = HOST
        ae.port = 0
        ae.add_supported_context(CT, scu_role=True, scp_role=True)
        ae.add_supported_context(ENHANCED_CT)
        ae.add_supported_context(FIND)
        ae.start(block=False, evt_handlers=handlers(acceptor, evt))
        try:
            yield ae.port
        finally:
            ae.stop(abort=True)

    return serve


def handlers(acceptor: Acceptor, evt: Any) -> list[tuple[Any, Any]]:
    """The same handlers, written once for both libraries' events."""

    def encoded(item: Any) -> bytes:
        """pynetdicom's PDU object encodes itself; dicomul_sync's is dicomul's."""
        return bytes(item.encode()) if hasattr(item, "encode") else pdu.encode(item)

    def on_pdu_received(event: Any) -> None:
        acceptor.pdu_received(encoded(event.pdu))

    def on_pdu_sent(event: Any) -> None:
        acceptor.pdu_sent(encoded(event.pdu))

    def on_user_id(event: Any) -> tuple[bool, bytes]:
        acceptor.handlers.append(
            ("user_id", (event.user_id_type, event.primary_field, event.secondary_field))
        )
        return True, b""

    def on_async_ops(event: Any) -> tuple[int, int]:
        acceptor.handlers.append(("async_ops", (event.nr_invoked, event.nr_performed)))
        return 1, 1

    def on_sop_extended(event: Any) -> dict[str, bytes]:
        acceptor.handlers.append(("sop_extended", {str(k): v for k, v in event.app_info.items()}))
        return {}

    def on_sop_common(event: Any) -> dict[str, Any]:
        items = {
            str(uid): (
                str(item.service_class_uid),
                [str(related) for related in item.related_general_sop_class_identification],
            )
            for uid, item in event.items.items()
        }
        acceptor.handlers.append(("sop_common", items))
        return dict(event.items)

    return [
        (evt.EVT_PDU_RECV, on_pdu_received),
        (evt.EVT_PDU_SENT, on_pdu_sent),
        (evt.EVT_USER_ID, on_user_id),
        (evt.EVT_ASYNC_OPS, on_async_ops),
        (evt.EVT_SOP_EXTENDED, on_sop_extended),
        (evt.EVT_SOP_COMMON, on_sop_common),
    ]


@pytest.mark.parametrize("acceptor_kind", ["pynetdicom", "dicomul_sync"])
def test_the_same_program_negotiates_the_same_with_only_the_import_changed(
    acceptor_kind: str,
) -> None:
    seen: dict[str, Acceptor] = {}
    for flavour in ("pynetdicom", "dicomul_sync"):
        acceptor = Acceptor()
        make = pynetdicom_acceptor if acceptor_kind == "pynetdicom" else dicomul_acceptor
        serving = make(acceptor)()
        port = next(serving)
        try:
            assert run(flavour, port) == {"established": True}
            assert acceptor.done.wait(5)
        finally:
            serving.close()
        seen[flavour] = acceptor
    reference, ours = seen["pynetdicom"], seen["dicomul_sync"]
    assert len(ours.requests) == 1
    # Every item is in the request, as pynetdicom puts it there.
    assert ours.requests == reference.requests
    assert len(ours.requests[0]) == 5
    # The acceptor's handlers were given the same values.
    assert sorted(ours.handlers, key=repr) == sorted(reference.handlers, key=repr)
    assert dict(ours.handlers) == {
        "user_id": (2, b"alice", b"wonderland"),
        "async_ops": (3, 2),
        "sop_extended": {FIND: b"\x01\x01"},
        "sop_common": {ENHANCED_CT: (STORAGE_SERVICE, [CT])},
    }
    # It answered the role selection (and the rest) the same way.
    assert ours.answers == reference.answers
    assert any("RoleSelection" in item for item in ours.answers[0])
