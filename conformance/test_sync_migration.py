"""What a pynetdicom 2/3 user migrating to dicomul_sync reaches for (issue 17),
against pynetdicom 3 as the peer: a server that does not block, a bind
address and IPv6.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest
from dicomul_sync import AE
from peers import pynetdicom_scp, pynetdicom_scu

VERIFICATION = "1.2.840.10008.1.1"


def ipv6_loopback_problem() -> str | None:
    """Why IPv6 loopback cannot be used here (checked now, on this machine), or None."""
    if not socket.has_ipv6:
        return "Python was built without IPv6"
    try:
        with socket.create_server(("::1", 0), family=socket.AF_INET6) as listener:
            port = listener.getsockname()[1]
            socket.create_connection(("::1", port), timeout=2).close()
    except OSError as exc:
        return f"IPv6 loopback ::1 is not usable here: {exc}"
    return None


def needs_ipv6() -> None:
    problem = ipv6_loopback_problem()
    if problem is not None:
        pytest.skip(problem)


def echo_ae() -> AE:
    ae = AE(ae_title="OURSCP", scp_sop_class=[VERIFICATION])
    ae.on_c_echo = lambda: 0x0000  # type: ignore[method-assign]
    return ae


def pynetdicom_echo(host: str, port: int) -> int | None:
    peer = pynetdicom_scu("THEIRSCU", {VERIFICATION: None})
    assoc = peer.associate(host, port, ae_title="OURSCP")
    if not assoc.is_established:
        return None
    status = assoc.send_c_echo()
    assoc.release()
    return int(status.Status) if status else None


# ------------------------------------------------------ 1. non-blocking server


def test_start_without_blocking_serves_pynetdicom_and_shuts_down() -> None:
    ae = echo_ae()
    ae.bind_address = "127.0.0.1"
    handle = ae.start(block=False)
    try:
        assert ae.listening.is_set()
        assert ae.port == handle.port != 0
        assert handle.server_address == ("127.0.0.1", ae.port)
        assert pynetdicom_echo("127.0.0.1", ae.port) == 0x0000
    finally:
        handle.shutdown(timeout=10)
    assert not handle.is_serving
    assert not ae.listening.is_set()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", handle.port), timeout=2).close()


def test_active_associations_lists_what_is_being_served() -> None:
    ae = echo_ae()
    handle = ae.start_server(("127.0.0.1", 0), block=False)
    peer = pynetdicom_scu("THEIRSCU", {VERIFICATION: None})
    try:
        assert handle.active_associations == []
        assoc = peer.associate("127.0.0.1", handle.port, ae_title="OURSCP")
        assert assoc.is_established
        # Listed from the moment its worker takes it, which is before any
        # response: a moment after the A-ASSOCIATE-AC, at the latest here.
        assert assoc.send_c_echo().Status == 0x0000
        (served,) = handle.active_associations
        assert served.is_established
        assert served.address[0] == "127.0.0.1"
        assert served.address[1] == assoc.requestor.port
        assert served.negotiated is not None
        assert served.negotiated.calling_ae_title == "THEIRSCU"
        assert ae.active_associations == [served]
        assoc.release()
    finally:
        handle.shutdown(timeout=10)
    assert handle.active_associations == []


def test_shutdown_with_abort_ends_associations_in_progress() -> None:
    ae = echo_ae()
    handle = ae.start_server(("127.0.0.1", 0), block=False)
    peer = pynetdicom_scu("THEIRSCU", {VERIFICATION: None})
    assoc = peer.associate("127.0.0.1", handle.port, ae_title="OURSCP")
    assert assoc.is_established
    handle.shutdown(abort=True, timeout=10)
    assert not handle.is_serving
    assoc.abort()


def test_two_servers_of_one_ae_and_stop_ends_both() -> None:
    ae = echo_ae()
    first = ae.start_server(("127.0.0.1", 0), block=False)
    second = ae.start_server(("127.0.0.1", 0), block=False)
    assert first.port != second.port
    assert pynetdicom_echo("127.0.0.1", first.port) == 0
    assert pynetdicom_echo("127.0.0.1", second.port) == 0
    ae.stop()
    first.shutdown(timeout=10)
    second.shutdown(timeout=10)
    assert not first.is_serving
    assert not second.is_serving


def test_an_address_in_use_raises_at_once() -> None:
    ae = echo_ae()
    handle = ae.start_server(("127.0.0.1", 0), block=False)
    try:
        with pytest.raises(OSError, match="in use"):
            echo_ae().start_server(("127.0.0.1", handle.port), block=False)
    finally:
        handle.shutdown(timeout=10)


def test_blocking_start_still_returns_on_stop() -> None:
    ae = echo_ae()
    thread = threading.Thread(target=ae.start, daemon=True)
    thread.start()
    assert ae.listening.wait(10)
    assert pynetdicom_echo("127.0.0.1", ae.port) == 0
    ae.stop()
    thread.join(10)
    assert not thread.is_alive()


# ------------------------------------------------------------------- IPv6


def test_ipv6_loopback_server_serves_pynetdicom() -> None:
    needs_ipv6()
    ae = echo_ae()
    handle = ae.start_server(("::1", 0), block=False)
    try:
        assert pynetdicom_echo("::1", handle.port) == 0x0000
        # Bound to ::1 only: nothing listens on IPv4 loopback at that port.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", handle.port), timeout=2).close()
    finally:
        handle.shutdown(timeout=10)


def test_any_ipv6_address_also_takes_ipv4_where_dual_stack() -> None:
    needs_ipv6()
    ae = echo_ae()
    ae.bind_address = "::"
    handle = ae.start(block=False)
    try:
        assert pynetdicom_echo("::1", handle.port) == 0x0000
        if socket.has_dualstack_ipv6():
            assert pynetdicom_echo("127.0.0.1", handle.port) == 0x0000
    finally:
        handle.shutdown(timeout=10)


def test_associate_over_ipv6_with_pynetdicom() -> None:
    needs_ipv6()
    seen: list[Any] = []

    def on_echo(event: Any) -> int:
        seen.append(event.assoc.requestor.address)
        return 0x0000

    from pynetdicom import evt

    with pynetdicom_scp(
        "THEIRSCP", [VERIFICATION], [(evt.EVT_C_ECHO, on_echo)], host="::1"
    ) as port:
        ae = AE(ae_title="OURSCU", scu_sop_class=[VERIFICATION])
        assoc = ae.associate("::1", port, ae_title="THEIRSCP")
        assert assoc.is_established
        status = assoc.send_c_echo()
        assoc.release()
    assert status is not None
    assert status.Status == 0x0000
    assert seen == ["::1"]


# ------------------------------------------- 2. implementation UID and version

OUR_UID = "1.2.826.0.1.3680043.9.7777.1"


def test_pynetdicom_scp_sees_our_implementation_uid_and_version() -> None:
    from pynetdicom import evt

    seen: list[tuple[str, str]] = []

    def on_echo(event: Any) -> int:
        requestor = event.assoc.requestor
        seen.append((requestor.implementation_class_uid, requestor.implementation_version_name))
        return 0x0000

    with pynetdicom_scp("THEIRSCP", [VERIFICATION], [(evt.EVT_C_ECHO, on_echo)]) as port:
        ae = AE(ae_title="OURSCU", scu_sop_class=[VERIFICATION])
        ae.implementation_class_uid = OUR_UID
        ae.implementation_version_name = "OURAPP_2"
        assoc = ae.associate("127.0.0.1", port, ae_title="THEIRSCP")
        assert assoc.send_c_echo().Status == 0x0000
        assoc.release()
    assert seen == [(OUR_UID, "OURAPP_2")]


def test_pynetdicom_scu_sees_our_scp_implementation_uid_and_version() -> None:
    ae = echo_ae()
    ae.implementation_class_uid = OUR_UID
    ae.implementation_version_name = "OURSCP_3"
    handle = ae.start_server(("127.0.0.1", 0), block=False)
    try:
        peer = pynetdicom_scu("THEIRSCU", {VERIFICATION: None})
        assoc = peer.associate("127.0.0.1", handle.port, ae_title="OURSCP")
        assert assoc.is_established
        acceptor = assoc.acceptor
        assert (acceptor.implementation_class_uid, acceptor.implementation_version_name) == (
            OUR_UID,
            "OURSCP_3",
        )
        assoc.release()
    finally:
        handle.shutdown(timeout=10)


def test_no_version_name_sends_none() -> None:
    from pynetdicom import evt

    seen: list[Any] = []

    def on_echo(event: Any) -> int:
        seen.append(event.assoc.requestor.implementation_version_name)
        return 0x0000

    with pynetdicom_scp("THEIRSCP", [VERIFICATION], [(evt.EVT_C_ECHO, on_echo)]) as port:
        ae = AE(ae_title="OURSCU", scu_sop_class=[VERIFICATION])
        ae.implementation_version_name = None
        assoc = ae.associate("127.0.0.1", port, ae_title="THEIRSCP")
        assert assoc.send_c_echo().Status == 0x0000
        assoc.release()
    assert seen == [None]


# ------------------------------------------------------------ 3. DIMSE priority

CT = "1.2.840.10008.5.1.4.1.1.2"
FIND_P = "1.2.840.10008.5.1.4.1.2.1.1"
MOVE_P = "1.2.840.10008.5.1.4.1.2.1.2"
GET_P = "1.2.840.10008.5.1.4.1.2.1.3"


def ct_dataset() -> Any:
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID, ds.PatientName = CT, "1.2.3.4.5", "DOE^JOHN"
    return ds


def query() -> Any:
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.QueryRetrieveLevel, ds.PatientID = "PATIENT", "*"
    return ds


def priority_recorders(seen: dict[str, int]) -> list[tuple[Any, Any]]:
    """pynetdicom handlers for C-STORE, C-FIND, C-GET and C-MOVE that note
    each request's Priority in ``seen`` (by 'store', 'find'...) and answer
    Success (the C-MOVE: refused, its destination unknown, enough here)."""
    from pynetdicom import evt

    def on_store(event: Any) -> int:
        seen["store"] = event.request.Priority
        return 0x0000

    def on_find(event: Any) -> Any:
        seen["find"] = event.request.Priority
        yield from ()

    def on_get(event: Any) -> Any:
        seen["get"] = event.request.Priority
        yield 0

    def on_move(event: Any) -> Any:
        seen["move"] = event.request.Priority
        yield None, None

    return [
        (evt.EVT_C_STORE, on_store),
        (evt.EVT_C_FIND, on_find),
        (evt.EVT_C_GET, on_get),
        (evt.EVT_C_MOVE, on_move),
    ]


@pytest.mark.parametrize(
    ("priority", "on_the_wire"),
    [(None, 0x0000), (2, 0x0002), ("HIGH", 0x0001), ("medium", 0x0000)],
)
def test_priority_of_each_dimse_c_request_as_pynetdicom_receives_it(
    priority: int | str | None, on_the_wire: int
) -> None:
    """Priority (0000,0700) of C-STORE, C-FIND, C-GET and C-MOVE requests
    (PS3.7 9.1, Annex E: LOW 2, MEDIUM 0, HIGH 1)."""
    seen: dict[str, int] = {}
    handlers = priority_recorders(seen)
    with pynetdicom_scp("THEIRSCP", [CT, FIND_P, MOVE_P, GET_P], handlers) as port:
        ae = AE(ae_title="OURSCU", scu_sop_class=[CT, FIND_P, MOVE_P, GET_P])
        assoc = ae.associate("127.0.0.1", port, ae_title="THEIRSCP")
        given = {} if priority is None else {"priority": priority}
        assert assoc.send_c_store(ct_dataset(), **given).Status == 0x0000
        assert [s for s, _ in assoc.send_c_find(query(), "P", **given)] == ["Success"]
        assert [s for s, _ in assoc.send_c_get(query(), "P", **given)] == ["Success"]
        list(assoc.send_c_move(query(), "NOWHERE", "P", **given))
        assoc.release()
    assert seen == dict.fromkeys(("store", "find", "get", "move"), on_the_wire)


def test_a_priority_out_of_range_is_refused_before_anything_is_sent() -> None:
    ae = AE(ae_title="OURSCU", scu_sop_class=[VERIFICATION])
    assoc = ae.associate("127.0.0.1", 1, ae_title="THEIRSCP")  # not established: nothing sent
    for bad in (3, -1, "URGENT"):
        with pytest.raises(ValueError, match=r"PS3\.7 9\.1"):
            assoc.send_c_store(ct_dataset(), priority=bad)
        with pytest.raises(ValueError, match=r"PS3\.7 9\.1"):
            assoc.send_c_find(query(), priority=bad)


# ----------------------------------------------- 4. file_meta for on_c_store

SC = "1.2.840.10008.5.1.4.1.1.7"
MR = "1.2.840.10008.5.1.4.1.1.4"


@pytest.mark.parametrize(
    ("name", "sop_class"),
    [
        ("SC_rgb_jpeg_dcmtk.dcm", SC),  # JPEG Baseline (Process 1)
        ("MR_small_RLE.dcm", MR),  # RLE Lossless
        ("CT_small.dcm", CT),  # Explicit VR Little Endian
    ],
)
def test_on_c_store_data_sets_save_as_valid_part10_files(
    tmp_path: Any, name: str, sop_class: str
) -> None:
    """pynetdicom stores a file in its own transfer syntax; the data set our
    on_c_store gets carries file_meta (PS3.10 7.1), so that pydicom 3's
    save_as(enforce_file_format=True) writes a Part 10 file that DCMTK's
    dcmftest accepts and that holds the sent data set."""
    import subprocess

    import pydicom
    from dcmtk_tools import dcmtk_path
    from pydicom.data import get_testdata_file

    source = get_testdata_file(name)
    if source is None:
        pytest.skip(f"pydicom's test data has no {name}")
    sent = pydicom.dcmread(source)
    syntax = str(sent.file_meta.TransferSyntaxUID)
    saved: list[Any] = []

    def on_c_store(dataset: Any) -> int:
        path = tmp_path / "received.dcm"
        dataset.save_as(path, enforce_file_format=True)
        saved.append((path, dataset.file_meta))
        return 0x0000

    ae = AE(ae_title="OURSCP", scp_sop_class=[sop_class], transfer_syntax=[syntax])
    ae.implementation_class_uid = OUR_UID
    ae.on_c_store = on_c_store  # type: ignore[method-assign]
    handle = ae.start_server(("127.0.0.1", 0), block=False)
    try:
        peer = pynetdicom_scu("THEIRSCU", {sop_class: [syntax]})
        assoc = peer.associate("127.0.0.1", handle.port, ae_title="OURSCP")
        assert assoc.is_established
        assert assoc.send_c_store(sent).Status == 0x0000
        assoc.release()
    finally:
        handle.shutdown(timeout=10)
    ((path, meta),) = saved
    assert meta.TransferSyntaxUID == syntax
    assert meta.MediaStorageSOPClassUID == sop_class
    assert meta.MediaStorageSOPInstanceUID == sent.SOPInstanceUID
    assert meta.ImplementationClassUID == OUR_UID
    checked = subprocess.run(
        [dcmtk_path("dcmftest"), str(path)], capture_output=True, text=True, check=False
    )
    assert checked.stdout.startswith("yes:"), checked.stdout
    received = pydicom.dcmread(path)
    assert received.file_meta.TransferSyntaxUID == syntax
    assert received.PixelData == sent.PixelData
    assert received.SOPInstanceUID == sent.SOPInstanceUID


# --------------------------------------------- 6. query_model as a SOP Class UID

STUDY_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
STUDY_GET = "1.2.840.10008.5.1.4.1.2.2.3"


def test_query_model_given_as_a_sop_class_uid_reaches_pynetdicom() -> None:
    from pydicom.dataset import Dataset
    from pynetdicom import evt

    seen: list[tuple[str, str]] = []

    def on_find(event: Any) -> Any:
        seen.append(("find", str(event.request.AffectedSOPClassUID)))
        match = Dataset()
        match.QueryRetrieveLevel, match.StudyInstanceUID = "STUDY", "1.2.3"
        yield 0xFF00, match

    def on_get(event: Any) -> Any:
        seen.append(("get", str(event.request.AffectedSOPClassUID)))
        yield 0

    handlers = [(evt.EVT_C_FIND, on_find), (evt.EVT_C_GET, on_get)]
    with pynetdicom_scp("THEIRSCP", [STUDY_FIND, STUDY_GET], handlers) as port:
        ae = AE(ae_title="OURSCU", scu_sop_class=[STUDY_FIND, STUDY_GET])
        assoc = ae.associate("127.0.0.1", port, ae_title="THEIRSCP")
        study = query()
        study.QueryRetrieveLevel = "STUDY"
        found = list(assoc.send_c_find(study, query_model=STUDY_FIND))
        got = list(assoc.send_c_get(study, STUDY_GET))
        assoc.release()
    assert [s for s, _ in found] == ["Pending", "Success"]
    assert found[0][1].StudyInstanceUID == "1.2.3"
    assert [s for s, _ in got] == ["Success"]
    assert seen == [("find", STUDY_FIND), ("get", STUDY_GET)]


# ---------------------------------------- 7. presentation contexts by SOP class

IMPLICIT, EXPLICIT = "1.2.840.10008.1.2", "1.2.840.10008.1.2.1"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
US = "1.2.840.10008.5.1.4.1.1.6.1"


def test_requested_contexts_each_with_its_syntaxes_and_what_pynetdicom_answered() -> None:
    from pynetdicom import evt

    proposed: list[tuple[str, list[str]]] = []

    def on_requested(event: Any) -> None:
        for context in event.assoc.requestor.requested_contexts:
            proposed.append(
                (str(context.abstract_syntax), [str(t) for t in context.transfer_syntax])
            )

    ae = AE(ae_title="OURSCU")
    ae.add_requested_context(VERIFICATION)
    ae.add_requested_context(CT, JPEG_BASELINE)
    ae.add_requested_context(CT, [EXPLICIT, IMPLICIT])
    ae.add_requested_context(MR)
    assert [c.abstract_syntax for c in ae.requested_contexts] == [VERIFICATION, CT, CT, MR]
    handlers = [(evt.EVT_REQUESTED, on_requested), (evt.EVT_C_STORE, lambda _: 0x0000)]
    with pynetdicom_scp(
        "THEIRSCP", [VERIFICATION, CT], handlers, transfer_syntaxes=[EXPLICIT]
    ) as port:
        assoc = ae.associate("127.0.0.1", port, ae_title="THEIRSCP")
        assert assoc.is_established
        accepted = [(c.abstract_syntax, c.transfer_syntax) for c in assoc.accepted_contexts]
        rejected = [(c.abstract_syntax, c.result) for c in assoc.rejected_contexts]
        assert assoc.send_c_store(ct_dataset()).Status == 0x0000  # on the context it accepted
        assoc.release()
    default = [IMPLICIT, EXPLICIT, "1.2.840.10008.1.2.2"]  # the AE's transfer_syntax
    assert proposed == [
        (VERIFICATION, default),
        (CT, [JPEG_BASELINE]),
        (CT, [EXPLICIT, IMPLICIT]),
        (MR, default),
    ]
    assert accepted == [(VERIFICATION, EXPLICIT), (CT, EXPLICIT)]
    assert rejected == [(CT, 4), (MR, 3)]  # transfer syntaxes, abstract syntax not supported


def test_supported_contexts_accept_different_syntaxes_per_sop_class() -> None:
    ae = AE(ae_title="OURSCP")
    ae.add_supported_context(CT, EXPLICIT)
    ae.add_supported_context(MR, [IMPLICIT])
    ae.add_supported_context(MR, EXPLICIT)  # added to MR's: Implicit still preferred
    assert [(c.abstract_syntax, c.transfer_syntax) for c in ae.supported_contexts] == [
        (CT, [EXPLICIT]),
        (MR, [IMPLICIT, EXPLICIT]),
    ]
    handle = ae.start_server(("127.0.0.1", 0), block=False)
    try:
        peer = pynetdicom_scu("THEIRSCU", {CT: [IMPLICIT, EXPLICIT], MR: [EXPLICIT, IMPLICIT]})
        peer.add_requested_context(US, [IMPLICIT])
        peer.add_requested_context(CT, [IMPLICIT])
        assoc = peer.associate("127.0.0.1", handle.port, ae_title="OURSCP")
        assert assoc.is_established
        accepted = {
            (str(c.abstract_syntax), str(c.transfer_syntax[0])) for c in assoc.accepted_contexts
        }
        rejected = {(str(c.abstract_syntax), c.result) for c in assoc.rejected_contexts}
        assoc.release()
    finally:
        handle.shutdown(timeout=10)
    assert accepted == {(CT, EXPLICIT), (MR, IMPLICIT)}
    assert rejected == {(US, 3), (CT, 4)}


def test_supported_roles_decide_what_pynetdicom_may_be() -> None:
    """SCP/SCU role selection (PS3.7 D.3.3.4): CT lets the requestor be SCP
    too, MR does not (its context proposing only the SCP role is rejected)."""
    from pynetdicom import build_role

    ae = AE(ae_title="OURSCP")
    ae.add_supported_context(CT, scu_role=True, scp_role=True)
    ae.add_supported_context(MR)
    handle = ae.start_server(("127.0.0.1", 0), block=False)
    try:
        peer = pynetdicom_scu("THEIRSCU", {CT: None, MR: None})
        roles = [build_role(CT, scu_role=True, scp_role=True), build_role(MR, scp_role=True)]
        assoc = peer.associate("127.0.0.1", handle.port, ae_title="OURSCP", ext_neg=roles)
        assert assoc.is_established
        ct = next(c for c in assoc.accepted_contexts if c.abstract_syntax == CT)
        assert (ct.as_scu, ct.as_scp) == (True, True)
        assert [(str(c.abstract_syntax), c.result) for c in assoc.rejected_contexts] == [
            (MR, 1)  # user rejection: no role left
        ]
        assoc.release()
    finally:
        handle.shutdown(timeout=10)


def test_c_get_with_requested_contexts_and_the_scp_role() -> None:
    """pynetdicom 2's C-GET SCU set-up: the model and the storage class
    requested, the SCP role proposed for the latter; the match comes back."""
    from pynetdicom import evt

    def on_get(event: Any) -> Any:
        from pydicom.dataset import FileMetaDataset

        match = ct_dataset()
        match.file_meta = FileMetaDataset()
        match.file_meta.TransferSyntaxUID = IMPLICIT  # what pynetdicom sends it in
        yield 1
        yield 0xFF00, match

    stored: list[str] = []

    def on_c_store(dataset: Any) -> int:
        stored.append(dataset.SOPInstanceUID)
        return 0x0000

    ae = AE(ae_title="OURSCU")
    ae.add_requested_context(GET_P)
    ae.add_requested_context(CT, scu_role=False, scp_role=True)
    ae.on_c_store = on_c_store  # type: ignore[method-assign]
    with pynetdicom_scp("THEIRSCP", [GET_P], [(evt.EVT_C_GET, on_get)], both_roles=[CT]) as port:
        assoc = ae.associate("127.0.0.1", port, ae_title="THEIRSCP")
        (ct,) = [c for c in assoc.accepted_contexts if c.abstract_syntax == CT]
        assert (ct.requestor_is_scu, ct.requestor_is_scp) == (False, True)
        statuses = [s for s, _ in assoc.send_c_get(query(), GET_P)]
        assoc.release()
    assert statuses[-1] == "Success"
    assert stored == ["1.2.3.4.5"]


# ------------------------------------------------- 8. user identity both ways


def run_dcmtk(tool: str, *args: str) -> Any:
    import subprocess

    from dcmtk_tools import dcmtk_path

    return subprocess.run(
        [dcmtk_path(tool), *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def identity_scp() -> Any:
    """Our Verification SCP accepting bob/secret (and a JWT 'good-token',
    answered with a server response); what it was asked is kept."""
    seen: list[tuple[int, bytes, bytes, int, str]] = []

    def on_user_identity(identity: Any, calling_ae_title: str) -> object:
        seen.append(
            (
                identity.identity_type,
                identity.primary_field,
                identity.secondary_field,
                identity.positive_response_requested,
                calling_ae_title,
            )
        )
        if identity.identity_type == 5:  # JWT
            return identity.primary_field == b"good-token", b"server-says-hello"
        return (identity.primary_field, identity.secondary_field) == (b"bob", b"secret")

    ae = echo_ae()
    ae.scp_sop_class.append(CT)
    ae.on_c_store = lambda dataset: 0x0000  # type: ignore[method-assign]
    ae.on_user_identity = on_user_identity
    handle = ae.start_server(("127.0.0.1", 0), block=False)
    try:
        yield handle.port, seen
    finally:
        handle.shutdown(timeout=10)


def ct_file() -> str:
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm")
    assert path is not None
    return str(path)


def test_dcmtk_storescu_with_username_and_password_into_our_scp(identity_scp: Any) -> None:
    """storescu -usr -pwd -rsp (PS3.7 D.3.3.7): our handler decides; a
    wrong passcode is rejected (RJ 1/2/1, D.3.3.7.3)."""
    port, seen = identity_scp
    good = run_dcmtk(
        "storescu", "-aet", "DCMTKSCU", "-aec", "OURSCP", "-usr", "bob", "-pwd", "secret",
        "-rsp", "127.0.0.1", str(port), ct_file(),
    )  # fmt: skip
    assert good.returncode == 0, good.stdout + good.stderr
    bad = run_dcmtk(
        "storescu", "-aec", "OURSCP", "-usr", "bob", "-pwd", "wrong",
        "127.0.0.1", str(port), ct_file(),
    )  # fmt: skip
    assert bad.returncode != 0
    assert "Association Rejected" in bad.stdout + bad.stderr
    assert seen == [
        (2, b"bob", b"secret", 1, "DCMTKSCU"),
        (2, b"bob", b"wrong", 0, "STORESCU"),
    ]


def test_dcmtk_storescu_with_a_jwt_gets_our_server_response(
    identity_scp: Any, tmp_path: Any
) -> None:
    port, seen = identity_scp
    token = tmp_path / "token.jwt"
    token.write_bytes(b"good-token")
    result = run_dcmtk(
        "storescu", "-d", "-aec", "OURSCP", "--jwt", str(token), "-rsp",
        "127.0.0.1", str(port), ct_file(),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    # DCMTK's debug log shows the response's length, not its contents.
    assert "Server Response (not dumped) length: 17" in result.stdout + result.stderr
    assert seen == [(5, b"good-token", b"", 1, "STORESCU")]


class PynetdicomIdentities:
    """Our requestor's identities against a pynetdicom EVT_USER_ID handler
    (shared with the async adapters' test): username, username and
    passcode, Kerberos, SAML and JWT, with or without a positive response
    requested, each with the server response pynetdicom sends back; its
    handler refuses 'mallory' and notes what it was sent in ``seen``."""

    #: What the handler is sent, in the order of ``cases`` then 'mallory'.
    EXPECTED = (
        (1, b"alice", b""),
        (2, b"bob", b"secret"),
        (3, b"\x01kerb", b""),
        (4, b"<saml/>", b""),
        (5, b"a.b.c", b""),
        (1, b"mallory", b""),
    )

    def __init__(self) -> None:
        from pynetdicom import evt

        from dicomul import UserIdentity

        self.seen: list[tuple[int, bytes, bytes]] = []
        self.handlers = [(evt.EVT_USER_ID, self.on_user_id)]
        self.refused = UserIdentity.username("mallory")
        #: (identity, the server response expected back)
        self.cases = [
            (UserIdentity.username("alice"), None),
            # pynetdicom answers no response for username types, though asked
            # (PS3.7 D.3.3.7.2 has a zero-length one): nothing, as it sent.
            (UserIdentity.username("bob", "secret", positive_response_requested=True), None),
            (UserIdentity.kerberos(b"\x01kerb", positive_response_requested=True), b"ticket-back"),
            (UserIdentity.saml("<saml/>"), None),
            (UserIdentity.jwt("a.b.c", positive_response_requested=True), b"ticket-back"),
        ]

    def on_user_id(self, event: Any) -> tuple[bool, bytes | None]:
        self.seen.append((event.user_id_type, event.primary_field, event.secondary_field or b""))
        return event.primary_field != b"mallory", b"ticket-back"


def test_our_requestor_identities_as_pynetdicom_sees_them() -> None:
    """Username, username and passcode, Kerberos, SAML and JWT, with or
    without a positive response requested; pynetdicom's handler decides and
    its server response comes back to us."""
    case = PynetdicomIdentities()
    with pynetdicom_scp("THEIRSCP", [VERIFICATION], case.handlers) as port:
        ae = AE(ae_title="OURSCU", scu_sop_class=[VERIFICATION])
        for identity, response in case.cases:
            assoc = ae.associate("127.0.0.1", port, "THEIRSCP", user_identity=identity)
            assert assoc.is_established
            assert assoc.user_identity_response == response
            assoc.release()
        refused = ae.associate("127.0.0.1", port, "THEIRSCP", user_identity=case.refused)
        assert refused.is_rejected
    assert case.seen == list(PynetdicomIdentities.EXPECTED)


def test_a_slow_identity_check_holds_up_no_other_peer_and_a_raise_rejects() -> None:
    """The check runs off the accept loop (it may do I/O): while one waits,
    another peer is served; a handler that raises rejects its association."""
    from dicomul import UserIdentity

    release = threading.Event()

    def on_user_identity(identity: Any, calling_ae_title: str) -> bool:
        if identity.primary_field == b"slow":
            return release.wait(10)
        raise RuntimeError("directory unreachable")

    ae = echo_ae()
    ae.on_user_identity = on_user_identity
    handle = ae.start_server(("127.0.0.1", 0), block=False)
    results: list[bool] = []
    try:
        scu = AE(ae_title="OURSCU", scu_sop_class=[VERIFICATION])

        def slow() -> None:
            assoc = scu.associate(
                "127.0.0.1", handle.port, "OURSCP", user_identity=UserIdentity.username("slow")
            )
            results.append(assoc.is_established)
            assoc.release()

        waiting = threading.Thread(target=slow)
        waiting.start()
        assert pynetdicom_echo("127.0.0.1", handle.port) == 0x0000  # served meanwhile
        failing = scu.associate(
            "127.0.0.1", handle.port, "OURSCP", user_identity=UserIdentity.username("eve")
        )
        assert failing.is_rejected
        assert (failing.rejection.pdu.result, failing.rejection.pdu.source) == (1, 2)
        assert results == []  # still waiting for its check
        release.set()
        waiting.join(10)
    finally:
        release.set()
        handle.shutdown(timeout=10)
    assert results == [True]
