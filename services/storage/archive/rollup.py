"""Rollups of recorded history: per span (a minute, an hour), the equity low and high with their times
and the span's last balance, margin, margin level and profit.

A chart of a year reads about 9,000 hourly rows instead of millions of points, and keeps every
equity extreme a trader cares about. Folding is idempotent (a batch written twice yields the same
row), so a retried or restarted writer never skews a rollup.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from services.core.models import HistoryPoint
from services.core.units import HOUR_MS, MINUTE_MS

SPANS_MS = (MINUTE_MS, HOUR_MS)


@dataclass(frozen=True, slots=True)
class Rollup:
    login: int
    span_ms: int
    start: int
    low_ts: int
    low: float
    high_ts: int
    high: float
    last_ts: int
    balance: float
    margin: float
    margin_level: float
    profit: float

    @classmethod
    def of(cls, login: int, span_ms: int, point: HistoryPoint) -> Rollup:
        return cls(
            login,
            span_ms,
            point.ts - point.ts % span_ms,
            point.ts,
            point.equity,
            point.ts,
            point.equity,
            point.ts,
            point.balance,
            point.margin,
            point.margin_level,
            point.profit,
        )

    def merge(self, other: Rollup) -> Rollup:
        """Both rollups of one span: the lower low, the higher high, the later last point."""
        low = (
            (self.low_ts, self.low)
            if (self.low, self.low_ts) <= (other.low, other.low_ts)
            else (other.low_ts, other.low)
        )
        high = (
            (self.high_ts, self.high)
            if (-self.high, self.high_ts) <= (-other.high, other.high_ts)
            else (other.high_ts, other.high)
        )
        last = self if self.last_ts >= other.last_ts else other
        return replace(last, low_ts=low[0], low=low[1], high_ts=high[0], high=high[1])

    def points(self) -> list[HistoryPoint]:
        """The low and the high in time order (one point when they coincide), with the span's last values."""
        extremes = sorted({(self.low_ts, self.low), (self.high_ts, self.high)})
        return [
            HistoryPoint(ts, self.balance, equity, self.margin, self.margin_level, self.profit)
            for ts, equity in extremes
        ]

    def key(self) -> tuple[int, int, int]:
        return self.login, self.span_ms, self.start


def fold(points: list[tuple[int, HistoryPoint]]) -> dict[tuple[int, int, int], Rollup]:
    """Every span touched by ``points`` ((login, point) pairs), at every rollup level."""
    found: dict[tuple[int, int, int], Rollup] = {}
    for login, point in points:
        for span in SPANS_MS:
            rollup = Rollup.of(login, span, point)
            key = rollup.key()
            found[key] = found[key].merge(rollup) if key in found else rollup
    return found
