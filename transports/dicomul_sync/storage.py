"""Durable storage of received data sets, where earlier releases had it.

It lives in :mod:`dicomul_common.storage`, shared by every adapter; this
module keeps ``dicomul_sync.storage`` importing as before.
"""

from __future__ import annotations

from dicomul_common.storage import (
    DurableFile,
    NotAFileNameError,
    file_meta_bytes,
    file_name_for,
    fsync_directory,
    read_attributes,
)

__all__ = [
    "DurableFile",
    "NotAFileNameError",
    "file_meta_bytes",
    "file_name_for",
    "fsync_directory",
    "read_attributes",
]
