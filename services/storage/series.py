"""Account history for charts: a time range read at the right resolution and downsampled to a width.

Short ranges read raw points; long ones read rollups (Redis keeps a minute's, the archive a
minute's and an hour's), so a range over a million stored points costs about as much as one
over a few thousand. Redis answers for what it holds; the archive for anything before Redis's
first point (a wiped Redis, an embedded one after a restart, a trimmed stream). MinMaxLTTB keeps
the equity spikes a trader cares about while cutting the series to the chart's width.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from sqlalchemy.exc import SQLAlchemyError
from tsdownsample import MinMaxLTTBDownsampler

from services.core.models import HistoryPoint
from services.core.units import DAY_MS, HOUR_MS, MINUTE_MS
from services.storage.archive import Archive
from services.storage.store import Store

RAW_SPAN_MS = 2 * HOUR_MS
MINUTE_ROLLUP_SPAN_MS = 30 * DAY_MS  # longer ranges read the archive's hourly rollup
MIN_WIDTH, MAX_WIDTH = 100, 4000


@dataclass(frozen=True, slots=True)
class Window:
    """What a chart asked for and what it got."""

    points: list[HistoryPoint]
    start_ms: int | None
    end_ms: int | None
    source: str  # "raw" or "rollup" (Redis), "archive", or "archive+raw" / "archive+rollup" (both)
    stored: int  # points read before downsampling


def load_window(
    store: Store,
    login: int,
    start_ms: int | None,
    end_ms: int | None,
    width: int,
    now_ms: int | None = None,
    archive: Archive | None = None,
) -> Window:
    """Redis for the part of the range it holds, the archive for the part before Redis's first point."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    width = chart_width(width)
    first = store.first_history_ts(login)
    points, source = ([], "raw") if first is None else _from_redis(store, login, start_ms, end_ms, now_ms, first)
    part = None if archive is None else archive_part(start_ms, end_ms, first)
    if archive is not None and part is not None:
        older = _from_archive(archive, login, part[0], now_ms if part[1] is None else part[1])
        if older:
            points, source = older + points, "archive" if not points else f"archive+{source}"
    return Window(downsample(points, width), start_ms, end_ms, source, len(points))


def archive_part(start_ms: int | None, end_ms: int | None, redis_first_ms: int | None) -> tuple[int, int | None] | None:
    """The part of a range the archive answers for: all of it before Redis's first point (a wiped Redis, an
    embedded one after a restart, a trimmed stream), the whole range when Redis holds none. None when Redis
    holds it all; an end of None is open."""
    start = start_ms or 0
    if redis_first_ms is None:
        end = end_ms
    else:
        end = redis_first_ms - 1 if end_ms is None else min(end_ms, redis_first_ms - 1)
    return None if end is not None and end < start else (start, end)


def archive_window(
    archive: Archive, login: int, start_ms: int | None, end_ms: int | None, width: int, now_ms: int
) -> Window:
    """The range from the archive alone: what a chart draws while Redis cannot answer; raises SQLAlchemyError."""
    points = _archived(archive, login, start_ms or 0, now_ms if end_ms is None else end_ms)
    return Window(downsample(points, chart_width(width)), start_ms, end_ms, "archive", len(points))


def _from_archive(archive: Archive, login: int, start_ms: int, end_ms: int) -> list[HistoryPoint]:
    """``_archived``, or [] when the archive is not opened yet or unreadable: the chart shows what Redis has."""
    try:
        return _archived(archive, login, start_ms, end_ms)
    except SQLAlchemyError:
        return []


def _archived(archive: Archive, login: int, start_ms: int, end_ms: int) -> list[HistoryPoint]:
    """Raw points for a short range, a minute's or an hour's rollup for longer ones."""
    first = archive.first_ts(login)
    if first is None or end_ms < max(start_ms, first):
        return []
    span = end_ms - max(start_ms, first)
    if span <= RAW_SPAN_MS:
        return archive.history(login, start_ms, end_ms)
    step = MINUTE_MS if span <= MINUTE_ROLLUP_SPAN_MS else HOUR_MS
    return archive.rollup_points(login, step, start_ms, end_ms)


def _from_redis(
    store: Store, login: int, start_ms: int | None, end_ms: int | None, now_ms: int, first: int
) -> tuple[list[HistoryPoint], str]:
    span = (end_ms or now_ms) - max(start_ms or first, first)
    if span > RAW_SPAN_MS:
        points, source = store.rollup_points(login, start_ms, end_ms), "rollup"
        if not points:
            points, source = store.history(login, start_ms, end_ms), "raw"
        else:
            tail_start = points[-1].ts + 1
            points += store.history(login, tail_start, end_ms)  # the minute still being rolled up
    else:
        points, source = store.history(login, start_ms, end_ms), "raw"
    return points, source


def chart_width(width: int) -> int:
    """The points a chart of ``width`` pixels is given: bounded, so a bad client value costs no more."""
    return max(MIN_WIDTH, min(MAX_WIDTH, width))


def downsample(points: list[HistoryPoint], width: int) -> list[HistoryPoint]:
    """At most ~2×width points: MinMaxLTTB over equity, plus every balance step that survives it."""
    if len(points) <= width:
        return points
    ts = np.fromiter((p.ts for p in points), dtype=np.int64, count=len(points))
    equity = np.fromiter((p.equity for p in points), dtype=np.float64, count=len(points))
    balance = np.fromiter((p.balance for p in points), dtype=np.float64, count=len(points))
    keep = set(MinMaxLTTBDownsampler().downsample(ts, equity, n_out=width).tolist())
    steps = np.flatnonzero(np.diff(balance)) + 1
    if len(steps) > width:
        steps = steps[np.linspace(0, len(steps) - 1, width).astype(int)]
    keep.update(steps.tolist())
    keep.update((0, len(points) - 1))
    return [points[i] for i in sorted(keep)]
