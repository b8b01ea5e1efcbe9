"""The streamer never waits on Redis, and gets back what a wiped Redis lost.

A frozen client (every command blocks) stands for a SIGSTOPped server here; the integration tests
freeze a real redis-server. The archive is a real SQLite file.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest

from services.core.backoff import Backoff
from services.ingest.sources.demo import DemoSource
from services.ingest.streamer import Streamer
from services.storage.archive import FILE_NAME, Archive, ArchiveWriter
from services.storage.series import load_window
from services.storage.store import Store
from tests.helpers import wait_until

QUICK = Backoff(base_s=0.01, cap_s=0.05, jitter=0)


class Frozen:
    """A Redis client proxy: while ``frozen`` is set every command blocks; it notes the threads that call it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.frozen = threading.Event()
        self.thawed = threading.Event()
        self.threads: set[str] = set()

    def _gate(self) -> None:
        self.threads.add(threading.current_thread().name)
        if self.frozen.is_set():
            self.thawed.wait()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self._gate()
            result = attr(*args, **kwargs)
            return Pipeline(result, self) if name == "pipeline" else result

        return call


class Pipeline:
    def __init__(self, pipe: Any, owner: Frozen) -> None:
        self._pipe, self._owner = pipe, owner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._pipe, name)
        if name != "execute":
            return attr

        def execute(*args: Any, **kwargs: Any) -> Any:
            self._owner._gate()
            return attr(*args, **kwargs)

        return execute


def caught_up(writer: ArchiveWriter, store: Store, login: int) -> bool:
    """Every deal and the newest point Redis holds are committed to the archive (``pending`` alone is 0 while
    the last batch is still being written)."""
    newest = store.last_history_ts(login)
    point = writer.archive.point_at(login, 2**62)
    archived = {d.ticket for page in writer.archive.deal_pages(login, 5_000) for d in page}
    return point is not None and point.ts >= (newest or 0) and archived >= {d.ticket for d in store.deals(login)}


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[ArchiveWriter]:
    archive_writer = ArchiveWriter(Archive(tmp_path / FILE_NAME), interval_s=0.01, backoff=QUICK)
    archive_writer.start()
    wait_until(lambda: archive_writer.opened, message="the archive opened")
    yield archive_writer
    archive_writer.stop()


def test_a_frozen_redis_never_slows_polling_and_loses_no_point(writer: ArchiveWriter) -> None:
    client = Frozen(fakeredis.FakeRedis(decode_responses=True))
    store = Store(client, "t", 100_000)  # type: ignore[arg-type]
    evaluated: list[int] = []
    streamer = Streamer(DemoSource(seed=4), store, poll_interval_s=0.01, archive=writer)
    streamer.add_listener(lambda snapshot, kinds: evaluated.append(snapshot.ts))
    streamer.start()
    try:
        wait_until(lambda: streamer.status().polls >= 3 and store.history_length(streamer.status().login), 20)
        login = streamer.status().login
        client.frozen.set()
        polls, seen = streamer.status().polls, len(evaluated)
        wait_until(lambda: streamer.status().polls >= polls + 50, 60, "fifty polls while Redis hangs")
        assert len(evaluated) >= seen + 50, "the risk rules (a listener) see every poll"
        assert not client.thawed.is_set()
        frozen_polls = streamer.status().polls
        client.threads.clear()
        client.thawed.set()
        client.frozen.clear()
        wait_until(lambda: streamer.writer_health()["pending_history"] == 0, 30, "the buffer drains")
    finally:
        client.thawed.set()
        streamer.stop()
    assert "mt5-streamer" not in client.threads, "polling never calls Redis"
    points = store.history(login)
    assert len(points) >= frozen_polls - 5, "every poll's point reached Redis once it answered"
    assert [p.ts for p in points] == sorted({p.ts for p in points})


def test_a_wiped_redis_gets_its_deals_back_and_charts_keep_the_archived_history(
    writer: ArchiveWriter, caplog: pytest.LogCaptureFixture
) -> None:
    server = fakeredis.FakeServer()
    store = Store(fakeredis.FakeRedis(server=server, decode_responses=True), "t", 100_000)
    clock = [1_780_000_000.0]
    source = DemoSource(seed=3, clock=lambda: clock[0], start_utc_s=clock[0] - 3 * 86_400)
    streamer = Streamer(source, store, clock=lambda: clock[0], archive=writer)
    for _ in range(20):
        streamer.step()
        clock[0] += 0.25
    login = streamer.status().login
    deals = store.deal_count(login)
    assert deals > 0
    wait_until(lambda: caught_up(writer, store, login), message="the archive caught up")
    recorded = [p.ts for p in store.history(login)]

    caplog.set_level(logging.INFO, logger="services.ingest.streamer")
    store.client.flushall()
    streamer.step()
    assert store.deal_count(login) == deals, "every deal is back at the first write after the wipe"
    assert streamer.writer_health()["restores"] == 1
    wiped = [r.getMessage() for r in caplog.records if "Redis lost account" in r.getMessage()]
    assert len(wiped) == 1 and f"{deals} deals restored from the archive" in wiped[0]
    for _ in range(3):
        clock[0] += 0.25
        streamer.step()
    assert streamer.writer_health()["restores"] == 1, "one wipe, one restore"
    wait_until(lambda: caught_up(writer, store, login), message="the archive caught up")
    now_ms = int(clock[0] * 1000)
    hour = load_window(store, login, recorded[-1] - 3_600_000, recorded[-1], 4_000, now_ms, writer.archive)
    assert hour.source == "archive"
    # The demo's simulated past ends at the first poll's time: Redis files both at that millisecond, the archive one.
    assert [p.ts for p in hour.points] == sorted({ts for ts in recorded if ts >= recorded[-1] - 3_600_000})
    two_days = load_window(store, login, recorded[-1] - 2 * 86_400_000, None, 4_000, now_ms, writer.archive)
    assert two_days.source == "archive+raw", "the archive's minute rollup, then what Redis holds since the wipe"
    shown = {p.ts for p in two_days.points}
    # One point a minute in the simulated past: the minute rollup keeps each of them; the last polls share minutes.
    assert {ts for ts in recorded if ts >= recorded[-1] - 2 * 86_400_000 and ts < recorded[-30]} <= shown


def test_a_first_start_on_an_empty_embedded_redis_restores_the_archived_deals(writer: ArchiveWriter) -> None:
    clock = [1_780_000_000.0]

    def run(store: Store) -> Streamer:
        source = DemoSource(seed=3, clock=lambda: clock[0], start_utc_s=clock[0] - 86_400)
        streamer = Streamer(source, store, clock=lambda: clock[0], archive=writer)
        streamer.step()
        return streamer

    first = Store(fakeredis.FakeRedis(decode_responses=True), "t", 100_000)
    login = run(first).status().login
    wait_until(lambda: caught_up(writer, first, login), message="the archive caught up")
    archived = {d.ticket for page in writer.archive.deal_pages(login, 1_000) for d in page}
    assert archived == {d.ticket for d in first.deals(login)}

    second = Store(fakeredis.FakeRedis(decode_responses=True), "t", 100_000)  # a restart: a new, empty Redis
    streamer = run(second)
    assert {d.ticket for d in second.deals(login)} >= archived
    assert streamer.writer_health()["restores"] == 0, "a first start is not reported as a wipe"


def test_the_sources_past_reaches_redis_and_an_archive_that_opens_late(tmp_path: Path) -> None:
    clock = [1_780_000_000.0]
    store = Store(fakeredis.FakeRedis(decode_responses=True), "t", 100_000)
    source = DemoSource(seed=3, clock=lambda: clock[0], start_utc_s=clock[0] - 86_400)
    writer = ArchiveWriter(Archive(tmp_path / FILE_NAME), interval_s=0.01, backoff=QUICK)
    streamer = Streamer(source, store, clock=lambda: clock[0], archive=writer)
    for _ in range(3):  # the archive is not open yet: it opens on its own thread, later
        streamer.step()
        clock[0] += 0.25
    login = streamer.status().login
    past = [p.ts for p in store.history(login) if p.ts < int((clock[0] - 1) * 1000)]
    assert len(past) > 1_000, "the simulated day is in Redis at once"
    writer.start()
    try:
        wait_until(lambda: writer.opened, message="the archive opened")
        streamer.step()

        def archived() -> set[int]:
            return {p.ts for p in writer.archive.history(login, 0, 2**62)}

        wait_until(lambda: set(past) <= archived(), message="the past in the archive once it opens")
    finally:
        writer.stop()
