"""CheckedStore: a C-STORE's data set is answered Success only once it is
whole, names the instance asked, and is fsynced under its final name; every
other outcome is the status PS3.4 Table B.2-1 gives, with no file left."""

from __future__ import annotations

import pathlib

import pytest
from dicomul_common.store_sink import CheckedStore
from pydicom.dataset import Dataset

from dicomul import (
    AcceptorConfig,
    AssociationRequest,
    CommandReceived,
    GeneralStatus,
    StoreStatus,
    build_associate_rq,
    c_echo_rq,
    c_store_rq,
    encode_dataset,
    negotiate,
    propose_contexts,
)
from dicomul.pdu import AssociateRQ

CT = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
UID = "1.2.826.0.1.3680043.9.7.1"


def data_set(instance: str = UID) -> bytes:
    ds = Dataset()
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = instance
    ds.PatientName = "STORE^SINK"
    return encode_dataset(ds, EXPLICIT)


def receive(store: CheckedStore, data: bytes, pieces: int = 3) -> int:
    step = max(1, len(data) // pieces)
    for start in range(0, len(data), step):
        store.write(memoryview(data)[start : start + step])
    return store.finish()


def files(directory: pathlib.Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_a_whole_matching_data_set_is_stored_then_success(tmp_path: pathlib.Path) -> None:
    store = CheckedStore(c_store_rq(1, CT, UID), EXPLICIT, tmp_path)
    data = data_set()
    assert receive(store, data) == GeneralStatus.SUCCESS
    assert files(tmp_path) == [f"{UID}.dcm"]
    assert store.path == tmp_path / f"{UID}.dcm"
    assert store.path.read_bytes().endswith(data)
    store.discard()  # after the commit: nothing to drop
    assert files(tmp_path) == [f"{UID}.dcm"]


def test_a_cut_short_data_set_is_refused_and_removed(tmp_path: pathlib.Path) -> None:
    store = CheckedStore(c_store_rq(1, CT, UID), EXPLICIT, tmp_path)
    status = receive(store, data_set()[:-5])
    assert status == StoreStatus.CANNOT_UNDERSTAND
    assert store.reason
    assert files(tmp_path) == []


def test_a_data_set_of_another_instance_is_refused(tmp_path: pathlib.Path) -> None:
    store = CheckedStore(c_store_rq(1, CT, UID), EXPLICIT, tmp_path)
    assert receive(store, data_set(instance="1.2.3.4")) == (
        StoreStatus.DATA_SET_DOES_NOT_MATCH_SOP_CLASS
    )
    assert files(tmp_path) == []


def test_a_uid_that_names_no_file_fails_without_writing(tmp_path: pathlib.Path) -> None:
    store = CheckedStore(c_store_rq(1, CT, "../../etc/passwd"), EXPLICIT, tmp_path)
    assert receive(store, data_set()) == StoreStatus.CANNOT_UNDERSTAND
    assert "not a UID" in store.reason
    assert files(tmp_path) == []


def test_a_directory_that_cannot_be_written_is_out_of_resources(tmp_path: pathlib.Path) -> None:
    store = CheckedStore(c_store_rq(1, CT, UID), EXPLICIT, tmp_path / "missing")
    assert receive(store, data_set()) == StoreStatus.OUT_OF_RESOURCES


def test_a_failing_write_is_out_of_resources_and_leaves_nothing(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = CheckedStore(c_store_rq(1, CT, UID), EXPLICIT, tmp_path)
    file = store._file
    assert file is not None

    def full(data: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(file, "write", full)
    assert receive(store, data_set()) == StoreStatus.OUT_OF_RESOURCES
    assert files(tmp_path) == []


def test_an_interrupted_transfer_is_discarded(tmp_path: pathlib.Path) -> None:
    store = CheckedStore(c_store_rq(1, CT, UID), EXPLICIT, tmp_path)
    store.write(data_set()[:10])
    assert files(tmp_path) != []  # the temporary file
    store.discard()
    assert files(tmp_path) == []


def test_without_a_directory_it_checks_and_keeps_nothing(tmp_path: pathlib.Path) -> None:
    assert receive(CheckedStore(c_store_rq(1, CT, UID), EXPLICIT, None), data_set()) == 0
    refused = CheckedStore(c_store_rq(1, CT, UID), EXPLICIT, None)
    assert receive(refused, data_set()[:-3]) == StoreStatus.CANNOT_UNDERSTAND


def test_for_request_gives_a_store_for_a_c_store_only(tmp_path: pathlib.Path) -> None:
    request = AssociationRequest(
        calling_ae_title="SCU", called_ae_title="SCP", contexts=propose_contexts([CT], [EXPLICIT])
    )
    rq: AssociateRQ = build_associate_rq(request)
    config = AcceptorConfig.for_sop_classes(
        ae_title="SCP", scp_sop_classes=[CT], transfer_syntaxes=[EXPLICIT]
    )
    _, negotiated = negotiate(rq, config)
    assert negotiated is not None
    store_rq = CommandReceived(context_id=1, command=c_store_rq(1, CT, UID))
    store = CheckedStore.for_request(store_rq, negotiated, tmp_path)
    assert store is not None
    assert receive(store, data_set()) == GeneralStatus.SUCCESS
    echo = CommandReceived(context_id=1, command=c_echo_rq(2))
    assert CheckedStore.for_request(echo, negotiated, tmp_path) is None
    assert CheckedStore.for_request(store_rq, None, tmp_path) is None
    elsewhere = CommandReceived(context_id=9, command=c_store_rq(3, CT, UID))
    assert CheckedStore.for_request(elsewhere, negotiated, tmp_path) is None
