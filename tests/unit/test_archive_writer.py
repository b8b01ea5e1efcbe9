"""The archive writer thread on a real SQLite file: batches, a full buffer, a locked database, a slow disk."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest

from services.core.backoff import Backoff
from services.ingest.sources.demo import DemoSource
from services.ingest.streamer import Streamer
from services.storage.archive import FILE_NAME, Archive, ArchiveWriter, Batch
from services.storage.store import Store
from tests.helpers import wait_until
from tests.unit.test_archive import LOGIN, deal, point

QUICK = Backoff(base_s=0.01, cap_s=0.05, jitter=0)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / FILE_NAME


@pytest.fixture
def stopping() -> Iterator[list[ArchiveWriter]]:
    writers: list[ArchiveWriter] = []
    yield writers
    for writer in writers:
        writer.stop()


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "services.storage.archive.writer" and "archive: /" not in r.getMessage()
    ]


def reopened(path: Path) -> Archive:
    archive = Archive(path)
    archive.open()
    return archive


def test_rows_are_written_in_batches_and_kept_after_a_restart(path: Path, stopping: list[ArchiveWriter]) -> None:
    writer = ArchiveWriter(Archive(path), batch_rows=4, interval_s=0.01, backoff=QUICK)
    writer.submit_points(LOGIN, [point(ts) for ts in range(1_000, 11_000, 1_000)])
    writer.submit_deals(LOGIN, [deal(1, 1_500), deal(2, 2_500)])
    writer.submit_deals(LOGIN, [deal(2, 2_500)])  # seen twice: one row
    assert writer.pending == 12
    writer.start()
    stopping.append(writer)
    wait_until(lambda: writer.pending == 0 and writer.written == 12, message="the rows written")
    health = writer.health()
    assert health["state"] == "ok" and health["last_write_ms"] is not None and health["size_bytes"] > 0
    writer.stop()

    archive = reopened(path)
    assert [p.ts for p in archive.history(LOGIN, 0, 20_000)] == list(range(1_000, 11_000, 1_000))
    assert [d.ticket for d in archive.deals(LOGIN, 0, 20_000)] == [1, 2]
    archive.close()


def test_stop_writes_what_is_waiting(path: Path) -> None:
    writer = ArchiveWriter(Archive(path), interval_s=3600)
    writer.start()
    wait_until(lambda: path.exists(), message="the archive opened")
    writer.submit_points(LOGIN, [point(1_000)])
    writer.stop()
    archive = reopened(path)
    assert archive.history(LOGIN, 0, 2_000) == [point(1_000)]
    archive.close()


def test_a_full_buffer_coalesces_history_keeps_every_deal_and_reports_degraded(
    path: Path, stopping: list[ArchiveWriter], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "services.storage.archive.writer")
    writer = ArchiveWriter(Archive(path), max_pending=5, interval_s=0.01, backoff=QUICK)
    writer.submit_points(LOGIN, [point(ts) for ts in range(1, 11)])
    writer.submit_deals(LOGIN, [deal(t, t * 100) for t in range(1, 4)])
    assert writer.pending == 8 and writer.coalesced == 5
    assert writer.health()["state"] == "degraded" and writer.health()["error"] == "buffer full"
    assert len(messages(caplog)) == 1

    writer.start()
    stopping.append(writer)
    wait_until(lambda: writer.health()["state"] == "ok", message="the buffer drained")
    archive = reopened(path)
    assert [p.ts for p in archive.history(LOGIN, 0, 100)] == [1, 2, 3, 4, 10]
    assert [d.ticket for d in archive.deals(LOGIN, 0, 1_000)] == [1, 2, 3]
    archive.close()
    assert len(messages(caplog)) == 2 and "writing again" in messages(caplog)[-1]


def test_a_locked_database_degrades_once_and_recovers_with_every_row(
    path: Path, stopping: list[ArchiveWriter], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "services.storage.archive.writer")
    writer = ArchiveWriter(Archive(path, busy_timeout_ms=10), interval_s=0.01, backoff=QUICK)
    writer.start()
    stopping.append(writer)
    writer.submit_points(LOGIN, [point(1_000)])
    wait_until(lambda: writer.written == 1, message="the first write")

    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another program holds the write lock
    writer.submit_points(LOGIN, [point(2_000)])
    writer.submit_deals(LOGIN, [deal(7, 1_500)])
    wait_until(lambda: writer.health()["failures"] >= 3, message="several refused attempts")
    health = writer.health()
    assert health["state"] == "degraded" and "database is locked" in health["error"] and health["pending"] == 2
    assert messages(caplog) == [f"archive refuses writes: {health['error']}"]

    other.execute("ROLLBACK")
    other.close()
    wait_until(lambda: writer.health()["state"] == "ok" and writer.pending == 0, message="the writer recovered")
    assert len(messages(caplog)) == 2 and "writing again" in messages(caplog)[-1]
    archive = reopened(path)
    assert [p.ts for p in archive.history(LOGIN, 0, 3_000)] == [1_000, 2_000]
    assert [d.ticket for d in archive.deals(LOGIN, 0, 3_000)] == [7]
    archive.close()


class BlockedArchive(Archive):
    """An archive whose disk hangs until released."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.entered = threading.Event()
        self.release = threading.Event()

    def write(self, batch: Batch) -> None:
        self.entered.set()
        self.release.wait()
        super().write(batch)


def test_the_streamer_polls_on_while_the_archive_hangs(path: Path, stopping: list[ArchiveWriter]) -> None:
    archive = BlockedArchive(path)
    writer = ArchiveWriter(archive, interval_s=0.01, backoff=QUICK)
    store = Store(fakeredis.FakeRedis(decode_responses=True), "t", 10_000)
    source = DemoSource(seed=3)
    streamer = Streamer(source, store, poll_interval_s=0.01, archive=writer)
    writer.start()
    stopping.append(writer)
    streamer.start()
    try:
        assert archive.entered.wait(10), "the writer never reached the disk"
        polls = streamer.status().polls
        wait_until(lambda: streamer.status().polls >= polls + 20, message="the streamer polling on")
        assert not archive.release.is_set() and writer.pending > 0
    finally:
        archive.release.set()
        streamer.stop()
    login = streamer.status().login
    wait_until(lambda: writer.pending == 0, message="the archive catching up")
    assert archive.history(login, 0, 2**62) and archive.deals(login, 0, 2**62)
    assert archive.account(login) is not None


def test_health_names_the_archive_and_turns_degraded_while_it_refuses_writes(
    make_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app({"MT5_SOURCE": "demo", "DATA_DIR": str(tmp_path)})
    runtime = app.server.extensions["mt5_runtime"]
    client = app.server.test_client()
    report = wait_until(
        lambda: (body := client.get("/health").get_json())["status"] == "ok" and body["archive"]["written"] and body,
        message="a healthy app that archived its first poll",
    )
    assert report["archive"]["path"] == str(tmp_path / FILE_NAME) and report["archive"]["size_bytes"] > 0

    def refuse(batch: Batch) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(runtime.archive.archive, "write", refuse)
    runtime.archive.submit_deals(LOGIN, [deal(1, 1_000)])
    report = wait_until(lambda: (body := client.get("/health").get_json())["status"] == "degraded" and body)
    assert report["archive"]["state"] == "degraded" and "disk I/O error" in report["archive"]["error"]

    monkeypatch.undo()
    wait_until(lambda: client.get("/health").get_json()["status"] == "ok", message="the archive writing again")
    assert runtime.archive.archive.deals(LOGIN, 0, 2_000) == [deal(1, 1_000)]
