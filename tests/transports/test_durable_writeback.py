"""The durable store starts writing a large data set to disk while it
arrives (dicomul_common.storage.DurableFile, issue 16), and that advice can
never cost the data: the file committed is whole, whatever the call does."""

from __future__ import annotations

import os
import pathlib

import pytest
from dicomul_common import storage
from dicomul_common.storage import WRITEBACK_EVERY, DurableFile

CT = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"


def receive(directory: pathlib.Path, parts: list[bytes]) -> pathlib.Path:
    durable = DurableFile(
        directory, sop_class_uid=CT, sop_instance_uid="1.2.3.4", transfer_syntax=EXPLICIT
    )
    for part in parts:
        durable.write(part)
    return durable.commit()


def parts_of(total: int, size: int = 16 * 1024) -> list[bytes]:
    data = os.urandom(total)
    return [data[i : i + size] for i in range(0, total, size)]


def test_writeback_is_asked_for_every_megabyte_in_order_over_what_arrived(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[int, int, int]] = []
    sizes: list[int] = []

    def advise(fd: int, offset: int, length: int, advice: int) -> None:
        asked.append((offset, length, advice))
        sizes.append(os.fstat(fd).st_size)  # what the kernel has when asked

    monkeypatch.setattr(os, "posix_fadvise", advise, raising=False)
    parts = parts_of(3 * WRITEBACK_EVERY + 5000)
    path = receive(tmp_path, parts)
    body = b"".join(parts)
    assert path.read_bytes().endswith(body)
    assert len(asked) == 3  # the tail is left to the commit's fsync
    offsets = [offset for offset, _, _ in asked]
    assert offsets[0] == 0
    for (offset, length, advice), size, following in zip(
        asked, sizes, [*offsets[1:], None], strict=True
    ):
        assert advice == os.POSIX_FADV_DONTNEED
        assert length >= WRITEBACK_EVERY
        assert offset + length == size  # flushed before asking: nothing left in Python's buffer
        if following is not None:
            assert following == offset + length  # contiguous: every byte advised once


def test_a_small_data_set_is_left_to_the_fsync(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[int] = []
    monkeypatch.setattr(os, "posix_fadvise", lambda *a: asked.append(1), raising=False)
    receive(tmp_path, parts_of(WRITEBACK_EVERY // 2))
    assert asked == []


@pytest.mark.parametrize("missing", [True, False])
def test_without_the_call_or_when_it_fails_the_file_is_still_whole(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, missing: bool
) -> None:
    if missing:
        monkeypatch.delattr(os, "posix_fadvise", raising=False)
    else:

        def refuse(*_: object) -> None:
            raise OSError(22, "Invalid argument")

        monkeypatch.setattr(os, "posix_fadvise", refuse, raising=False)
    parts = parts_of(2 * WRITEBACK_EVERY + 1)
    path = receive(tmp_path, parts)
    assert path.read_bytes().endswith(b"".join(parts))
    assert [p.name for p in tmp_path.iterdir()] == ["1.2.3.4.dcm"]


def test_the_real_call_keeps_the_data(tmp_path: pathlib.Path) -> None:
    """On this system's own posix_fadvise (dropping written-back pages from
    the cache must not lose them): the file reads back byte for byte."""
    if not hasattr(os, "posix_fadvise"):
        pytest.skip("this system has no posix_fadvise")
    parts = parts_of(3 * WRITEBACK_EVERY + 123, size=64 * 1024 + 7)
    data = receive(tmp_path, parts).read_bytes()
    assert data.endswith(b"".join(parts))
    meta = data[: len(data) - sum(map(len, parts))]  # the Part 10 header, written first
    assert meta[128:132] == b"DICM"
    assert meta == storage.file_meta_bytes(CT, "1.2.3.4", EXPLICIT)
