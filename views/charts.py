"""Live points for the page's three charts, cut per socket to the charts its page holds.

The view renders each account event once as a ``Point`` (x in its clock, the broker's time for the
hover). Where the points go depends on the page's own charts, which its range and zoom load through a Dash
callback: the last point they hold and their equity peak (``ids.CHART_STATE``, sent back as the page's
view). So each socket keeps the recent points, and appends those newer than its charts' last one, with the
drawdown from their peak. A new load of the charts (``rev``) gets the points it missed at once; appends made
for charts the page no longer holds are dropped by the page (the frame names the ``rev`` they extend).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any, NamedTuple

from layouts import ids
from layouts.charts import GRAPH_IDS
from layouts.figures import LIVE_POINTS, drawdown_pct, live_series
from services.core.brokertime import BrokerZone
from services.core.timefmt import Clock
from services.live.liveview import continues, view_end
from services.live.render import Updates

RECENT_POINTS = 1_000  # what a socket keeps for charts that load while points arrive


class Point(NamedTuple):
    ts: int
    x: int
    hover: str
    balance: float
    equity: float
    margin: float
    level: float | None


def point(ts: int, account: dict[str, Any], clock: Clock, broker: BrokerZone) -> Point:
    (x,), (hover,) = live_series([ts], clock, broker)
    level = account["margin_level"] if account["margin"] > 0 else None
    return Point(ts, x, hover, account["balance"], account["equity"], account["margin"], level)


def extend_data(points: Sequence[Point], peak: float) -> tuple[dict[str, list[Any]], float]:
    """Capped appends of the three charts (the hover's server time on the first trace of each), and the peak."""
    x, hover = [p.x for p in points], [p.hover for p in points]
    drawdown, peak = drawdown_pct([p.equity for p in points], peak)
    equity = {"x": [x, x], "y": [[p.balance for p in points], [p.equity for p in points]], "customdata": [hover, []]}
    margin = {"x": [x, x], "y": [[p.margin for p in points], [p.level for p in points]], "customdata": [hover, []]}
    underwater = {"x": [x], "y": [drawdown], "customdata": [hover]}
    extends = ([equity, [0, 1], LIVE_POINTS], [margin, [0, 1], LIVE_POINTS], [underwater, [0], LIVE_POINTS])
    return dict(zip(GRAPH_IDS, extends, strict=True)), peak


class LiveCharts:
    """One socket's charts: the state its page reported, the recent points, and what to append."""

    def __init__(self) -> None:
        self.state: dict[str, Any] | None = None
        self.recent: deque[Point] = deque(maxlen=RECENT_POINTS)

    def take(self, state: Any) -> bool:
        """The page's chart state (from its view); True when it holds other charts than before."""
        if not isinstance(state, dict) or state.get("rev") == (self.state or {}).get("rev"):
            return False
        self.state = dict(state)
        return True

    def newer(self, last_ts: int) -> list[Point]:
        """The recent points after ``last_ts``, read from the newest back (points come in time order), so a frame
        costs its new points, not the ``RECENT_POINTS`` kept."""
        newer: list[Point] = []
        for p in reversed(self.recent):
            if p.ts <= last_ts:
                break
            newer.append(p)
        return newer[::-1]

    def appends(self, points: Sequence[Point]) -> tuple[Updates, Updates, Any]:
        """(the balance/equity chart's append, the other two's, the charts they extend)."""
        self.recent.extend(points)
        state = self.state
        if state is None or not state.get("live") or state.get("login") is None:  # a zoom into the past: none
            return {}, {}, None
        last_ts = state.get("last_ts") or 0
        end_ms = view_end(state.get("to_ms"), state.get("zoom"))  # a zoom reaching ahead: points up to its edge
        fresh = [p for p in self.newer(last_ts) if continues(p.ts, last_ts, end_ms)]
        if not fresh:
            return {}, {}, state.get("rev")
        extends, state["peak"] = extend_data(fresh, float(state.get("peak") or 0.0))
        state["last_ts"] = fresh[-1].ts
        first = {ids.EQUITY_GRAPH: {"extendData": extends.pop(ids.EQUITY_GRAPH)}}
        return first, {graph: {"extendData": extend} for graph, extend in extends.items()}, state.get("rev")
