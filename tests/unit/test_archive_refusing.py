"""An archive that refuses writes, for real: another program holds its write lock, or it is read-only.

Read-only is made on SQLite's side (``PRAGMA query_only`` on every connection the archive takes from its
pool): the tests run as root in CI, and root writes through ``chmod`` and through a read-only directory
alike, so permissions would prove nothing there. SQLite then refuses with the very error a read-only file
gives (SQLITE_READONLY, "attempt to write a readonly database").

The streamer polls the moving fake terminal (a new history point at every poll) on an injected clock, one
``step()`` per simulated poll, so "polling is not slowed" is counted, never timed.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import fakeredis
import pytest
from sqlalchemy import event

from services.core.backoff import Backoff
from services.ingest.sources.mt5 import MT5Source
from services.ingest.streamer import Streamer
from services.storage.archive import FILE_NAME, Archive, ArchiveWriter
from services.storage.store import Store
from tests.fakes.moving_terminal import MovingTerminal
from tests.helpers import wait_until

QUICK = Backoff(base_s=0.01, cap_s=0.05, jitter=0)
POLL_S = 0.25
MAX_PENDING = 60  # rows the writer may hold while the archive refuses them
REFUSED_POLLS = 400  # 100 simulated seconds: far more points than MAX_PENDING
FOREVER = 2**62


class Clock:
    """The terminal's and the streamer's time: moved on one poll interval per step."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class Refusal(Protocol):
    """Makes an archive refuse writes until ``release()``; ``words`` is the driver's error then."""

    words: str

    def refuse(self) -> None: ...

    def release(self) -> None: ...


class Locked:
    """Another program (a backup tool, an sqlite3 shell) holds ``BEGIN EXCLUSIVE`` on the file."""

    words = "database is locked"

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    def refuse(self) -> None:
        self.other = sqlite3.connect(self.archive.path, isolation_level=None)
        self.other.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        self.other.execute("ROLLBACK")
        self.other.close()


class ReadOnly:
    """Every connection the archive checks out is read-only while refused (works as root, unlike chmod)."""

    words = "attempt to write a readonly database"

    def __init__(self, archive: Archive) -> None:
        self.refused = threading.Event()
        event.listen(archive.engine, "checkout", self._checkout)

    def _checkout(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        dbapi_connection.execute(f"PRAGMA query_only={int(self.refused.is_set())}")

    def refuse(self) -> None:
        self.refused.set()

    def release(self) -> None:
        self.refused.clear()


@pytest.fixture(params=[Locked, ReadOnly], ids=["locked", "read-only"])
def refusal_kind(request: pytest.FixtureRequest) -> Callable[[Archive], Refusal]:
    return request.param


@dataclass
class Rig:
    """The moving terminal, a streamer stepped by hand on their clock, a started writer and a refusal."""

    clock: Clock
    terminal: MovingTerminal
    store: Store
    writer: ArchiveWriter
    streamer: Streamer
    refusal: Refusal

    def poll(self, times: int) -> None:
        for _ in range(times):
            self.clock.now += POLL_S
            self.streamer.step()


@pytest.fixture
def rig(tmp_path: Path, refusal_kind: Callable[[Archive], Refusal]) -> Iterator[Rig]:
    clock = Clock(1_800_000_000.0)
    terminal = MovingTerminal(clock=clock, deal_every_s=20.0)
    store = Store(fakeredis.FakeRedis(decode_responses=True), "t", 100_000)
    archive = Archive(tmp_path / FILE_NAME, busy_timeout_ms=20)
    writer = ArchiveWriter(archive, max_pending=MAX_PENDING, interval_s=0.01, backoff=QUICK)
    streamer = Streamer(MT5Source(terminal.module, clock=clock), store, poll_interval_s=POLL_S, clock=clock,
                        archive=writer)  # fmt: skip
    rig = Rig(clock, terminal, store, writer, streamer, refusal_kind(archive))
    writer.start()
    yield rig
    writer.stop()


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The writer's log, less its start line."""
    records = (r for r in caplog.records if r.name == "services.storage.archive.writer")
    return [message for r in records if "(SQLite" not in (message := r.getMessage())]


def test_a_refusing_archive_never_slows_polling_stays_bounded_and_writes_what_it_kept(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "services.storage.archive.writer")
    terminal, store, writer, streamer, refusal = rig.terminal, rig.store, rig.writer, rig.streamer, rig.refusal
    rig.poll(20)
    login = streamer.status().login
    wait_until(lambda: writer.written and writer.pending == 0, 30, "the first polls archived")
    deals_before = len(terminal.deals)

    refusal.refuse()
    rig.poll(1)
    wait_until(lambda: writer.health()["failures"] >= 3, 30, "several refused attempts")
    rig.poll(REFUSED_POLLS - 1)
    assert streamer.status().polls == 20 + REFUSED_POLLS, "every simulated poll polled: none waited on the archive"
    wait_until(lambda: writer.health()["failures"] >= 6, 30, "more refused attempts")
    new_deals = len(terminal.deals) - deals_before
    assert 0 < new_deals < MAX_PENDING // 4
    health = writer.health()
    assert health["state"] == "degraded" and refusal.words in health["error"]
    assert writer.coalesced > 0 and writer.pending <= MAX_PENDING + new_deals, "memory stays bounded"
    refusing, full = lines(caplog)  # one line when it starts refusing, one when the buffer fills: none per attempt
    assert refusing == f"archive refuses writes: {health['error']}"
    assert full.endswith("rows wait to be written; history is coalesced until they are")

    refusal.release()
    wait_until(lambda: writer.pending == 0 and writer.health()["state"] == "ok", 30, "the buffer written")
    assert len(lines(caplog)) == 3 and lines(caplog)[-1].startswith("archive: writing again")
    assert writer.health()["error"] is None

    recorded = store.history(login, None, None)  # Redis took every point
    archived = writer.archive.history(login, 0, FOREVER)
    assert set(archived) <= set(recorded) and archived[-1] == recorded[-1], "the newest point is kept"
    assert len(archived) == len(recorded) - writer.coalesced, "only coalesced points are missing"
    assert writer.archive.deals(login, 0, FOREVER) == store.deals(login, None, None), "every deal"
    assert writer.archive.account(login) == streamer.latest().account


def test_health_reports_the_refusal_while_the_app_polls_on(
    make_app: Any, tmp_path: Path, refusal_kind: Callable[[Archive], Refusal]
) -> None:
    source = MT5Source(MovingTerminal().module)
    app = make_app({"DATA_DIR": str(tmp_path), "POLL_INTERVAL_MS": "50"}, source=source, start=False)
    runtime = app.server.extensions["mt5_runtime"]
    runtime.archive.archive.busy_timeout_ms = 50  # a locked attempt gives up in 50 ms, not the app's 5 s
    refusal = refusal_kind(runtime.archive.archive)
    runtime.start()
    client = app.server.test_client()
    wait_until(lambda: client.get("/health").get_json()["archive"]["written"], 30, "the first polls archived")

    refusal.refuse()
    health = wait_until(lambda: (h := client.get("/health").get_json())["archive"]["state"] == "degraded" and h, 30)
    assert health["status"] == "degraded" and refusal.words in health["archive"]["error"]
    polls = runtime.streamer.status().polls
    wait_until(lambda: runtime.streamer.status().polls >= polls + 20, 30, "the streamer polling on")
    assert client.get("/health").get_json()["archive"]["state"] == "degraded"

    refusal.release()
    wait_until(lambda: (a := client.get("/health").get_json()["archive"])["state"] == "ok" and not a["error"], 60)
    wait_until(lambda: runtime.archive.pending == 0, 30, "the buffer written")
    login = runtime.login()
    archived = [p.ts for p in runtime.archive.archive.history(login, 0, FOREVER)]
    polled = [p.ts for p in runtime.store.history(login, None, archived[-1])]
    assert set(polled) <= set(archived), "every point polled while the archive refused is in it"
