"""Query-parameter parsing with errors that name the parameter."""

from __future__ import annotations

from datetime import UTC, date, datetime

from services.core.units import DAY_MS

# Times outside these bounds are clamped to them: nothing an account records is older than 1970 (and a Redis
# stream id cannot be negative), and the latest stays a year short of datetime's end, so a broker offset or a
# calendar rounding added to it never leaves the range a datetime can hold.
EARLIEST_MS = 0
LATEST_MS = int(datetime(9999, 1, 1, tzinfo=UTC).timestamp() * 1000)
SHOWN_CHARS = 40  # of a bad value in its error; a time is never longer


class BadParameter(ValueError):
    def __init__(self, name: str, expected: str, value: str) -> None:
        self.name = name
        super().__init__(f"{name}: expected {expected}, got {value!r}")


def parse_instant_ms(name: str, raw: str | None, end_of_day: bool = False) -> int | None:
    """ISO 8601 date or datetime to UTC epoch ms; a naive value is UTC, a bare date covers the whole day.

    Any date a datetime holds (0001-01-01 to 9999-12-31, offsets up to ±23:59) is taken, clamped to
    EARLIEST_MS..LATEST_MS: asking from the year 1 means from the start.
    """
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    if len(text) > SHOWN_CHARS:
        raise BadParameter(name, "an ISO 8601 date or datetime", text[:SHOWN_CHARS] + "…")
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            ms = int(moment.timestamp() * 1000)
            ms = ms + DAY_MS - 1 if end_of_day else ms
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            ms = int(moment.timestamp() * 1000)
    except (ValueError, OverflowError, OSError):
        raise BadParameter(
            name, "an ISO 8601 date or datetime such as 2026-01-31 or 2026-01-31T12:00:00Z", text
        ) from None
    return min(max(ms, EARLIEST_MS), LATEST_MS)


def parse_range(args: dict[str, str]) -> tuple[int | None, int | None]:
    start = parse_instant_ms("from", args.get("from"))
    end = parse_instant_ms("to", args.get("to"), end_of_day=True)
    if start is not None and end is not None and start > end:
        raise BadParameter("from", "a time not after 'to'", args.get("from", ""))
    return start, end


def parse_int(name: str, raw: str | None, low: int, high: int, default: int) -> int:
    """A decimal integer from ``low`` to ``high``; the digits are counted first, as ``int()`` refuses a text of
    thousands of them with an error that names no parameter."""
    if raw is None or raw.strip() == "":
        return default
    text = raw.strip()
    digits = text.lstrip("0") or "0"
    if not (text.isascii() and text.isdigit()) or len(digits) > len(str(high)) or not low <= int(digits) <= high:
        raise BadParameter(name, f"an integer from {low} to {high}", text[:SHOWN_CHARS])
    return int(digits)
