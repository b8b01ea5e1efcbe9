"""Account history for charts: a time range read at the right resolution and downsampled to a width.

Short ranges read raw points; long ones read the per-minute rollup, so a range over a
million stored points costs about as much as one over a few thousand. MinMaxLTTB keeps
the equity spikes a trader cares about while cutting the series to the chart's width.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from sqlalchemy.exc import SQLAlchemyError
from tsdownsample import MinMaxLTTBDownsampler

from services.archive import Archive
from services.models import HistoryPoint
from services.store import Store

RAW_SPAN_MS = 2 * 3600 * 1000
MIN_WIDTH, MAX_WIDTH = 100, 4000


@dataclass(frozen=True, slots=True)
class Window:
    """What a chart asked for and what it got."""

    points: list[HistoryPoint]
    start_ms: int | None
    end_ms: int | None
    source: str  # "raw", "rollup", or "archive" (Redis had no point in the range)
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
    """Redis first; the archive on disk only when Redis holds no point of the range (a wiped or trimmed Redis)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    width = chart_width(width)
    points, source = _from_redis(store, login, start_ms, end_ms, now_ms)
    if not points and archive is not None:
        try:
            points, source = archive.history(login, start_ms or 0, end_ms or now_ms), "archive"
        except SQLAlchemyError:  # not opened yet, or unreadable: the chart says it has no data
            points = []
    return Window(downsample(points, width), start_ms, end_ms, source, len(points))


def _from_redis(
    store: Store, login: int, start_ms: int | None, end_ms: int | None, now_ms: int
) -> tuple[list[HistoryPoint], str]:
    first = store.first_history_ts(login)
    if first is None:
        return [], "raw"
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
