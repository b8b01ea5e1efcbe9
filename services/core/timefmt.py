"""Times as a trader reads them: every time of a page in the one clock its user chose.

Three clocks: the broker's server time (what MT5 shows), the browser's own zone ("local"), or UTC. Each is
a ``BrokerZone`` (a wall clock with epoch-ms conversions, DST included), so a chart axis, a grid cell, an
hour-of-day breakdown, a custom range's days and a typed replay moment all come from the same rule.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from services.core.brokertime import BrokerZone, as_zone, fixed
from services.core.units import DAY_MS, EPOCH, HOUR_S, MINUTE_S, SECOND_MS

SERVER_FORMAT = "%Y-%m-%d %H:%M:%S"
FEW = 64  # up to this many times, plain datetime beats pandas' fixed cost (a live batch has one or two)

BROKER, LOCAL, UTC_CLOCK = "broker", "local", "utc"
SERVER_PARAM = "server"  # the exports' ``tz`` for the broker's clock (MT5's name for it: server time)
CLOCKS = (BROKER, LOCAL, UTC_CLOCK)
# MT5 itself shows every time in the broker's server time: a page opens on the clock its trader knows.
DEFAULT_CLOCK = BROKER


def zone(name: str | None) -> str:
    """A valid IANA zone name, or UTC when the browser sent none or an unknown one."""
    if not name or not isinstance(name, str) or len(name) > 64:
        return "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


@functools.lru_cache(maxsize=256)
def named_zone(name: str) -> BrokerZone:
    """An IANA zone as a wall clock (``zone`` checks the name first)."""
    return fixed(0) if name == "UTC" else BrokerZone(name, ZoneInfo(name))


def offset_text(offset_s: int) -> str:
    """``UTC+2``, ``UTC-3:30``, ``UTC+0``: how the selector and axis titles name an offset."""
    sign = "-" if offset_s < 0 else "+"
    hours, rest = divmod(abs(offset_s), HOUR_S)
    return f"UTC{sign}{hours}" + (f":{rest // MINUTE_S:02d}" if rest else "")


def server_times(ts_ms: Sequence[int], broker: BrokerZone | int) -> list[str]:
    """Wall-clock texts to the second of ``broker`` (the MT5 server's clock, or any other), DST at each time."""
    if not ts_ms:
        return []
    walls = as_zone(broker).to_server_array(ts_ms)
    if len(ts_ms) <= FEW:
        return [(EPOCH + timedelta(milliseconds=int(wall))).strftime(SERVER_FORMAT) for wall in walls]
    return list(pd.to_datetime(pd.Series(walls, dtype="int64"), unit="ms").dt.strftime(SERVER_FORMAT))


@dataclass(frozen=True, slots=True)
class Clock:
    """The clock a page shows every time in: ``choice`` (broker, local, utc), its wall clock and its name."""

    choice: str
    wall: BrokerZone
    name: str  # "broker time", the browser's IANA zone, "UTC"

    @property
    def param(self) -> str:
        """The exports' ``tz`` for this clock (``export_clock`` reads it back)."""
        return SERVER_PARAM if self.choice == BROKER else self.name

    def label(self, at_ms: int) -> str:
        """Its name as the page writes it, with the offset in force at ``at_ms``: "broker time (UTC+2)"."""
        if self.name == "UTC":
            return self.name
        return f"{self.name} ({offset_text(self.wall.offset_s_at(at_ms))})"

    def walls(self, ts_ms: Sequence[int]) -> list[int]:
        """Wall-clock times as epoch ms: a plotly date axis reads numbers as UTC, so these show as this
        clock's times, like naive strings but half the size and without parsing."""
        if not len(ts_ms):
            return []
        return self.wall.to_server_array(ts_ms).tolist()

    def texts(self, ts_ms: Sequence[int]) -> list[str]:
        """``YYYY-MM-DD HH:MM:SS`` of each time."""
        return server_times(ts_ms, self.wall)

    def text(self, ts_ms: int) -> str:
        return self.texts([ts_ms])[0]

    def utc_ms(self, text: str) -> int:
        """UTC ms of a wall time in this clock as the page shows times ("2026-01-31 14:30:05.250", "…T14:30").

        A time the clock passes twice (autumn) is its first pass; one it skips (spring) counts with the offset
        before the change. A text with its own offset keeps it. Raises ValueError for text that is not a time.
        """
        moment = datetime.fromisoformat(text.strip())
        if moment.tzinfo is not None:
            return round(moment.timestamp() * SECOND_MS)
        return self.wall.to_utc_ms((moment - EPOCH) // timedelta(milliseconds=1))

    def day_bounds(self, first_day: str, last_day: str) -> tuple[int, int]:
        """UTC ms of the first ms of ``first_day`` and the last of ``last_day`` (``YYYY-MM-DD``) in this
        clock: calendar days, 23 or 25 hours long on the days its offset changes. Raises ValueError."""
        start, last = (datetime.fromisoformat(day[:10]) for day in (first_day, last_day))
        start_wall, end_wall = ((day - EPOCH) // timedelta(milliseconds=1) for day in (start, last))
        return self.wall.to_utc_ms(start_wall), self.wall.to_utc_ms(end_wall + DAY_MS) - 1


def page_clock(choice: str | None, tz: str | None, broker: BrokerZone) -> Clock:
    """The clock a page asked for; ``local`` is the browser's zone ``tz``. A request that names only a zone
    (an older page, an API caller) gets that zone, one that names neither the broker's clock."""
    if choice not in CLOCKS:
        choice = LOCAL if tz else DEFAULT_CLOCK
    if choice == BROKER:
        return Clock(BROKER, broker, "broker time")
    if choice == UTC_CLOCK:
        return Clock(UTC_CLOCK, fixed(0), "UTC")
    name = zone(tz)
    return Clock(LOCAL, named_zone(name), name)


def client_clock(client: Mapping[str, Any] | None, broker: BrokerZone) -> Clock:
    """The clock of the page's ``ids.CLIENT`` store (``{"clock", "tz", "width"}``)."""
    client = client or {}
    return page_clock(client.get("clock"), client.get("tz"), broker)


def export_clock(raw: str | None, broker: BrokerZone, default: str) -> Clock:
    """The clock an export's ``tz`` names: ``server`` (the broker's), ``UTC``, or an IANA zone; ``default``
    (one of these) when absent. Raises ValueError for anything else."""
    text = (raw or "").strip() or default
    if text.lower() == SERVER_PARAM:
        return page_clock(BROKER, None, broker)
    if text.upper() == "UTC":
        return page_clock(UTC_CLOCK, None, broker)
    if zone(text) != text or "/" not in text:
        raise ValueError(text)
    return page_clock(LOCAL, text, broker)
