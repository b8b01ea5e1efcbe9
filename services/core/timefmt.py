"""Times as a trader reads them: the browser's local time, with the broker's server time beside it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from services.core.brokertime import BrokerZone, as_zone
from services.core.units import EPOCH

LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
SERVER_FORMAT = "%Y-%m-%d %H:%M:%S"
FEW = 64  # up to this many times, plain datetime beats pandas' fixed cost (a live batch has one or two)


def _offsets_ms(ts_ms: Sequence[int], tz: str) -> list[int]:
    info = ZoneInfo(tz)
    return [round(datetime.fromtimestamp(t / 1000, info).utcoffset().total_seconds() * 1000) for t in ts_ms]


def zone(name: str | None) -> str:
    """A valid IANA zone name, or UTC when the browser sent none or an unknown one."""
    if not name or not isinstance(name, str) or len(name) > 64:
        return "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


def local_times(ts_ms: Sequence[int], tz: str) -> list[str]:
    """Naive local timestamps (to the ms) for the grids."""
    if not ts_ms:
        return []
    if len(ts_ms) <= FEW:
        walls = local_ms(ts_ms, tz)
        return [(EPOCH + timedelta(milliseconds=wall)).strftime(LOCAL_FORMAT)[:-3] for wall in walls]
    stamps = pd.to_datetime(pd.Series(ts_ms, dtype="int64"), unit="ms", utc=True).dt.tz_convert(zone(tz))
    return [text[:-3] for text in stamps.dt.strftime(LOCAL_FORMAT)]


def local_ms(ts_ms: Sequence[int], tz: str) -> list[int]:
    """The browser's wall-clock time as epoch ms: a plotly date axis reads numbers as UTC, so these
    show as local time, like naive local strings but half the size and without parsing."""
    if not ts_ms:
        return []
    tz = zone(tz)
    if tz == "UTC":
        return [int(t) for t in ts_ms]
    if len(ts_ms) <= FEW:
        return [int(t) + offset for t, offset in zip(ts_ms, _offsets_ms(ts_ms, tz), strict=True)]
    stamps = pd.to_datetime(pd.Series(ts_ms, dtype="int64"), unit="ms", utc=True).dt.tz_convert(tz)
    return stamps.dt.tz_localize(None).to_numpy().astype("datetime64[ms]").astype("int64").tolist()


def server_times(ts_ms: Sequence[int], broker: BrokerZone | int) -> list[str]:
    """MT5 server time: UTC shifted by the broker clock's offset at each time."""
    if not ts_ms:
        return []
    walls = as_zone(broker).to_server_array(ts_ms)
    if len(ts_ms) <= FEW:
        return [(EPOCH + timedelta(milliseconds=int(wall))).strftime(SERVER_FORMAT) for wall in walls]
    return list(pd.to_datetime(pd.Series(walls, dtype="int64"), unit="ms").dt.strftime(SERVER_FORMAT))


def local_text(ts_ms: int, tz: str) -> str:
    """One time to the second, as the replay's messages and time field show it: the grids' ms would be noise."""
    return local_times([ts_ms], tz)[0][:19]


def utc_ms_of_local(text: str, tz: str) -> int:
    """UTC ms of a wall-clock time in ``tz`` as the page shows times ("2026-01-31 14:30:05.250", "…T14:30").

    A time the clock passes twice (autumn) is its first pass; one it skips (spring) counts with the offset
    before the change. Raises ValueError for text that is not such a time.
    """
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone(tz)))
    return round(moment.timestamp() * 1000)
