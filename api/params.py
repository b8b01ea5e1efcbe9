"""Query-parameter parsing with errors that name the parameter."""

from __future__ import annotations

from datetime import UTC, date, datetime


class BadParameter(ValueError):
    def __init__(self, name: str, expected: str, value: str) -> None:
        self.name = name
        super().__init__(f"{name}: expected {expected}, got {value!r}")


def parse_instant_ms(name: str, raw: str | None, end_of_day: bool = False) -> int | None:
    """ISO 8601 date or datetime to UTC epoch ms; a naive value is UTC, a bare date covers the whole day."""
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    if len(text) > 40:
        raise BadParameter(name, "an ISO 8601 date or datetime", text[:40] + "…")
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            ms = int(moment.timestamp() * 1000)
            return ms + 86_400_000 - 1 if end_of_day else ms
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    except (ValueError, OverflowError, OSError):
        raise BadParameter(
            name, "an ISO 8601 date or datetime such as 2026-01-31 or 2026-01-31T12:00:00Z", text
        ) from None


def parse_range(args: dict[str, str]) -> tuple[int | None, int | None]:
    start = parse_instant_ms("from", args.get("from"))
    end = parse_instant_ms("to", args.get("to"), end_of_day=True)
    if start is not None and end is not None and start > end:
        raise BadParameter("from", "a time not after 'to'", args.get("from", ""))
    return start, end
