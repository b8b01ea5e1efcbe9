"""``python -m bench.archive [--url URL] [--quick]``: what the archive costs to write, and to open a year back.

Standalone (no Redis server, no browser); timings are printed, never asserted.

Writes: 20 accounts polled 4 times a second, handed to the ``ArchiveWriter`` as the streamer hands them
(``record()``): a history point at every poll, a positions/orders state on 1 poll in 20, a deal on 1 in 400,
for ``--window`` real seconds. Printed: CPU seconds per minute of the ``archive-writer`` thread (its own
user + system time, from psutil), rows written per second, the archive's growth, and what ``record()``
costs the polling thread. On a SQLite file in a temporary directory, and on ``--url`` (default:
``DATABASE_URL`` when set), a PostgreSQL archive, where the benchmark's logins are deleted afterwards.

A year back: a SQLite archive filled with a year of one account's points at the density the streamer
records them: a point per poll (4 a second) while positions are open, none while the account is flat;
here a day trader, positions open ``--session-h`` hours every weekday. Printed, as medians: one day and
one week read at full resolution (``Archive.history``), and "All" as the page opens it when Redis holds
none of it (``balance.whole_life`` on an empty Redis: ``load_window`` falls back to the archive and
downsamples: the archive's hourly rollup for a year), with the rows read and the peak memory it took; and, for
comparison, a per-minute rollup computed by the database at read time.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import fakeredis
import numpy as np
import psutil
from sqlalchemy import delete, func, select

from services.analytics.balance import whole_life
from services.core.models import Deal, HistoryPoint, Snapshot
from services.core.units import DAY_MS, HOUR_MS, MINUTE_MS
from services.ingest.sources.demo import DemoSource
from services.storage.archive import FILE_NAME, Archive, ArchiveWriter
from services.storage.archive.schema import accounts, deals, history, states
from services.storage.store import Store

ACCOUNTS = 20
POLL_S = 0.25
STATE_EVERY = 20  # polls per positions/orders change
DEAL_EVERY = 400  # polls per deal
FIRST_LOGIN = 990_000_001  # logins no broker hands out here, deleted from a shared PostgreSQL afterwards
SESSION_START_H = 13  # the London/New York overlap, UTC
FILL_CHUNK = 100_000
WIDTH = 1_200  # the page's chart on a 1280 px screen
FILL = "INSERT INTO history (login, ts, balance, equity, margin, margin_level, profit) VALUES (?, ?, ?, ?, ?, ?, ?)"


def median_s(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median seconds of ``repeat`` runs, and the last run's result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def thread_cpu_s(name: str) -> float:
    """User + system seconds of this process's thread called ``name``."""
    native = next(t.native_id for t in threading.enumerate() if t.name == name)
    return next(t.user_time + t.system_time for t in psutil.Process().threads() if t.id == native)


# -- writes ---------------------------------------------------------------------------------------------
class Accounts:
    """20 demo accounts' snapshots, moved on at each poll: new equity, sometimes positions, rarely a deal."""

    def __init__(self) -> None:
        self.templates = []
        for i in range(ACCOUNTS):
            demo = DemoSource(seed=i, login=FIRST_LOGIN + i)
            demo.connect()
            self.templates.append((demo.account(), tuple(demo.positions()), tuple(demo.orders()), demo.new_deals()[-1]))
        self.polls = 0

    def poll(self, now_ms: int) -> Iterator[tuple[Snapshot, HistoryPoint, list[str], list[Deal]]]:
        self.polls += 1
        for i, (account, positions, orders, deal) in enumerate(self.templates):
            moved = replace(account, equity=account.equity + (self.polls * 37 + i) % 500 / 100)
            changed = ["account"]
            if (self.polls + i) % STATE_EVERY == 0:
                positions = positions[1:] + positions[:1]
                changed.append("positions")
            news = []
            if (self.polls + i * 20) % DEAL_EVERY == 0:
                ticket = deal.ticket + self.polls * ACCOUNTS + i
                news = [replace(deal, ticket=ticket, time_msc=now_ms + 7_200_000, time_utc_ms=now_ms)]
            yield Snapshot(moved, positions, orders, now_ms, 7200), HistoryPoint.of(moved, now_ms), changed, news


def writes(target: Path | str, window_s: float) -> dict[str, Any]:
    archive = Archive(target)
    writer = ArchiveWriter(archive)
    feed = Accounts()
    writer.start()
    wait(lambda: writer.written or writer.error or archive.size_bytes(), 60)  # opened (created, migrated)
    size_before, written_before, cpu_before = settled_size(archive), writer.written, thread_cpu_s("archive-writer")
    record_us: list[float] = []
    started = time.monotonic()
    tick = started
    while tick - started < window_s:
        now_ms = int(time.time() * 1000)
        for snapshot, point, changed, news in feed.poll(now_ms):
            begun = time.perf_counter()
            writer.record(snapshot, point, changed, news)
            record_us.append((time.perf_counter() - begun) * 1e6)
        tick += POLL_S
        time.sleep(max(0.0, tick - time.monotonic()))
    wait(lambda: writer.pending == 0, 60)
    elapsed = time.monotonic() - started
    cpu = thread_cpu_s("archive-writer") - cpu_before
    rows = writer.written - written_before
    writer.stop()
    size_after, error = settled_size(archive), writer.error
    if archive.path is None:
        forget(archive)
    archive.close()
    if error:
        raise RuntimeError(f"the archive refused writes: {error}")
    return {
        "cpu_s_per_min": cpu / elapsed * 60,
        "rows_per_s": rows / elapsed,
        "polls_per_s": feed.polls * ACCOUNTS / elapsed,
        "growth_mb_per_h": (size_after - size_before) / elapsed * 3600 / 2**20,
        "record_us_p50": statistics.median(record_us),
        "record_us_p99": float(np.percentile(record_us, 99)),
    }


def settled_size(archive: Archive) -> int:
    """The archive's size with SQLite's write-ahead log folded in: its growth, not the log's."""
    if archive.path is not None:
        with archive.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return archive.size_bytes()


def forget(archive: Archive) -> None:
    """A shared PostgreSQL keeps nothing of the benchmark."""
    logins = range(FIRST_LOGIN, FIRST_LOGIN + ACCOUNTS)
    with archive.engine.begin() as conn:
        for table in (history, deals, states, accounts):
            conn.execute(delete(table).where(table.c.login.in_(logins)))


def wait(condition: Callable[[], Any], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not within {timeout_s} s")
        time.sleep(0.05)


# -- a year back ----------------------------------------------------------------------------------------
def sessions(end_ms: int, session_h: float) -> list[tuple[int, int]]:
    """The weekday sessions of the 365 days up to ``end_ms``: (first point, last point) in UTC ms."""
    first_day = (end_ms - 365 * DAY_MS) // DAY_MS * DAY_MS
    days = range(first_day, end_ms - DAY_MS, DAY_MS)
    starts = [day + SESSION_START_H * HOUR_MS for day in days if time.gmtime(day / 1000).tm_wday < 5]
    return [(start, start + int(session_h * HOUR_MS) - int(POLL_S * 1000)) for start in starts]


def fill(archive: Archive, spans: list[tuple[int, int]]) -> int:
    """A point every poll of every session (straight through the driver: only the reads are measured here):
    equity wanders, the balance steps to it at each session's end."""
    rng = np.random.default_rng(7)
    step = int(POLL_S * 1000)
    ts = np.concatenate([np.arange(lo, hi + 1, step, dtype=np.int64) for lo, hi in spans])
    equity = np.round(10_000 + np.cumsum(rng.normal(0.0, 0.4, len(ts))), 2)
    ends = np.searchsorted(ts, [hi for _, hi in spans])
    balance = np.repeat(np.concatenate([[10_000.0], equity[ends[:-1]]]), np.diff(np.concatenate([[0], ends + 1])))
    level = np.round(equity / 4, 2)  # a margin of 400
    profit = np.round(equity - balance, 2)
    connection = archive.engine.raw_connection()
    try:
        cursor = connection.cursor()
        for lo in range(0, len(ts), FILL_CHUNK):
            part = slice(lo, lo + FILL_CHUNK)
            columns = (ts[part], balance[part], equity[part], level[part], profit[part])
            rows = (
                (FIRST_LOGIN, t, b, e, 400.0, m, f)
                for t, b, e, m, f in zip(*(c.tolist() for c in columns), strict=True)
            )
            cursor.executemany(FILL, rows)
        connection.commit()
    finally:
        connection.close()
    return len(ts)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def year(workdir: Path, session_h: float, repeat: int) -> dict[str, Any]:
    archive = Archive(workdir / "year" / FILE_NAME)
    archive.open()
    end_ms = int(time.time() * 1000) // DAY_MS * DAY_MS
    spans = sessions(end_ms, session_h)
    begun = time.perf_counter()
    points = fill(archive, spans)
    fill_s = time.perf_counter() - begun
    begun = time.perf_counter()
    archive.build_rollups()  # what an archive from before the rollups does once at its first open
    rollup_build_s = time.perf_counter() - begun
    store = Store(fakeredis.FakeRedis(decode_responses=True), "bench", 1_000_000)  # Redis holds none of it
    day_lo, day_hi = spans[-1]
    week_lo = spans[-5][0]
    day_s, day = median_s(lambda: archive.history(FIRST_LOGIN, day_lo, day_hi), repeat)
    week_s, week = median_s(lambda: archive.history(FIRST_LOGIN, week_lo, day_hi), repeat)
    rss_before = peak_rss_mb()
    all_s, part = median_s(lambda: whole_life(store, FIRST_LOGIN, None, None, WIDTH, archive=archive), repeat)
    minute = history.c.ts // MINUTE_MS
    rollup = select(minute, func.min(history.c.equity), func.max(history.c.equity), func.max(history.c.ts))
    rollup = rollup.where(history.c.login == FIRST_LOGIN).group_by(minute)

    def per_minute() -> list[Any]:
        with archive.engine.connect() as conn:
            return conn.execute(rollup).all()

    minute_s, minutes = median_s(per_minute, repeat)
    result = {
        "points": points,
        "sessions": len(spans),
        "fill_s": fill_s,
        "rollup_build_s": rollup_build_s,
        "size_mb": archive.size_bytes() / 2**20,
        "day": (day_s, len(day)),
        "week": (week_s, len(week)),
        "all": (all_s, part.window.stored, len(part.window.points), part.window.source),
        "all_peak_rss_growth_mb": peak_rss_mb() - rss_before,
        "rollup": (minute_s, len(minutes)),
    }
    archive.close()
    return result


# -- the command ----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.archive", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("DATABASE_URL"), help="a PostgreSQL archive to also write")
    parser.add_argument("--window", type=float, default=60.0, help="seconds of polling written (default 60)")
    parser.add_argument("--session-h", type=float, default=1.0, help="hours a day positions are open (default 1)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per read; the median is printed (default 3)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 3 s of writes, 1 minute a day")
    args = parser.parse_args(argv)
    window, session_h, repeat = (3.0, 1 / 60, 2) if args.quick else (args.window, args.session_h, args.repeat)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {psutil.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
        targets: list[tuple[str, Path | str]] = [("SQLite", Path(tmp) / FILE_NAME)]
        if args.url:
            targets.append(("PostgreSQL", args.url))
        print(f"\nWrites: {ACCOUNTS} accounts × {1 / POLL_S:.0f} polls/s for {window:.0f} s (a state every "
              f"{STATE_EVERY} polls, a deal every {DEAL_EVERY})")  # fmt: skip
        print(f"{'archive':<11} {'writer CPU s/min':>16} {'rows/s':>8} {'polls/s':>8} {'MB/h':>7} "
              f"{'record() µs p50':>16} {'p99':>6}")  # fmt: skip
        for name, target in targets:
            w = writes(target, window)
            print(f"{name:<11} {w['cpu_s_per_min']:>16.2f} {w['rows_per_s']:>8.1f} {w['polls_per_s']:>8.1f} "
                  f"{w['growth_mb_per_h']:>7.1f} {w['record_us_p50']:>16.1f} {w['record_us_p99']:>6.1f}")  # fmt: skip
        y = year(Path(tmp), session_h, repeat)
    print(f"\nA year back (SQLite): {y['points']:,} points, {y['sessions']} weekday sessions of "
          f"{session_h * 60:g} min at {1 / POLL_S:.0f} points/s; {y['size_mb']:.1f} MB on disk, "
          f"filled in {y['fill_s']:.1f} s, rollups built in {y['rollup_build_s']:.1f} s")  # fmt: skip
    print(f"{'read':<44} {'median s':>9} {'rows read':>10} {'points out':>10}")
    print(
        f"{'one day, full resolution (Archive.history)':<44} {y['day'][0]:>9.3f} {y['day'][1]:>10,} {y['day'][1]:>10,}"
    )
    print(f"{'one week, full resolution (Archive.history)':<44} {y['week'][0]:>9.3f} {y['week'][1]:>10,} "
          f"{y['week'][1]:>10,}")  # fmt: skip
    all_s, stored, drawn, source = y["all"]
    print(f"{'All, Redis empty (whole_life → ' + source + ')':<44} {all_s:>9.3f} {stored:>10,} {drawn:>10,}")
    print(
        f"{'per-minute rollup in SQL (GROUP BY)':<44} {y['rollup'][0]:>9.3f} {y['points']:>10,} {y['rollup'][1]:>10,}"
    )
    print(f"All: peak memory grew {y['all_peak_rss_growth_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
