"""The async adapters' share of issue 17, between our own async client and
server, on asyncio and on trio: DIMSE priority, user identity both ways
(PS3.7 D.3.3.7), presentation contexts by SOP class with their roles
(PS3.7 D.3.3.4), the implementation identifiers (PS3.7 D.3.3.2) and IPv6.
The same against pynetdicom is conformance/test_async_pynetdicom_migration.py.
"""

from __future__ import annotations

import contextlib
import functools
import socket
from collections.abc import AsyncIterator
from typing import Any

import anyio
import dicomul_asyncio
import dicomul_trio
import pytest
from dicomul_anyio import (
    AssociationRejectedError,
    Handlers,
    NoAcceptedContextError,
    connect,
    current_request,
    serve,
)
from pydicom.dataset import Dataset

from dicomul import ContextSetting, Priority, UserIdentity

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
OUR_UID = "1.2.826.0.1.3680043.9.7777.2"
HOST = "127.0.0.1"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextlib.asynccontextmanager
async def running(handlers: Handlers, host: str = HOST, **options: Any) -> AsyncIterator[int]:
    """``serve`` on a free port of ``host``; cancelled on leaving."""
    options.setdefault("ae_title", "ASYNCSCP")
    async with anyio.create_task_group() as group:
        port = await group.start(functools.partial(serve, handlers, port=0, host=host, **options))
        yield port
        group.cancel_scope.cancel()


def ct(instance: str = "1.2.3.4.5") -> Dataset:
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = CT, instance
    ds.PatientName, ds.PatientID = "DOE^JOHN", "P1"
    return ds


def query() -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel, ds.PatientID = "PATIENT", "P1"
    return ds


def test_both_frameworks_export_the_same_api() -> None:
    assert dicomul_asyncio.connect is dicomul_trio.connect is connect


# --------------------------------------------------------------- priority


@pytest.mark.parametrize(
    ("given", "on_the_wire"),
    [({}, Priority.MEDIUM), ({"priority": Priority.LOW}, 2), ({"priority": "high"}, 1)],
)
async def test_each_dimse_c_request_carries_the_priority_given(
    anyio_backend: str, given: dict[str, Any], on_the_wire: int
) -> None:
    seen: dict[str, int | None] = {}

    def note(name: str) -> None:
        seen[name] = current_request().command.priority

    def on_c_store(dataset: Dataset) -> int:
        note("store")
        return 0x0000

    def on_c_find(identifier: Dataset) -> Any:
        note("find")
        return []

    def on_c_get(identifier: Dataset) -> Any:
        note("get")
        return []

    def on_c_move(identifier: Dataset, move_aet: str) -> Any:
        note("move")
        return []

    handlers = Handlers(
        on_c_store=on_c_store,
        on_c_find=on_c_find,
        on_c_get=on_c_get,
        on_c_move=on_c_move,
        move_destinations={"ELSEWHERE": (HOST, 9)},
    )
    async with (
        running(handlers) as port,
        connect(HOST, port, sop_classes=[CT, FIND_P, GET_P, MOVE_P]) as assoc,
    ):
        assert (await assoc.c_store(ct(), **given)).Status == 0x0000
        assert [s async for s, _ in assoc.c_find(query(), **given)] == [0x0000]
        assert [s async for s, _ in assoc.c_get(query(), on_c_store=on_c_store, **given)] == [0]
        assert [s async for s, _ in assoc.c_move(query(), "ELSEWHERE", **given)] == [0x0000]
    assert seen == dict.fromkeys(("store", "find", "get", "move"), on_the_wire)


@pytest.mark.parametrize("bad", [3, "URGENT", -1])
async def test_a_bad_priority_is_refused_before_anything_is_sent(
    anyio_backend: str, bad: object
) -> None:
    served: list[str] = []
    handlers = Handlers(on_c_store=lambda ds: served.append("store"), on_c_find=lambda q: [])
    async with running(handlers) as port, connect(HOST, port, sop_classes=[CT, FIND_P]) as assoc:
        with pytest.raises(ValueError, match="priority"):
            await assoc.c_store(ct(), priority=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="priority"):
            assoc.c_find(query(), priority=bad)  # type: ignore[arg-type]
        assert [s async for s, _ in assoc.c_find(query())] == [0x0000]  # still usable
    assert served == []


# ---------------------------------------------------------- user identity


def checker(seen: list[tuple[int, bytes, bytes, bool, str]]) -> Any:
    """An async identity handler (as one asking a directory would be):
    bob/secret passes; a JWT 'good-token' passes with a server response."""

    async def on_user_identity(identity: Any, calling_ae_title: str) -> object:
        await anyio.sleep(0)  # it may await I/O
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

    return on_user_identity


async def test_user_identity_decided_by_an_async_handler_with_a_server_response(
    anyio_backend: str,
) -> None:
    seen: list[tuple[int, bytes, bytes, bool, str]] = []
    async with running(Handlers(on_user_identity=checker(seen))) as port:
        good = UserIdentity.username("bob", "secret", positive_response_requested=True)
        async with connect(HOST, port, ae_title="ME", user_identity=good) as assoc:
            assert assoc.user_identity_response == b""  # PS3.7 D.3.3.7.2: empty for types 1, 2
            assert (await assoc.c_echo()).Status == 0x0000
        jwt = UserIdentity.jwt("good-token", positive_response_requested=True)
        async with connect(HOST, port, user_identity=jwt) as assoc:
            assert assoc.user_identity_response == b"server-says-hello"
        async with connect(HOST, port, user_identity=UserIdentity.jwt("good-token")) as assoc:
            assert assoc.user_identity_response is None  # not asked for
        with pytest.raises(AssociationRejectedError) as rejected:
            async with connect(HOST, port, user_identity=UserIdentity.username("bob", "x")):
                pass
        async with connect(HOST, port) as assoc:  # no identity: nothing to check
            assert assoc.user_identity_response is None
    pdu = rejected.value.event.pdu
    assert (pdu.result, pdu.source, pdu.reason) == (1, 2, 1)  # PS3.7 D.3.3.7.3
    assert seen == [
        (2, b"bob", b"secret", True, "ME"),
        (5, b"good-token", b"", True, "DICOMUL"),
        (5, b"good-token", b"", False, "DICOMUL"),
        (2, b"bob", b"x", False, "DICOMUL"),
    ]


async def test_a_slow_identity_check_holds_up_no_other_peer_and_a_raise_rejects(
    anyio_backend: str,
) -> None:
    go_on = anyio.Event()

    async def on_user_identity(identity: Any, calling_ae_title: str) -> bool:
        if identity.primary_field == b"slow":
            await go_on.wait()
            return True
        raise RuntimeError("directory unreachable")

    results: list[bool] = []
    async with running(Handlers(on_user_identity=on_user_identity)) as port:

        async def slow() -> None:
            async with connect(HOST, port, user_identity=UserIdentity.username("slow")) as assoc:
                results.append(assoc.is_established)

        async with anyio.create_task_group() as group:
            group.start_soon(slow)
            async with connect(HOST, port) as other:  # served while the check waits
                assert (await other.c_echo()).Status == 0x0000
            with pytest.raises(AssociationRejectedError) as rejected:
                async with connect(HOST, port, user_identity=UserIdentity.username("eve")):
                    pass
            assert results == []
            go_on.set()
    assert results == [True]
    assert (rejected.value.event.pdu.result, rejected.value.event.pdu.source) == (1, 2)


async def test_a_check_that_outlasts_the_acse_timeout_rejects(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def never(identity: Any, calling_ae_title: str) -> bool:
        await anyio.sleep_forever()
        raise AssertionError

    async with running(Handlers(on_user_identity=never), acse_timeout=0.3) as port:
        with pytest.raises(AssociationRejectedError):
            async with connect(HOST, port, user_identity=UserIdentity.username("x")):
                pass
    assert "took longer than the ACSE timeout (0.3 s)" in caplog.text


# ------------------------------------------- presentation contexts by class


async def test_requested_and_supported_contexts_each_with_their_syntaxes(
    anyio_backend: str,
) -> None:
    supported = [
        ContextSetting(abstract_syntax=CT, transfer_syntaxes=(EXPLICIT,)),
        ContextSetting(abstract_syntax=MR, transfer_syntaxes=(IMPLICIT, EXPLICIT)),
    ]
    requested = [
        ContextSetting(abstract_syntax=CT, transfer_syntaxes=(JPEG_BASELINE,)),
        ContextSetting(abstract_syntax=CT, transfer_syntaxes=(IMPLICIT, EXPLICIT)),
        ContextSetting(abstract_syntax=MR, transfer_syntaxes=(EXPLICIT, IMPLICIT)),
        ContextSetting(abstract_syntax=US),
    ]
    stored: list[str] = []
    handlers = Handlers(on_c_store=lambda ds: stored.append(ds.file_meta.TransferSyntaxUID))
    async with (
        running(handlers, scp_sop_classes=[VERIFICATION], supported_contexts=supported) as port,
        connect(HOST, port, sop_classes=[VERIFICATION], requested_contexts=requested) as assoc,
    ):
        accepted = [(c.abstract_syntax, c.transfer_syntax) for c in assoc.accepted_contexts]
        rejected = [(c.abstract_syntax, int(c.result)) for c in assoc.rejected_contexts]
        assert (await assoc.c_store(ct())).Status == 0x0000
        with pytest.raises(NoAcceptedContextError, match="rejected it: abstract syntax"):
            await assoc.c_store(_us())
    assert accepted == [(CT, EXPLICIT), (MR, IMPLICIT), (VERIFICATION, EXPLICIT)]
    # JPEG only: transfer syntaxes not supported (4); US: abstract syntax (3).
    assert rejected == [(CT, 4), (US, 3)]
    assert stored == [EXPLICIT]


def _us() -> Dataset:
    ds = ct("1.2.3.4.6")
    ds.SOPClassUID = US
    return ds


async def test_supported_roles_decide_what_the_requestor_may_be(anyio_backend: str) -> None:
    """PS3.7 D.3.3.4: CT lets the requestor be SCP too, MR does not (its
    context proposing only the SCP role is rejected, no role left)."""
    supported = [
        ContextSetting(abstract_syntax=CT, scu_role=True, scp_role=True),
        ContextSetting(abstract_syntax=MR),
    ]
    requested = [
        ContextSetting(abstract_syntax=CT, scu_role=True, scp_role=True),
        ContextSetting(abstract_syntax=MR, scu_role=False, scp_role=True),
    ]
    async with (
        running(Handlers(), supported_contexts=supported) as port,
        connect(HOST, port, sop_classes=[VERIFICATION], requested_contexts=requested) as assoc,
    ):
        ct_context = next(c for c in assoc.accepted_contexts if c.abstract_syntax == CT)
        rejected = [(c.abstract_syntax, int(c.result)) for c in assoc.rejected_contexts]
    assert (ct_context.requestor_is_scu, ct_context.requestor_is_scp) == (True, True)
    assert rejected == [(MR, 1)]


# ------------------------------------------------- implementation identity


async def test_implementation_identifiers_both_ways_and_in_file_meta(anyio_backend: str) -> None:
    negotiated: list[Any] = []
    metas: list[Any] = []
    handlers = Handlers(
        on_association_accepted=negotiated.append,
        on_c_store=lambda ds: metas.append(ds.file_meta) or 0x0000,
    )
    async with (
        running(
            handlers,
            implementation_class_uid=OUR_UID,
            implementation_version_name="SCP_1.0",
        ) as port,
        connect(
            HOST,
            port,
            sop_classes=[CT],
            implementation_class_uid=OUR_UID + ".1",
            implementation_version_name=None,
        ) as assoc,
    ):
        assert assoc.negotiated.acceptor_implementation == (OUR_UID, "SCP_1.0")
        assert (await assoc.c_store(ct())).Status == 0x0000
    assert negotiated[0].requestor_implementation == (OUR_UID + ".1", None)
    assert (metas[0].ImplementationClassUID, metas[0].ImplementationVersionName) == (
        OUR_UID,
        "SCP_1.0",
    )


async def test_bad_implementation_identifiers_raise_before_connecting(anyio_backend: str) -> None:
    with pytest.raises(ValueError, match="not a UID"):
        async with connect(HOST, 9, implementation_class_uid="1.02.x"):
            pass
    with pytest.raises(ValueError, match="16 characters"):
        async with connect(HOST, 9, implementation_version_name="A" * 17):
            pass
    with pytest.raises(ValueError, match="backslash"):
        await serve(Handlers(), port=0, implementation_version_name="back\\slash")


# ------------------------------------------------------------------- IPv6


def ipv6_loopback_problem() -> str | None:
    """Why IPv6 loopback cannot be used on this machine, or None."""
    if not socket.has_ipv6:
        return "Python was built without IPv6"
    try:
        with socket.create_server(("::1", 0), family=socket.AF_INET6) as listener:
            socket.create_connection(("::1", listener.getsockname()[1]), timeout=2).close()
    except OSError as exc:
        return f"IPv6 loopback ::1 is not usable here: {exc}"
    return None


async def test_serve_and_connect_over_ipv6_loopback(anyio_backend: str) -> None:
    problem = ipv6_loopback_problem()
    if problem is not None:
        pytest.skip(problem)
    peers: list[str] = []

    def on_c_echo() -> int:
        return 0x0000

    handlers = Handlers(on_c_echo=on_c_echo, on_association_accepted=lambda n: peers.append("up"))
    async with running(handlers, host="::1") as port:
        async with connect("::1", port, sop_classes=[VERIFICATION]) as assoc:
            assert (await assoc.c_echo()).Status == 0x0000
        # Bound to ::1 only: nothing listens on IPv4 loopback at that port.
        with pytest.raises(OSError, match=r"(?i)refused|connection attempts failed"):
            await anyio.connect_tcp(HOST, port)
    assert peers == ["up"]
