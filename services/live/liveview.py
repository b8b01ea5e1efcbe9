"""Whether live points may continue a chart: the view's right edge.

Plotly joins each appended point to the last one drawn. Appended to a window that ends in the past
(a zoom, a custom range), that line is a false picture: a flat line over hours the chart never
read. So live points go only to a view that follows live, and only up to its right edge. (Events
the page never got never leave a gap to join over: a gap in the frame numbers brings the whole
page and a reload of the charts, ``views/page.py``.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


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
    end = view_end(range_end_ms, zoom)
    live = follows_live(end, now_ms)
    return View(end, live, ranged and not live)


def view_end(range_end_ms: int | None, zoom: Sequence[int] | None) -> int | None:
    """The right edge of a chosen range (None: open) seen through a zoom ([start, end] or None)."""
    if not zoom:
        return range_end_ms
    return zoom[1] if range_end_ms is None else min(zoom[1], range_end_ms)


def continues(ts: int, last_ts: int, end_ms: int | None) -> bool:
    """A live point continues a chart when it comes after the last point drawn and not past the right edge."""
    return ts > last_ts and (end_ms is None or ts <= end_ms)
