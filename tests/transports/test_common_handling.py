"""dicomul_common.handling: what both servers make of a handler's answer or
of what it raised, and the bound on a request's data set."""

from __future__ import annotations

import errno

import pytest
from dicomul_common.handling import (
    CollectedDataSet,
    DataSetTooLargeError,
    answer_of,
    handler_failure_status,
    is_peer_data_error,
    storage_failure_status,
)
from dicomul_common.storage import NotAFileNameError
from pydicom.dataset import Dataset

from dicomul import (
    CommandField,
    DataSetStructureError,
    GeneralStatus,
    QueryRetrieveStatus,
    StoreStatus,
)


def test_answer_of_a_status_a_pair_a_dataset_and_none() -> None:
    reply = Dataset()
    assert answer_of(None) == (GeneralStatus.SUCCESS, None)
    assert answer_of(0xB000) == (0xB000, None)
    assert answer_of((0x0107, reply)) == (0x0107, reply)
    status = Dataset()
    status.Status = 0xA700
    assert answer_of(status) == (0xA700, None)


def test_what_a_raising_handler_answers() -> None:
    field = CommandField
    assert (
        handler_failure_status(field.C_ECHO_RQ, RuntimeError()) == GeneralStatus.PROCESSING_FAILURE
    )
    assert (
        handler_failure_status(field.C_FIND_RQ, NotImplementedError())
        == GeneralStatus.UNRECOGNIZED_OPERATION
    )
    # an OSError from a handler is a failure like any other; only storing
    # turns it into "out of resources" (PS3.4 B.2.3)
    disk_full = OSError(errno.ENOSPC, "No space left on device")
    assert (
        handler_failure_status(field.C_FIND_RQ, disk_full) == QueryRetrieveStatus.UNABLE_TO_PROCESS
    )
    assert storage_failure_status(field.C_STORE_RQ, disk_full) == StoreStatus.OUT_OF_RESOURCES
    assert storage_failure_status(field.C_STORE_RQ, ValueError()) == StoreStatus.CANNOT_UNDERSTAND


def test_peer_data_errors_are_told_apart() -> None:
    assert is_peer_data_error(NotAFileNameError("../x"))
    assert is_peer_data_error(DataSetStructureError("cut short"))
    assert is_peer_data_error(DataSetTooLargeError("big"))
    assert not is_peer_data_error(OSError())
    assert not is_peer_data_error(ValueError())


def test_a_collected_data_set_is_bounded() -> None:
    collected = CollectedDataSet(limit=10)
    collected.write(b"12345")
    collected.write(memoryview(b"67890"))
    assert collected.data() == b"1234567890"
    with pytest.raises(DataSetTooLargeError):
        collected.write(b"!")
    collected.discard()
    assert collected.data() == b""
