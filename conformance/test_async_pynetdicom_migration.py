"""The async adapters' share of issue 17 against pynetdicom 3 as the peer,
on asyncio and on trio: DIMSE priority as pynetdicom's SCP receives it,
user identity both ways (PS3.7 D.3.3.7: a pynetdicom requestor's
UserIdentityNegotiation into our async server, whose handler answers a
server response; our async client into pynetdicom's EVT_USER_ID handler),
presentation contexts by SOP class with their transfer syntaxes and roles
(PS3.7 D.3.3.4) in both roles, and IPv6 on ::1.  The blocking adapter's
are in test_sync_migration.py.
"""

from __future__ import annotations

import functools
from typing import Any

import anyio
import anyio.to_thread
import pytest
from _adapters import ASYNC, HOST
from dicomul_anyio import Handlers, connect
from peers import pynetdicom_scp, pynetdicom_scu
from pydicom.dataset import Dataset
from pynetdicom import build_role, evt
from pynetdicom.pdu_primitives import UserIdentityNegotiation
from test_async_server import running
from test_sync_migration import PynetdicomIdentities, ipv6_loopback_problem, priority_recorders

from dicomul import ContextSetting, Priority

pytestmark = pytest.mark.anyio

VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
US = "1.2.840.10008.5.1.4.1.1.6.1"
FIND_P = "1.2.840.10008.5.1.4.1.2.1.1"
MOVE_P = "1.2.840.10008.5.1.4.1.2.1.2"
GET_P = "1.2.840.10008.5.1.4.1.2.1.3"
IMPLICIT, EXPLICIT = "1.2.840.10008.1.2", "1.2.840.10008.1.2.1"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"


@pytest.fixture(params=ASYNC)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def ct(instance: str = "1.2.3.4.5") -> Dataset:
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = CT, instance
    ds.PatientName, ds.PatientID = "DOE^JOHN", "P1"
    return ds


def query() -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel, ds.PatientID = "PATIENT", "P1"
    return ds


# --------------------------------------------------------------- priority


@pytest.mark.parametrize(
    ("given", "on_the_wire"),
    [({}, 0x0000), ({"priority": Priority.LOW}, 0x0002), ({"priority": "HIGH"}, 0x0001)],
)
async def test_pynetdicom_scp_sees_the_priority_of_each_request(
    anyio_backend: str, given: dict[str, Any], on_the_wire: int
) -> None:
    """Priority (0000,0700) of C-STORE, C-FIND, C-GET and C-MOVE (PS3.7 9.1)."""
    seen: dict[str, int] = {}
    handlers = priority_recorders(seen)
    with pynetdicom_scp("THEIRSCP", [CT, FIND_P, MOVE_P, GET_P], handlers) as port:
        async with connect(
            HOST, port, called_ae_title="THEIRSCP", sop_classes=[CT, FIND_P, GET_P, MOVE_P]
        ) as assoc:

            async def keep(dataset: Dataset) -> int:
                return 0x0000

            assert (await assoc.c_store(ct(), **given)).Status == 0x0000
            assert [s async for s, _ in assoc.c_find(query(), **given)] == [0x0000]
            assert [s async for s, _ in assoc.c_get(query(), on_c_store=keep, **given)] == [0]
            [s async for s, _ in assoc.c_move(query(), "NOWHERE", **given)]
    assert seen == dict.fromkeys(("store", "find", "get", "move"), on_the_wire)


# ---------------------------------------------------------- user identity


def pynetdicom_identity(
    kind: int, primary: bytes, secondary: bytes | None = None, *, response: bool = False
) -> UserIdentityNegotiation:
    item = UserIdentityNegotiation()
    item.user_identity_type = kind
    item.primary_field = primary
    if secondary is not None:
        item.secondary_field = secondary
    item.positive_response_requested = response
    return item


async def test_pynetdicom_requestor_identity_into_our_async_server(anyio_backend: str) -> None:
    """Our async handler decides (after awaiting, as a directory lookup
    would) and answers a JWT with a server response pynetdicom receives;
    a refused identity is rejected 1/2/1 (PS3.7 D.3.3.7.3)."""
    seen: list[tuple[int, bytes, bytes, bool, str]] = []

    async def on_user_identity(identity: Any, calling_ae_title: str) -> object:
        await anyio.sleep(0.01)
        seen.append(
            (
                identity.identity_type,
                identity.primary_field,
                identity.secondary_field,
                bool(identity.positive_response_requested),
                calling_ae_title,
            )
        )
        if identity.identity_type == 5:
            return identity.primary_field == b"good-token", b"server-says-hello"
        return (identity.primary_field, identity.secondary_field) == (b"bob", b"secret")

    def associate(port: int, item: UserIdentityNegotiation) -> tuple[bool, Any, Any]:
        peer = pynetdicom_scu("THEIRSCU", {VERIFICATION: None})
        assoc = peer.associate(HOST, port, ae_title="ASYNCSCP", ext_neg=[item])
        if not assoc.is_established:
            return False, None, assoc.is_rejected
        answer = assoc.acceptor.user_identity
        status = assoc.send_c_echo()
        assoc.release()
        return True, None if answer is None else answer.server_response, status.Status

    handlers = Handlers(on_user_identity=on_user_identity)
    async with running(anyio_backend, handlers) as port:
        call = functools.partial(anyio.to_thread.run_sync, associate, port)
        jwt = await call(pynetdicom_identity(5, b"good-token", response=True))
        bob = await call(pynetdicom_identity(2, b"bob", b"secret", response=True))
        wrong = await call(pynetdicom_identity(2, b"bob", b"wrong"))
    assert jwt == (True, b"server-says-hello", 0x0000)
    # PS3.7 Table D.3-15: a zero-length response for the username types.
    assert bob == (True, b"", 0x0000)
    assert wrong == (False, None, True)
    assert seen == [
        (5, b"good-token", b"", True, "THEIRSCU"),
        (2, b"bob", b"secret", True, "THEIRSCU"),
        (2, b"bob", b"wrong", False, "THEIRSCU"),
    ]


async def test_our_async_requestor_identities_as_pynetdicom_sees_them(
    anyio_backend: str,
) -> None:
    """Username, username and passcode, Kerberos, SAML and JWT, with or
    without a positive response; pynetdicom's EVT_USER_ID handler decides
    and its server response comes back."""
    from dicomul_anyio import AssociationRejectedError

    case = PynetdicomIdentities()
    responses = []
    with pynetdicom_scp("THEIRSCP", [VERIFICATION], case.handlers) as port:
        our = functools.partial(
            connect, HOST, port, called_ae_title="THEIRSCP", sop_classes=[VERIFICATION]
        )
        for identity, _ in case.cases:
            async with our(user_identity=identity) as assoc:
                responses.append(assoc.user_identity_response)
                assert (await assoc.c_echo()).Status == 0x0000
        with pytest.raises(AssociationRejectedError):
            async with our(user_identity=case.refused):
                pass
    assert responses == [response for _, response in case.cases]
    assert case.seen == list(PynetdicomIdentities.EXPECTED)


# ---------------------------------------- presentation contexts by SOP class


async def test_requested_contexts_each_with_its_syntaxes_into_pynetdicom(
    anyio_backend: str,
) -> None:
    proposed: list[tuple[str, list[str]]] = []

    def on_requested(event: Any) -> None:
        for context in event.assoc.requestor.requested_contexts:
            proposed.append(
                (str(context.abstract_syntax), [str(t) for t in context.transfer_syntax])
            )

    requested = [
        ContextSetting(abstract_syntax=CT, transfer_syntaxes=(JPEG_BASELINE,)),
        ContextSetting(abstract_syntax=CT, transfer_syntaxes=(EXPLICIT, IMPLICIT)),
        ContextSetting(abstract_syntax=MR),
    ]
    handlers = [(evt.EVT_REQUESTED, on_requested), (evt.EVT_C_STORE, lambda _: 0x0000)]
    with pynetdicom_scp(
        "THEIRSCP", [VERIFICATION, CT], handlers, transfer_syntaxes=[EXPLICIT]
    ) as port:
        async with connect(
            HOST,
            port,
            called_ae_title="THEIRSCP",
            sop_classes=[VERIFICATION],
            requested_contexts=requested,
        ) as assoc:
            accepted = [(c.abstract_syntax, c.transfer_syntax) for c in assoc.accepted_contexts]
            rejected = [(c.abstract_syntax, int(c.result)) for c in assoc.rejected_contexts]
            assert (await assoc.c_store(ct())).Status == 0x0000
    default = [EXPLICIT, IMPLICIT]  # connect's transfer_syntaxes
    assert proposed == [
        (CT, [JPEG_BASELINE]),
        (CT, [EXPLICIT, IMPLICIT]),
        (MR, default),
        (VERIFICATION, default),
    ]
    assert accepted == [(CT, EXPLICIT), (VERIFICATION, EXPLICIT)]
    assert rejected == [(CT, 4), (MR, 3)]  # transfer syntaxes, abstract syntax not supported


async def test_c_get_with_a_requested_scp_role_from_pynetdicom(anyio_backend: str) -> None:
    """pynetdicom 2's C-GET SCU set-up, in the async client: the model and
    the storage class requested, the SCP role proposed for the latter."""

    def on_get(event: Any) -> Any:
        from pydicom.dataset import FileMetaDataset

        match = ct()
        match.file_meta = FileMetaDataset()
        match.file_meta.TransferSyntaxUID = IMPLICIT
        yield 1
        yield 0xFF00, match

    stored: list[str] = []

    async def on_c_store(dataset: Dataset) -> int:
        stored.append(dataset.SOPInstanceUID)
        return 0x0000

    requested = [
        ContextSetting(abstract_syntax=GET_P),
        ContextSetting(abstract_syntax=CT, scu_role=False, scp_role=True),
    ]
    with pynetdicom_scp("THEIRSCP", [GET_P], [(evt.EVT_C_GET, on_get)], both_roles=[CT]) as port:
        async with connect(
            HOST, port, called_ae_title="THEIRSCP", sop_classes=[], requested_contexts=requested
        ) as assoc:
            (context,) = [c for c in assoc.accepted_contexts if c.abstract_syntax == CT]
            statuses = [s async for s, _ in assoc.c_get(query(), GET_P, on_c_store=on_c_store)]
    assert (context.requestor_is_scu, context.requestor_is_scp) == (False, True)
    assert statuses[-1] == 0x0000
    assert stored == ["1.2.3.4.5"]


async def test_our_supported_contexts_decide_syntaxes_and_roles_for_pynetdicom(
    anyio_backend: str,
) -> None:
    supported = [
        ContextSetting(abstract_syntax=CT, transfer_syntaxes=(EXPLICIT,), scp_role=True),
        ContextSetting(abstract_syntax=MR, transfer_syntaxes=(IMPLICIT, EXPLICIT)),
    ]

    def associate(port: int) -> tuple[set[tuple[str, str, bool, bool]], set[tuple[str, int]]]:
        peer = pynetdicom_scu("THEIRSCU", {CT: [IMPLICIT, EXPLICIT], MR: [EXPLICIT, IMPLICIT]})
        peer.add_requested_context(US, [IMPLICIT])
        peer.add_requested_context(CT, [IMPLICIT])
        peer.add_requested_context(MR, [IMPLICIT])
        roles = [build_role(CT, scu_role=True, scp_role=True), build_role(MR, scp_role=True)]
        assoc = peer.associate(HOST, port, ae_title="ASYNCSCP", ext_neg=roles)
        assert assoc.is_established
        accepted = {
            (str(c.abstract_syntax), str(c.transfer_syntax[0]), c.as_scu, c.as_scp)
            for c in assoc.accepted_contexts
        }
        rejected = {(str(c.abstract_syntax), c.result) for c in assoc.rejected_contexts}
        assoc.release()
        return accepted, rejected

    async with running(
        anyio_backend, Handlers(), scp_sop_classes=[VERIFICATION], supported_contexts=supported
    ) as port:
        accepted, rejected = await anyio.to_thread.run_sync(associate, port)
    # CT: Explicit only, and the requestor may be SCP too.  MR proposes only
    # the SCP role, which it may not take (no role left: user rejection).
    assert accepted == {(CT, EXPLICIT, True, True)}
    assert rejected == {(US, 3), (CT, 4), (MR, 1)}


# ------------------------------------------------------------------- IPv6


def needs_ipv6() -> None:
    problem = ipv6_loopback_problem()
    if problem is not None:
        pytest.skip(problem)


async def test_our_async_server_on_ipv6_loopback_serves_pynetdicom(anyio_backend: str) -> None:
    needs_ipv6()
    addresses: list[str] = []

    def echo(port: int) -> int | None:
        peer = pynetdicom_scu("THEIRSCU", {VERIFICATION: None})
        assoc = peer.associate("::1", port, ae_title="ASYNCSCP")
        if not assoc.is_established:
            return None
        status = assoc.send_c_echo()
        assoc.release()
        return int(status.Status)

    def accepted(negotiated: Any) -> None:
        addresses.append(negotiated.calling_ae_title)

    handlers = Handlers(on_association_accepted=accepted)
    async with running(anyio_backend, handlers, host="::1") as port:
        assert await anyio.to_thread.run_sync(echo, port) == 0x0000
    assert addresses == ["THEIRSCU"]


async def test_our_async_client_over_ipv6_to_pynetdicom(anyio_backend: str) -> None:
    needs_ipv6()
    seen: list[str] = []

    def on_echo(event: Any) -> int:
        seen.append(event.assoc.requestor.address)
        return 0x0000

    with pynetdicom_scp(
        "THEIRSCP", [VERIFICATION], [(evt.EVT_C_ECHO, on_echo)], host="::1"
    ) as port:
        async with connect(
            "::1", port, called_ae_title="THEIRSCP", sop_classes=[VERIFICATION]
        ) as assoc:
            assert (await assoc.c_echo()).Status == 0x0000
    assert seen == ["::1"]
