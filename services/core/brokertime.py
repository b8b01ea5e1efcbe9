"""Broker server time: the clock MT5 writes every record in, daylight saving included.

MT5 times are the server's wall clock written as if they were UTC. Most brokers run New York
time + 7 h (UTC+2 in winter, UTC+3 in summer, so their midnight is the 17:00 New York close);
others follow EU daylight saving or none. Each record is converted with the offset in force at
its own time, never with today's. ``BrokerZone`` is that clock as a ``tzinfo``, so the broker's
days (today's P/L, daily rules, breakdowns) come from the same rule as the record times.

``detect`` chooses the rule when the ``BROKER_TZ`` setting does not: live offsets measured from
fresh ticks rule candidates out, deals and the last tick before a weekend must fall inside the
forex week, and what is left goes by how common it is among brokers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from services.core.units import DAY_MS, EPOCH, HOUR_MS, HOUR_S, MINUTE_MS, MINUTE_S

NY_CLOSE = "ny-close"
NY_CLOSE_ALIASES = frozenset({"ny-close", "new-york-close", "new york close", "nyclose", "ny+7"})
MAX_OFFSET_S = 14 * HOUR_S
_QUARTER_MS = 15 * MINUTE_MS  # every zone in use changes its offset on a quarter hour
_NEW_YORK = ZoneInfo("America/New_York")
_FIXED = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)


class BrokerTimeError(ValueError):
    """A broker time-zone text that names no rule."""


class BrokerZone(tzinfo):
    """A broker clock: an IANA zone's wall clock shifted by whole hours, or a fixed offset.

    ``spec`` round-trips through ``parse_zone`` and is what the snapshot and the store keep.
    """

    def __init__(self, spec: str, zone: tzinfo, shift_s: int = 0) -> None:
        self.spec = spec
        self._zone = zone
        self._shift = timedelta(seconds=shift_s)
        self._shift_s = shift_s
        self._cache: dict[int, int] = {}

    # -- tzinfo ------------------------------------------------------------------------------------------
    def utcoffset(self, dt: datetime | None) -> timedelta:
        wall = (dt or EPOCH).replace(tzinfo=None) - self._shift
        return self._zone.utcoffset(wall.replace(tzinfo=self._zone)) + self._shift

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return self.spec

    def fromutc(self, dt: datetime) -> datetime:
        utc = dt.replace(tzinfo=UTC)
        return (utc.astimezone(self._zone).replace(tzinfo=None) + self._shift).replace(tzinfo=self)

    def __repr__(self) -> str:
        return f"BrokerZone({self.spec!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BrokerZone) and other.spec == self.spec

    def __hash__(self) -> int:
        return hash(self.spec)

    # -- epoch milliseconds --------------------------------------------------------------------------------
    def offset_s_at(self, utc_ms: int) -> int:
        """Server clock minus UTC at the UTC moment ``utc_ms``."""
        quarter = int(utc_ms) // _QUARTER_MS
        found = self._cache.get(quarter)
        if found is None:
            moment = datetime.fromtimestamp(quarter * _QUARTER_MS / 1000, UTC)
            found = round(self._zone.utcoffset(moment.astimezone(self._zone)).total_seconds()) + self._shift_s
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[quarter] = found
        return found

    def to_server_ms(self, utc_ms: int) -> int:
        return int(utc_ms) + self.offset_s_at(utc_ms) * 1000

    def to_utc_ms(self, server_ms: int) -> int:
        """UTC of a server wall time: the offset in force then (the first reading of a repeated hour)."""
        wall = EPOCH + timedelta(milliseconds=int(server_ms))
        return int(server_ms) - round(self.utcoffset(wall).total_seconds() * 1000)

    def day_start_ms(self, utc_ms: int) -> int:
        """UTC ms of the broker's midnight that starts the day holding ``utc_ms``."""
        server = self.to_server_ms(utc_ms)
        return self.to_utc_ms(server - server % DAY_MS)

    def offsets_s(self, utc_ms: Sequence[int] | np.ndarray) -> np.ndarray:
        """``offset_s_at`` over an array, one zone lookup per distinct quarter hour."""
        times = np.asarray(utc_ms, dtype=np.int64)
        if times.size == 0:
            return np.zeros(0, dtype=np.int64)
        quarters, inverse = np.unique(times // _QUARTER_MS, return_inverse=True)
        found = np.fromiter((self.offset_s_at(int(q) * _QUARTER_MS) for q in quarters), np.int64, len(quarters))
        return found[inverse.reshape(times.shape)]

    def to_server_array(self, utc_ms: Sequence[int] | np.ndarray) -> np.ndarray:
        times = np.asarray(utc_ms, dtype=np.int64)
        return times + self.offsets_s(times) * 1000

    def to_utc_array(self, server_ms: Sequence[int] | np.ndarray) -> np.ndarray:
        """``to_utc_ms`` over an array; inside a clock change's own hour it may read the other side."""
        wall = np.asarray(server_ms, dtype=np.int64)
        return wall - self.offsets_s(wall - self.offsets_s(wall) * 1000) * 1000


_NY_ZONE = BrokerZone("America/New_York", _NEW_YORK)


def as_zone(zone: BrokerZone | int) -> BrokerZone:
    """A zone as given, or a fixed offset in seconds (a simulated account, an old snapshot)."""
    return zone if isinstance(zone, BrokerZone) else fixed(int(zone))


@functools.lru_cache(maxsize=64)
def fixed(offset_s: int) -> BrokerZone:
    sign = "-" if offset_s < 0 else "+"
    hours, rest = divmod(abs(int(offset_s)), HOUR_S)
    return BrokerZone(f"UTC{sign}{hours:02d}:{rest // 60:02d}", timezone(timedelta(seconds=offset_s)))


@functools.lru_cache(maxsize=64)
def parse_zone(text: str) -> BrokerZone:
    """``ny-close`` (New York + 7 h), an IANA zone name, or a fixed offset such as ``UTC+2`` / ``+03:00``."""
    cleaned = text.strip()
    if cleaned.lower() in NY_CLOSE_ALIASES:
        return BrokerZone(NY_CLOSE, _NEW_YORK, 7 * HOUR_S)
    if cleaned.upper() in ("UTC", "GMT", "Z"):
        return fixed(0)
    match = _FIXED.match(cleaned)
    if match:
        sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3) or 0)
        offset = (hours * HOUR_S + minutes * MINUTE_S) * (-1 if sign == "-" else 1)
        if minutes >= 60 or abs(offset) > MAX_OFFSET_S:
            raise BrokerTimeError(f"offset {cleaned!r} is outside UTC-14:00 to UTC+14:00")
        return fixed(offset)
    if "/" in cleaned and ".." not in cleaned and len(cleaned) <= 64:
        try:
            return BrokerZone(cleaned, ZoneInfo(cleaned))
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    raise BrokerTimeError(
        f"{cleaned[:64]!r} is not a broker time zone: use 'ny-close' (New York + 7 h, UTC+2/UTC+3), "
        "an IANA name such as 'Europe/Athens', or a fixed offset such as 'UTC+2'"
    )


# -- detection ---------------------------------------------------------------------------------------------

# The rules brokers use, most common first: a tie between rules that fit the evidence goes to the earlier one.
CANDIDATES: tuple[str, ...] = (
    NY_CLOSE,
    "Europe/Athens",  # UTC+2/UTC+3 on EU dates
    *(f"UTC{'+' if h >= 0 else '-'}{abs(h):02d}:00" for h in (2, 3, 0, 1, 4, 5, 8, -5, -4, 9, 10, 7, 6, -3)),
    "Europe/London",
    "Europe/Berlin",
    "Europe/Moscow",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Tokyo",
)


@dataclass(frozen=True, slots=True)
class Observation:
    """An offset measured from a fresh tick: at ``utc_ms`` the server clock read UTC + ``offset_s``."""

    utc_ms: int
    offset_s: int


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the history says about the clock, in server wall ms: trades must fall inside the forex week."""

    trade_server_ms: tuple[int, ...] = ()
    closing_tick_server_ms: int | None = None  # the last tick before a weekend, read while closed
    weekend_close_utc_ms: int | None = None  # that weekend's close (Friday 17:00 New York)


@dataclass(frozen=True, slots=True)
class Choice:
    zone: BrokerZone
    basis: str  # setting | measured | history | stored | assumed, strongest first
    misfits: int = 0  # records the zone puts inside a weekend

    def to_dict(self) -> dict[str, object]:
        return {"zone": self.zone.spec, "basis": self.basis, "misfits": self.misfits}


def weekend_close_before(utc_ms: int) -> int:
    """UTC ms of the latest Friday 17:00 New York at or before ``utc_ms``."""
    ny = datetime.fromtimestamp(utc_ms / 1000, UTC).astimezone(_NEW_YORK)
    friday = (ny - timedelta(days=(ny.weekday() - 4) % 7)).replace(hour=17, minute=0, second=0, microsecond=0)
    if friday > ny:
        friday -= timedelta(days=7)
    return int(friday.astimezone(UTC).timestamp() * 1000)


def in_weekend(utc_ms: Sequence[int] | np.ndarray) -> np.ndarray:
    """Between Friday 17:00 and Sunday 17:00 New York, when the forex market is closed."""
    times = np.asarray(utc_ms, dtype=np.int64)
    ny = times + _NY_ZONE.offsets_s(times) * 1000
    weekday, clock = (ny // DAY_MS + 3) % 7, ny % DAY_MS  # 1970-01-01 was a Thursday (3)
    close = 17 * HOUR_MS
    return ((weekday == 4) & (clock >= close)) | (weekday == 5) | ((weekday == 6) & (clock < close))


def _misfits(zone: BrokerZone, evidence: Evidence) -> int:
    misfits = int(in_weekend(zone.to_utc_array(evidence.trade_server_ms)).sum()) if evidence.trade_server_ms else 0
    if evidence.closing_tick_server_ms is not None and evidence.weekend_close_utc_ms is not None:
        tick_utc = zone.to_utc_ms(evidence.closing_tick_server_ms)
        if not 0 <= evidence.weekend_close_utc_ms - tick_utc <= HOUR_MS:
            misfits += 10  # the market's last tick lies in its last hour: strong evidence
    return misfits


def weekday_trades(server_ms: Iterable[tuple[str, int]]) -> tuple[int, ...]:
    """Trade times of symbols that trade only on weekdays: a symbol with a trade on a Saturday's
    middle hours (crypto, some indices) says nothing about the forex week."""
    pairs = list(server_ms)
    weekend_symbols = {
        symbol for symbol, ms in pairs if (ms // DAY_MS + 3) % 7 == 5 and 6 * HOUR_MS <= ms % DAY_MS < 18 * HOUR_MS
    }
    return tuple(ms for symbol, ms in pairs if symbol not in weekend_symbols)


def detect(
    observations: Sequence[Observation],
    evidence: Evidence,
    *,
    stored: BrokerZone | None = None,
) -> Choice:
    """The rule that fits every measured offset and puts the fewest trades inside a weekend.

    A rule stored by an earlier run goes first among equals; with nothing measured and no
    history, the forex convention (New York close) is assumed and said to be.
    """
    names = [*([stored.spec] if stored is not None else []), *CANDIDATES]
    zones = [parse_zone(name) for name in dict.fromkeys(names)]
    fitting = [z for z in zones if all(z.offset_s_at(o.utc_ms) == o.offset_s for o in observations)]
    if not fitting:  # an offset no listed rule produces: the latest measurement as a fixed offset
        return Choice(fixed(observations[-1].offset_s), "measured")
    scored = [(_misfits(z, evidence), i, z) for i, z in enumerate(fitting)]
    misfits, _, best = min(scored, key=lambda item: (item[0], item[1]))
    informative = bool(evidence.trade_server_ms) or evidence.closing_tick_server_ms is not None
    if observations:
        basis = "measured"
    elif informative and any(m != misfits for m, _, _ in scored):
        basis = "history"
    elif stored is not None and best == stored:
        basis = "stored"
    else:
        basis = "assumed"
    return Choice(best, basis, misfits)
