"""Whether live points may continue a chart: the view's right edge, and gaps that would hide data.

Plotly joins each appended point to the last one drawn. Appended to a window that ends in the past
(a zoom, a custom range), that line is a false picture: a flat line over hours the chart never
read. Appended after events the page never got (dropped, or written while the chart was being
read), it runs straight over the stored points in between. So live points go only to a view that
follows live, only up to its right edge, and only when nothing stored lies between them and the
last point drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.redis_conn import REDIS_ERRORS
from services.store import Store

GAP_POLLS = 1.5  # recorded points are about a poll apart: a wider gap may hold points the page never got


@dataclass(frozen=True, slots=True)
class View:
    """The window a chart shows, as far as live points care."""

    end_ms: int | None  # its right edge (UTC ms); None: open, it follows live
    live: bool  # live points may be appended
    paused: bool  # a zoom, not the chosen range, took it off live: "Back to live" undoes the zoom


def follows_live(end_ms: int | None, now_ms: int) -> bool:
    """A window follows live while its right edge is open or still ahead of the clock."""
    return end_ms is None or now_ms <= end_ms


def view_of(range_end_ms: int | None, zoom: Sequence[int] | None, now_ms: int) -> View:
    """The view of a chosen range (its end, None when it follows live) and a zoom into it ([start, end] or None)."""
    ranged = follows_live(range_end_ms, now_ms)
    if not zoom:
        return View(range_end_ms, ranged, False)
    end = zoom[1] if range_end_ms is None else min(zoom[1], range_end_ms)
    live = follows_live(end, now_ms)
    return View(end, live, ranged and not live)


def continues(ts: int, last_ts: int, end_ms: int | None) -> bool:
    """A live point continues a chart when it comes after the last point drawn and not past the right edge."""
    return ts > last_ts and (end_ms is None or ts <= end_ms)


def may_hide_points(last_ts: int, first_ts: int, poll_ms: int) -> bool:
    """A first live point this long after the last one drawn may have stored points before it."""
    return last_ts > 0 and first_ts - last_ts > GAP_POLLS * poll_ms


def hidden_points(store: Store, login: int, last_ts: int, first_ts: int) -> bool | None:
    """Whether Redis holds points between the last one drawn and the first live one; None when it cannot tell."""
    try:
        return bool(store.history(login, last_ts + 1, first_ts - 1, count=1))
    except REDIS_ERRORS:
        return None
