"""The archive's minute and hour rollups, re-timed deals and paged deal reads, on a real SQLite file.

Ground truth is computed here by brute force over the points written, not with the app's folding.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import fakeredis
import pytest
import redis

from services.analytics.balance import whole_life
from services.core.brokertime import parse_zone
from services.core.models import HistoryPoint
from services.core.units import HOUR_MS, MINUTE_MS
from services.storage.archive import FILE_NAME, Archive, Batch
from services.storage.archive.schema import history
from services.storage.series import archive_part, load_window
from services.storage.store import Store
from tests.unit.test_archive import LOGIN, deal

START = 1_780_000_000_000 - 1_780_000_000_000 % HOUR_MS


@pytest.fixture(params=["sqlite", "postgresql"])
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Archive]:
    """The same rollups and re-timing on both backends (PostgreSQL: the tests' own private server)."""
    opened = Archive(tmp_path / FILE_NAME if request.param == "sqlite" else request.getfixturevalue("postgres_url"))
    opened.open()
    yield opened
    opened.close()


def random_points(n: int, seed: int = 5) -> list[HistoryPoint]:
    rng = random.Random(seed)
    ts, equity, points = START, 10_000.0, []
    for _ in range(n):
        ts += rng.randint(200, 20_000)
        equity += rng.uniform(-25, 25)
        balance = 10_000.0 + rng.choice((0.0, 0.0, 12.5))
        points.append(HistoryPoint(ts, balance, round(equity, 2), rng.uniform(0, 500), rng.uniform(100, 900), 1.0))
    return points


def truth(points: list[HistoryPoint], span: int) -> list[tuple[int, float, int, float, float]]:
    """Per span: (low ts, low, high ts, high, last balance), the earliest point on ties."""
    spans: dict[int, list[HistoryPoint]] = {}
    for p in points:
        spans.setdefault(p.ts - p.ts % span, []).append(p)
    rows = []
    for start in sorted(spans):
        group = spans[start]
        low = min(group, key=lambda p: (p.equity, p.ts))
        high = min(group, key=lambda p: (-p.equity, p.ts))
        rows.append((low.ts, low.equity, high.ts, high.equity, max(group, key=lambda p: p.ts).balance))
    return rows


def stored(archive: Archive, span: int) -> list[tuple[int, float, int, float, float]]:
    points = archive.rollup_points(LOGIN, span, 0, 2**62)
    rows: list[tuple[int, float, int, float, float]] = []
    by_span: dict[int, list[HistoryPoint]] = {}
    for p in points:
        by_span.setdefault(p.ts - p.ts % span, []).append(p)
    for start in sorted(by_span):
        group = by_span[start]
        low, high = min(group, key=lambda p: (p.equity, p.ts)), min(group, key=lambda p: (-p.equity, p.ts))
        rows.append((low.ts, low.equity, high.ts, high.equity, group[-1].balance))
    return rows


def test_rollups_hold_every_span_low_high_and_last_balance_however_the_batches_fall(archive: Archive) -> None:
    points = random_points(3_000)
    rng = random.Random(9)
    at = 0
    while at < len(points):  # batches of random size, cutting through minutes and hours
        size = rng.randint(1, 200)
        archive.write(Batch(points=[(LOGIN, p) for p in points[at : at + size]]))
        at += size
    archive.write(Batch(points=[(LOGIN, p) for p in points[100:700]]))  # a retried batch changes nothing
    for span in (MINUTE_MS, HOUR_MS):
        assert stored(archive, span) == truth(points, span)


def test_a_range_reads_only_its_spans(archive: Archive) -> None:
    points = random_points(500)
    archive.write(Batch(points=[(LOGIN, p) for p in points]))
    lo, hi = points[100].ts, points[300].ts
    got = archive.rollup_points(LOGIN, MINUTE_MS, lo, hi)
    whole = [(r[0], r[1]) for r in truth(points, MINUTE_MS)] + [(r[2], r[3]) for r in truth(points, MINUTE_MS)]
    expected = sorted({(ts, equity) for ts, equity in whole if lo <= ts <= hi})
    assert [(p.ts, p.equity) for p in got] == expected


def test_long_ranges_open_from_the_rollups_and_redis_adds_what_it_holds(archive: Archive) -> None:
    points = random_points(4_000)  # about 11 hours
    archive.write(Batch(points=[(LOGIN, p) for p in points]))
    store = Store(fakeredis.FakeRedis(decode_responses=True), "t", 100_000)
    recent = [replace(p, ts=p.ts + 12 * HOUR_MS) for p in points[-50:]]
    store.append_history(LOGIN, recent)
    window = load_window(store, LOGIN, None, None, 4_000, now_ms=recent[-1].ts, archive=archive)
    assert window.source == "archive+raw"
    minute_rows = truth(points, MINUTE_MS)
    assert window.stored == sum(1 if r[0] == r[2] else 2 for r in minute_rows) + len(recent)
    assert min(p.equity for p in window.points) == min(p.equity for p in points + recent), "the lowest equity is kept"
    assert max(p.equity for p in window.points) == max(p.equity for p in points + recent)


def test_the_archive_answers_for_the_part_of_a_range_before_redis_first_point() -> None:
    assert archive_part(None, None, None) == (0, None), "Redis holds nothing: all of it, open-ended"
    assert archive_part(500, 800, None) == (500, 800)
    assert archive_part(None, None, 1000) == (0, 999)
    assert archive_part(500, 2000, 1000) == (500, 999)
    assert archive_part(None, 800, 1000) == (0, 800)
    assert archive_part(1000, 2000, 1000) is None, "Redis holds it all"
    assert archive_part(1500, None, 1000) is None
    assert archive_part(800, 500, None) is None, "an empty range"


def test_deals_are_read_in_pages_and_re_timed_with_a_new_broker_clock(archive: Archive) -> None:
    ny_close = parse_zone("ny-close")
    winter = 1_767_225_600_000  # 2026-01-01 UTC: UTC+2 on a New York close clock
    summer = 1_782_864_000_000  # 2026-07-01 UTC: UTC+3
    deals = [deal(t, winter + t * 60_000) for t in range(1, 6)] + [deal(t, summer + t * 60_000) for t in range(6, 11)]
    archive.write(Batch(deals=[(LOGIN, d) for d in deals]))  # stamped as if the clock were fixed at UTC+2
    assert [len(page) for page in archive.deal_pages(LOGIN, 4)] == [4, 4, 2]
    moved = archive.restamp_deals(LOGIN, "ny-close")
    assert moved == 5, "only the summer deals were an hour off"
    again = {d.ticket: d for page in archive.deal_pages(LOGIN, 100) for d in page}
    for d in deals:
        expected = ny_close.to_utc_ms(d.time_msc)
        assert again[d.ticket].time_utc_ms == expected
        assert [x.ticket for x in archive.deals(LOGIN, expected, expected)] == [d.ticket]
    assert archive.restamp_deals(LOGIN, "ny-close") == 0


def test_an_archive_from_before_the_rollups_gets_them_at_its_next_open(archive: Archive) -> None:
    points = random_points(2_500)
    with archive.engine.begin() as conn:  # rows as the previous version wrote them: history only
        conn.execute(history.insert(), [{"login": LOGIN, **p.to_dict()} for p in points])
    assert archive.rollup_points(LOGIN, MINUTE_MS, 0, 2**62) == []
    archive.open()
    for span in (MINUTE_MS, HOUR_MS):
        assert stored(archive, span) == truth(points, span)
    assert archive.build_rollups() == 0, "once"


def test_while_redis_is_down_the_charts_draw_from_the_archive(archive: Archive) -> None:
    points = random_points(300)
    deals = [deal(t, points[0].ts + t * 60_000) for t in range(1, 6)]
    archive.write(Batch(points=[(LOGIN, p) for p in points], deals=[(LOGIN, d) for d in deals]))
    server = fakeredis.FakeServer()
    server.connected = False  # every command raises ConnectionError
    store = Store(fakeredis.FakeRedis(server=server, decode_responses=True), "t", 100_000)
    with pytest.raises(redis.ConnectionError):
        whole_life(store, LOGIN, None, None, 1_000, now_ms=points[-1].ts)
    part = whole_life(store, LOGIN, None, None, 1_000, now_ms=points[-1].ts, archive=archive)
    assert part.window.source == "archive" and part.window.stored == len(points), "under 2 hours: every point"
    assert part.curve.deals == len(deals)
