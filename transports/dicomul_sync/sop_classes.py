"""The SOP class lists and constants, where pynetdicom3 users look for them.

They live in :mod:`dicomul_common.sop_classes`, shared by every adapter;
this module keeps ``dicomul_sync.sop_classes`` importing as before.
"""

from __future__ import annotations

from dicomul_common.sop_classes import (
    QueryRetrieveSOPClassList,
    StorageSOPClassList,
    VerificationSOPClass,
    sop_class_constants,
    storage_classes_for_retrieve,
    storage_classes_to_accept,
)

__all__ = [
    "QueryRetrieveSOPClassList",
    "StorageSOPClassList",
    "VerificationSOPClass",
    "sop_class_constants",
    "storage_classes_for_retrieve",
    "storage_classes_to_accept",
]
