"""The one interface every account source implements, and its typed errors.

Only the streamer thread calls a source: the real MetaTrader5 package holds the
GIL through blocking pipe I/O and has one pipe per process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from services.core.brokertime import BrokerZone
from services.core.models import Account, Deal, HistoryPoint, MalformedRecord, Order, Position, Terminal

log = logging.getLogger(__name__)
RecordT = TypeVar("RecordT")

# last_error() codes after which the session must be rebuilt with shutdown() + initialize().
LINK_ERROR_CODES = frozenset({-10000, -10001, -10002, -10004, -10005})
AUTH_ERROR_CODE = -6


class SourceError(Exception):
    """A source call failed; ``code``/``message`` come from MT5's ``last_error()`` where there is one."""

    def __init__(self, code: int, message: str, call: str = "") -> None:
        self.code = code
        self.message = message
        self.call = call
        where = f"{call}: " if call else ""
        super().__init__(f"{where}{message} ({code})")


class SourceDisconnected(SourceError):
    """The link to the terminal or broker is down; the streamer reconnects with backoff."""


class SourceUnreachable(SourceDisconnected):
    """Nothing answers at the source's address (the mt5linux bridge is not up): a refused connection
    costs nothing, so the streamer tries again every few seconds instead of backing off to 30 s."""


class SourceAuthError(SourceError):
    """Login was refused; retrying with the same credentials is still attempted, but slowly."""


class SourceCallError(SourceError):
    """A single call failed while the link is up (bad arguments, not found, terminal refused)."""


def error_for(code: int, message: str, call: str = "") -> SourceError:
    """Map an MT5 ``last_error()`` pair to the typed error the streamer acts on."""
    if code in LINK_ERROR_CODES or code == -10003:
        return SourceDisconnected(code, message, call)
    if code == AUTH_ERROR_CODE:
        return SourceAuthError(code, message, call)
    return SourceCallError(code, message, call)


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What ``/health`` and ``/mt5/status`` say about the source, never holding a secret."""

    kind: str
    description: str
    details: dict[str, object] = field(default_factory=dict)


class AccountSource(Protocol):
    """A live MT5 account: the real terminal, the mt5linux bridge, or the demo simulation."""

    @property
    def info(self) -> SourceInfo: ...

    @property
    def server_offset_s(self) -> int:
        """Broker server clock minus UTC now, in seconds (MT5 times are server time written as UTC)."""
        ...

    @property
    def zone(self) -> BrokerZone:
        """The broker's clock, daylight saving included: every record converts with the offset of its own time."""
        ...

    @property
    def history_sync(self) -> dict[str, Any] | None:
        """``{"read", "total", "done"}`` while the deal history is read from the source; None if it has none to read."""
        ...

    def remember_zone(self, spec: str) -> None:
        """The broker clock a previous run settled on (``BrokerZone.spec``), kept with the account's data."""

    def reread_history(self) -> None:
        """Return the whole deal history again from the next ``new_deals`` (the store lost it)."""

    def connect(self) -> None:
        """Open (or reopen) the session; raises SourceError."""

    def disconnect(self) -> None:
        """Close the session; never raises."""

    def terminal(self) -> Terminal:
        """Terminal state; ``connected`` False means the broker link is down."""
        ...

    def account(self) -> Account: ...

    def positions(self) -> list[Position]: ...

    def orders(self) -> list[Order]: ...

    def new_deals(self) -> list[Deal]:
        """Deals not returned by an earlier call of this session, oldest first (the first call returns all)."""
        ...

    def deals_between(self, start_utc_s: float, end_utc_s: float) -> list[Deal]:
        """Deals whose UTC time lies in [start, end], oldest first."""
        ...

    def backfill(self) -> list[HistoryPoint]:
        """Account history from before the first poll, if the source knows it (written once, into an empty store)."""
        ...


class RecordParser:
    """Turns raw MT5 records into models, skipping malformed ones with one warning per distinct fault.

    A single bad record (None or NaN fields) must never take the stream down, and
    must not flood the log at every poll either.
    """

    def __init__(self, warn: Callable[[str], None] | None = None) -> None:
        self._warned: set[str] = set()
        self._warn = warn or log.warning
        self.skipped = 0

    def parse(self, records: Iterable[Any], build: Callable[[Any], RecordT]) -> list[RecordT]:
        parsed: list[RecordT] = []
        for record in records:
            try:
                parsed.append(build(record))
            except MalformedRecord as exc:
                self.skipped += 1
                if str(exc) not in self._warned:
                    self._warned.add(str(exc))
                    self._warn(f"skipping malformed MT5 record: {exc}")
        return parsed
