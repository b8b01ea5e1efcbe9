"""A clean stop writes everything recorded before it, also what arrived while the writer was mid-write."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from services.storage.archive import FILE_NAME, Archive, ArchiveWriter, Batch
from tests.helpers import wait_until
from tests.unit.test_archive import LOGIN, point


class HeldArchive(Archive):
    """Its first write waits until released: the stop arrives while the writer is writing."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.writing = threading.Event()
        self.release = threading.Event()

    def write(self, batch: Batch) -> None:
        self.writing.set()
        self.release.wait(10)
        super().write(batch)


def test_a_stop_during_a_write_still_writes_what_arrived_meanwhile(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "services.storage.archive.writer")
    archive = HeldArchive(tmp_path / FILE_NAME)
    writer = ArchiveWriter(archive, interval_s=0.01)
    writer.start()
    writer.submit_points(LOGIN, [point(1_000)])
    assert archive.writing.wait(10), "the writer never wrote"
    writer.submit_points(LOGIN, [point(2_000)])  # the last poll, recorded during the write
    stopping = threading.Thread(target=writer.stop)
    stopping.start()
    wait_until(lambda: writer.worker.stopping, message="the stop asked for")  # then the write in hand ends
    archive.release.set()
    stopping.join(10)

    assert "not written at shutdown" not in caplog.text
    reopened = Archive(tmp_path / FILE_NAME)
    assert [p.ts for p in reopened.history(LOGIN, 0, 3_000)] == [1_000, 2_000]
    reopened.close()
