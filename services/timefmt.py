"""Times as a trader reads them: the browser's local time, with the broker's server time beside it."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
SERVER_FORMAT = "%Y-%m-%d %H:%M:%S"


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
    """Naive local timestamps for a plotly date axis (it would show epoch numbers as UTC)."""
    if not ts_ms:
        return []
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
    stamps = pd.to_datetime(pd.Series(ts_ms, dtype="int64"), unit="ms", utc=True).dt.tz_convert(tz)
    return stamps.dt.tz_localize(None).to_numpy().astype("datetime64[ms]").astype("int64").tolist()


def server_times(ts_ms: Sequence[int], offset_s: int) -> list[str]:
    """MT5 server time: UTC shifted by the measured offset."""
    if not ts_ms:
        return []
    stamps = pd.to_datetime(pd.Series(ts_ms, dtype="int64") + offset_s * 1000, unit="ms")
    return list(stamps.dt.strftime(SERVER_FORMAT))


def local_text(ts_ms: int, tz: str) -> str:
    return local_times([ts_ms], tz)[0][:19]
