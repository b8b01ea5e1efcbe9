"""The real account source: the ``MetaTrader5`` package, or the same calls over the mt5linux bridge.

This adapter only translates: every failed call becomes the typed error from ``error_for``
and the streamer decides about backoff and ``shutdown()`` + ``initialize()``. What it does
own is time and history:

- MT5 records are broker server time written as if UTC. The broker's clock (``BROKER_TZ``, or
  detected from fresh ticks and the deal history, ``services/core/brokertime.py``) converts each
  record with the offset in force at its own time, and history is asked for in server-time
  seconds (a naive ``datetime.now()`` as ``date_to`` would silently drop the last hours of deals).
- The whole deal history is read at the start of every session, newest first, in time windows of
  at most ``HISTORY_PAGE`` deals, one window per poll, so the account shows at once and its
  past fills in with progress (``history_sync``).
"""

from __future__ import annotations

import importlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from services.core.brokertime import (
    MAX_OFFSET_S,
    BrokerZone,
    Choice,
    Evidence,
    Observation,
    detect,
    in_weekend,
    parse_zone,
    weekday_trades,
    weekend_close_before,
)
from services.core.models import Account, Deal, HistoryPoint, MalformedRecord, Order, Position, Terminal, is_trading
from services.core.secret import Secret, scrub
from services.core.units import DAY_S, HOUR_S
from services.ingest.sources.base import (
    RecordParser,
    SourceCallError,
    SourceDisconnected,
    SourceError,
    SourceInfo,
    error_for,
)
from services.ingest.sources.bridge import INSTALL, BridgeClient

log = logging.getLogger(__name__)

OFFSET_RECHECK_S = 600.0  # the broker's offset moves with daylight saving; re-measure every 10 min
TICK_EVIDENCE_S = 3.0 * DAY_S  # an older tick is not even the last one before a weekend: no evidence
FRESH_TICK_S = 120.0  # a tick this recent measures the offset (the offset is rounded to the hour)
HISTORY_PAGE = 5_000  # deals per history read while the past is synced
MIN_WINDOW_S = HOUR_S  # a window is not split below an hour, however many deals it holds
OBSERVATIONS_KEPT = 64
TRADE_EVIDENCE_KEPT = 50_000
DEAL_OVERLAP_S = 2 * HOUR_S  # re-ask this far back: late-listed deals, and the DST fall-back hour
DEAL_LOOKAHEAD_S = DAY_S  # history "to" this far past server now, so an unmeasured offset loses nothing
CALL_FAILED = -1  # RES_E_FAIL: used when a call fails without a usable last_error()

_DESCRIPTIONS = {
    "mt5": "MetaTrader 5 terminal through the MetaTrader5 package",
    "mt5linux": "MetaTrader 5 terminal through the mt5linux bridge (rpyc, Wine)",
}


def load_mt5_module(kind: str, host: str, port: int) -> Any:
    """Import the MetaTrader5 package (``kind="mt5"``) or connect an mt5linux client (``"mt5linux"``).

    Raises ``SourceError(-10003, ...)`` naming what to install. The bridge itself is reached
    lazily (see ``BridgeClient``), so a bridge that is not up yet does not stop the app.
    """
    if kind == "mt5":
        try:
            return importlib.import_module("MetaTrader5")
        except ImportError as exc:
            raise SourceError(
                -10003,
                "the MetaTrader5 package is not installed or does not import "
                f"({type(exc).__name__}: {exc}); it exists only for 64-bit Windows Python: "
                "`pip install MetaTrader5` there. On Linux/macOS set MT5_SOURCE=mt5linux and run the "
                "mt5linux bridge, or MT5_SOURCE=demo.",
                "import MetaTrader5",
            ) from None
    if kind == "mt5linux":
        try:
            client_class = importlib.import_module("mt5linux").MetaTrader5
        except (ImportError, AttributeError) as exc:
            raise SourceError(
                -10003,
                f"the mt5linux package is not installed ({type(exc).__name__}: {exc}): `{INSTALL}` here, "
                "and in the Wine Python next to MetaTrader5 (the same mt5linux and rpyc versions on both sides).",
                "import mt5linux",
            ) from None
        return BridgeClient(lambda: client_class(host=host, port=port), f"{host}:{port}", port)
    raise SourceError(-2, f"unknown MT5 source kind {kind!r}: expected 'mt5' or 'mt5linux'", "load")


class MT5Source:
    """``AccountSource`` over a MetaTrader5 module, an ``mt5linux.MetaTrader5`` client, or the fake."""

    def __init__(
        self,
        module: Any,
        *,
        kind: str = "mt5",
        login: int | None = None,
        password: Secret | None = None,
        server: str | None = None,
        path: str | None = None,
        timeout_ms: int = 60000,
        clock: Callable[[], float] = time.time,
        offset_probe_symbols: tuple[str, ...] = ("EURUSD",),
        history_start_utc_s: float = 946684800.0,
        broker_tz: str | None = None,
    ) -> None:
        self._mt5 = module
        self._kind = kind
        self._login = login
        self._password = password
        self._server = server
        self._path = path
        self._timeout_ms = timeout_ms
        self._clock = clock
        self._probe_symbols = offset_probe_symbols
        self._history_start_utc_s = history_start_utc_s
        self._parser = RecordParser()
        setting = None if broker_tz in (None, "", "auto") else parse_zone(broker_tz)
        self._zone_setting = setting
        self._choice = Choice(setting, "setting") if setting is not None else detect([], Evidence())
        self._stored_zone: str | None = None
        self._observations: deque[Observation] = deque(maxlen=OBSERVATIONS_KEPT)
        self._closing_tick: tuple[int, int] | None = None  # (tick server ms, that weekend's close UTC ms)
        self._last_tick: dict[str, int] = {}  # symbol -> its tick's server ms at the last measurement
        self._trade_times: deque[tuple[str, int]] = deque(maxlen=TRADE_EVIDENCE_KEPT)
        self._offset_measured = False
        self._offset_warned = False
        self._offset_symbol: str | None = None
        self._offset_checked_at: float | None = None
        self._position_symbols: list[str] = []
        self._seen: dict[int, int] = {}  # deal ticket -> server-time seconds, pruned behind the window
        self._last_deal_server_s: int | None = None
        self._backlog: list[tuple[int, int]] | None = None  # server-second windows of the past still to read
        self._sync: dict[str, Any] | None = None
        self._account_login: int | None = None
        self._session_open = False
        self._counters = {"calls": 0, "errors": 0, "connects": 0, "deals": 0}
        self._last_error: tuple[int, str] | None = None

    # ------------------------------------------------------------ AccountSource
    @property
    def info(self) -> SourceInfo:
        details: dict[str, object] = {
            "login": self._login,
            "server": self._server,
            "path": self._path,
            "password_set": bool(self._password),
            "timeout_ms": self._timeout_ms,
            "session_open": self._session_open,
            "server_offset_s": self.server_offset_s,
            "broker_clock": self._choice.to_dict(),
            "offset_measured": self._offset_measured,
            "offset_symbol": self._offset_symbol,
            "offset_checked_at": self._offset_checked_at,
            "history_sync": self.history_sync,
            "skipped_records": self._parser.skipped,
            "last_error": list(self._last_error) if self._last_error else None,
            **self._counters,
        }
        return SourceInfo(self._kind, _DESCRIPTIONS.get(self._kind, f"MetaTrader 5 ({self._kind})"), details)

    @property
    def server_offset_s(self) -> int:
        return self.zone.offset_s_at(int(self._clock() * 1000))

    @property
    def zone(self) -> BrokerZone:
        return self._choice.zone

    @property
    def broker_clock(self) -> Choice:
        return self._choice

    @property
    def history_sync(self) -> dict[str, Any] | None:
        """Deals read of the total while the past is read, then ``done``; None before the first read."""
        return None if self._sync is None else dict(self._sync)

    def remember_zone(self, spec: str) -> None:
        """The broker clock an earlier run settled on: preferred among rules that fit as well."""
        self._stored_zone = spec
        self._redetect()

    def reread_history(self) -> None:
        """Read the whole history again, newest first, with progress, as at a connect."""
        self._reset_deal_sync()

    def connect(self) -> None:
        """``initialize()`` with only the settings that are set, then measure the server offset."""
        kwargs: dict[str, Any] = {}
        if self._login is not None:
            kwargs["login"] = self._login
        if self._password:
            kwargs["password"] = self._password.reveal()
        if self._server:
            kwargs["server"] = self._server
        kwargs["timeout"] = self._timeout_ms
        args = (self._path,) if self._path else ()
        self._counters["connects"] += 1
        self._session_open = False
        if not self._call("initialize", *args, **kwargs):
            self._raise(self._failure("initialize"))
        self._measure_offset()
        self._session_open = True
        self._last_error = None  # the fault that ended the last session is over
        self._reset_deal_sync()  # each session reads the whole history again: whatever was missed or lost comes back

    def disconnect(self) -> None:
        self._session_open = False
        try:
            self._mt5.shutdown()
        except Exception as exc:  # noqa: BLE001 - a dead bridge must not stop a reconnect
            log.debug("MT5 shutdown failed: %s", self._scrub(f"{type(exc).__name__}: {exc}"))

    def terminal(self) -> Terminal:
        self._maybe_remeasure()
        raw = self._require("terminal_info")
        return self._build(Terminal.from_mt5, raw, "terminal_info")

    def account(self) -> Account:
        self._maybe_remeasure()
        account = self._build(Account.from_mt5, self._require("account_info"), "account_info")
        if self._account_login is not None and account.login != self._account_login:
            log.info("MT5 account changed (%s -> %s): deal sync restarts", self._account_login, account.login)
            self._reset_deal_sync()
        self._account_login = account.login
        return account

    def positions(self) -> list[Position]:
        self._maybe_remeasure()
        raw = self._require("positions_get", empty_ok=True)
        zone = self.zone
        parsed = self._parser.parse(raw, lambda r: Position.from_mt5(r, zone))
        self._position_symbols = list(dict.fromkeys(p.symbol for p in parsed if p.symbol))
        return parsed

    def orders(self) -> list[Order]:
        self._maybe_remeasure()
        raw = self._require("orders_get", empty_ok=True)
        zone = self.zone
        return self._parser.parse(raw, lambda r: Order.from_mt5(r, zone))

    def new_deals(self) -> list[Deal]:
        """One window of the past while it is being read (newest first), else the deals since the
        last one seen: from it minus an overlap to server now plus a day; the ticket set removes
        what the overlap brings back."""
        self._maybe_remeasure()
        now_server = self.zone.to_server_ms(int(self._clock() * 1000)) // 1000
        if self._backlog is None:
            self._plan_history(now_server)
        if self._backlog:
            fresh = self._fresh(self._next_window())
            if not self._backlog:
                self._sync = {**(self._sync or {}), "done": True}
                self._redetect()
            return fresh
        start = self._last_deal_server_s - DEAL_OVERLAP_S
        fresh = self._fresh(self._deals(start, now_server + DEAL_LOOKAHEAD_S))
        # A window never moves back, so tickets older than its start can never come again.
        self._seen = {t: s for t, s in self._seen.items() if s >= start}
        return fresh

    def backfill(self) -> list[HistoryPoint]:
        """The terminal keeps no equity history: it starts with the first poll."""
        return []

    def deals_between(self, start_utc_s: float, end_utc_s: float) -> list[Deal]:
        self._maybe_remeasure()
        zone = self.zone
        start = zone.to_server_ms(math.floor(start_utc_s) * 1000) // 1000 - DEAL_OVERLAP_S
        end = zone.to_server_ms(math.ceil(end_utc_s) * 1000) // 1000 + DEAL_OVERLAP_S
        lo_ms, hi_ms = start_utc_s * 1000, end_utc_s * 1000
        deals = [d for d in self._deals(start, end) if lo_ms <= d.time_utc_ms <= hi_ms]
        return sorted(deals, key=lambda d: (d.time_msc, d.ticket))

    # ------------------------------------------------------------ history
    def _plan_history(self, now_server: int) -> None:
        """The past to read: everything up to now; deals after now come by the incremental read."""
        start = self.zone.to_server_ms(int(self._history_start_utc_s * 1000)) // 1000
        total = self._count(start, now_server)
        self._backlog = [(start, now_server)]
        self._sync = {"read": 0, "total": total if total is not None else 0, "done": False}
        self._last_deal_server_s = now_server

    def _next_window(self) -> list[Deal]:
        """Split the newest window until it holds at most a page, then read it."""
        assert self._backlog
        while True:
            lo, hi = self._backlog.pop()
            count = self._count(lo, hi) if hi - lo > MIN_WINDOW_S else None
            if count is not None and count > HISTORY_PAGE:
                middle = (lo + hi) // 2
                self._backlog += [(lo, middle), (middle + 1, hi)]  # the newer half is read first
                continue
            if count == 0:
                if not self._backlog:
                    return []
                continue
            deals = self._deals(lo, hi)
            sync = self._sync or {"read": 0, "total": 0}
            read = sync["read"] + len(deals)
            self._sync = {**sync, "read": read, "total": max(sync["total"], read)}
            return deals

    def _count(self, lo: int, hi: int) -> int | None:
        """``history_deals_total`` of a window; None when the terminal cannot say (the window is read whole)."""
        try:
            total = self._require("history_deals_total", int(lo), int(hi))
        except SourceDisconnected:
            raise
        except SourceError:
            return None
        return int(total) if isinstance(total, int | float) else None

    def _fresh(self, deals: list[Deal]) -> list[Deal]:
        fresh = [d for d in deals if d.ticket not in self._seen]
        fresh.sort(key=lambda d: (d.time_msc, d.ticket))
        for deal in fresh:
            self._seen[deal.ticket] = deal.time
            if is_trading(deal):
                self._trade_times.append((deal.symbol, deal.time_msc))
        if fresh:
            newest = max(d.time for d in fresh)
            self._last_deal_server_s = max(newest, self._last_deal_server_s or newest)
        self._counters["deals"] += len(fresh)
        return fresh

    # ------------------------------------------------------------ internals
    def _deals(self, start_server_s: int, end_server_s: int) -> list[Deal]:
        raw = self._require("history_deals_get", int(start_server_s), int(end_server_s), empty_ok=True)
        zone = self.zone
        return self._parser.parse(raw, lambda r: Deal.from_mt5(r, zone))

    def _reset_deal_sync(self) -> None:
        self._seen.clear()
        self._trade_times.clear()
        self._last_deal_server_s = None
        self._backlog = None
        self._sync = None

    def _scrub(self, text: str) -> str:
        return scrub(text, self._password)

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """One module call; never forwards ``**{}`` (it breaks keyword-aware MT5 functions)."""
        self._counters["calls"] += 1
        try:
            function = getattr(self._mt5, name)
            return function(*args, **kwargs) if kwargs else function(*args)
        except SourceError as exc:  # the bridge client's own, already typed (an unreachable bridge)
            return self._raise(exc)
        except Exception as exc:  # noqa: BLE001 - the bridge raises instead of returning None
            failure = f"{type(exc).__name__}: {exc}"
            timed_out = isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__
            link_down = timed_out or isinstance(exc, OSError | EOFError)
        # Raised outside the except block so the original exception, whose text may hold the
        # password when initialize() failed on the bridge side, is not chained to ours.
        message = self._scrub(failure)
        if link_down:
            return self._raise(SourceDisconnected(-10005 if timed_out else -10004, message, name))
        return self._raise(SourceCallError(CALL_FAILED, message, name))

    def _failure(self, name: str) -> SourceError:
        """The typed error for a call that returned None/False, from ``last_error()``."""
        try:
            code, message = self._mt5.last_error()
            code, message = int(code), str(message)
        except Exception as exc:  # noqa: BLE001 - a dead bridge fails here too
            code, message = -10004, f"last_error() failed: {type(exc).__name__}: {exc}"
        return error_for(code, self._scrub(message), name)

    def _require(self, name: str, *args: Any, empty_ok: bool = False) -> Any:
        """Call ``name``; None is a failure, except that a list call answering None with a
        'Success' last_error is read as empty (some builds answer an empty history that way)."""
        result = self._call(name, *args)
        if result is not None:
            return result
        error = self._failure(name)
        if error.code == 1:
            if empty_ok:
                return ()
            error = SourceCallError(CALL_FAILED, f"{name}() returned None without an error", name)
        return self._raise(error)

    def _raise(self, error: SourceError) -> Any:
        """Every error leaves through here: counted and kept (scrubbed) for ``info``."""
        self._counters["errors"] += 1
        self._last_error = (error.code, error.message)
        raise error

    def _build(self, build: Callable[[Any], Any], raw: Any, name: str) -> Any:
        """A malformed single record (account, terminal) is a failed call, not a dead link."""
        try:
            return build(raw)
        except MalformedRecord as exc:
            message = self._scrub(f"malformed record: {exc}")
        return self._raise(SourceCallError(CALL_FAILED, message, name))

    def _maybe_remeasure(self) -> None:
        if self._offset_checked_at is None or self._clock() - self._offset_checked_at >= OFFSET_RECHECK_S:
            self._measure_offset()

    def _measure_offset(self) -> None:
        """A fresh tick measures the offset now (rounded to the hour); a stale one, read while the
        market is closed for the weekend, is the week's last tick. Either is evidence for the rule."""
        self._offset_checked_at = now = self._clock()
        now_ms = int(now * 1000)
        for symbol in dict.fromkeys([*self._position_symbols, *self._probe_symbols]):
            tick = self._call("symbol_info_tick", symbol)
            if tick is None:
                error = self._failure("symbol_info_tick")
                if isinstance(error, SourceDisconnected):
                    self._raise(error)
                continue  # unknown or unselected symbol: try the next one
            try:
                tick_server_ms = int(tick.time_msc) or int(tick.time) * 1000
                diff = tick_server_ms / 1000 - now
            except (AttributeError, TypeError, ValueError):
                continue
            if not math.isfinite(diff) or abs(diff) > TICK_EVIDENCE_S:
                continue
            offset = round(diff / HOUR_S) * HOUR_S
            weekend = bool(in_weekend([now_ms])[0])
            unmoved = self._last_tick.get(symbol) == tick_server_ms  # a quiet or closed symbol
            self._last_tick[symbol] = tick_server_ms
            if abs(diff - offset) <= FRESH_TICK_S and abs(offset) <= MAX_OFFSET_S and not weekend and not unmoved:
                self._observations.append(Observation(now_ms, offset))
                self._offset_measured, self._offset_symbol = True, symbol
                self._redetect()
                return
            if weekend and self._probe_symbols and symbol == self._probe_symbols[0]:
                self._closing_tick = (tick_server_ms, weekend_close_before(now_ms))
        if self._offset_measured or not self._offset_warned:
            log.warning(
                "MT5 server offset not measured (no fresh tick for %s); broker clock %s (%s)",
                ", ".join(dict.fromkeys([*self._position_symbols, *self._probe_symbols])) or "no symbol",
                self.zone.spec,
                self._choice.basis,
            )
            self._offset_warned = True
        self._offset_measured = False
        self._redetect()

    def _redetect(self) -> None:
        """Choose the broker clock again from everything measured and read so far (unless set)."""
        if self._zone_setting is not None:
            return
        closing = self._closing_tick
        evidence = Evidence(
            weekday_trades(self._trade_times),
            closing[0] if closing else None,
            closing[1] if closing else None,
        )
        stored = parse_zone(self._stored_zone) if self._stored_zone else None
        choice = detect(list(self._observations), evidence, stored=stored)
        if choice.zone != self._choice.zone or choice.basis != self._choice.basis:
            log.info("MT5 broker clock: %s (%s)", choice.zone.spec, choice.basis)
        self._choice = choice
