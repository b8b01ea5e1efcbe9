"""A scriptable stand-in for the Windows-only ``MetaTrader5`` package, true to docs/metatrader5-api.md.

Build one per test: ``fake = FakeMT5()``; hand ``fake.module`` (a real ``types.ModuleType``
holding the package's functions, constants and result types) to the code under test and
script the account, records and faults through ``fake``. Record times are stored the way a
terminal reports them: broker *server* time written as if UTC (``utc + offset_s``), where the
offset is a fixed number of seconds or, like a real broker's, a function of the UTC moment
(``ny_close_offset``: UTC+2 in New York's winter, UTC+3 in its summer).
"""

from __future__ import annotations

import fnmatch
import math
import pickle
import time
import types
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

# ---------------------------------------------------------------- result types


_ZERO = {"i": 0, "f": 0.0, "b": False, "s": ""}


def _struct_type(name: str, spec: str) -> type[tuple[Any, ...]]:
    """A tuple subclass like the package's PyStructSequence: read-only attributes, ``_asdict()``,
    no ``_fields``/``_replace`` (code relying on those would break on the real package).

    ``spec`` lists ``<type letter>:<field>`` in the doc's order; the letters give each field's zero."""
    typed = [item.split(":") for item in spec.split()]
    names = [n for _, n in typed]

    def __new__(cls: type, values: Iterable[Any]) -> tuple[Any, ...]:
        values = tuple(values)
        if len(values) != len(names):
            raise TypeError(f"{name}() takes a {len(names)}-sequence ({len(values)}-sequence given)")
        return tuple.__new__(cls, values)

    def _asdict(self: tuple[Any, ...]) -> dict[str, Any]:
        return dict(zip(names, self, strict=True))

    def __repr__(self: tuple[Any, ...]) -> str:
        return f"{name}({', '.join(f'{n}={v!r}' for n, v in zip(names, self, strict=True))})"

    def __reduce__(self: tuple[Any, ...]) -> Any:
        raise pickle.PicklingError(f"Can't pickle <class '{name}'>: attribute lookup {name} on builtins failed")

    ns: dict[str, Any] = {
        "__slots__": (),
        "__new__": __new__,
        "_asdict": _asdict,
        "__repr__": __repr__,
        "__reduce__": __reduce__,
        "n_fields": len(names),
        "n_sequence_fields": len(names),
        "__module__": "MetaTrader5",
    }
    for i, field_name in enumerate(names):
        ns[field_name] = property(lambda self, i=i: tuple.__getitem__(self, i))
    cls = type(name, (tuple,), ns)
    ZEROS[name] = {n: _ZERO[t] for t, n in typed}
    return cls


ZEROS: dict[str, dict[str, Any]] = {}  # type name -> {field: zero value}, in field order

AccountInfo = _struct_type(
    "AccountInfo",
    "i:login i:trade_mode i:leverage i:limit_orders i:margin_so_mode b:trade_allowed b:trade_expert "
    "i:margin_mode i:currency_digits b:fifo_close f:balance f:credit f:profit f:equity f:margin "
    "f:margin_free f:margin_level f:margin_so_call f:margin_so_so f:margin_initial f:margin_maintenance "
    "f:assets f:liabilities f:commission_blocked s:name s:server s:currency s:company",
)
TerminalInfo = _struct_type(
    "TerminalInfo",
    "b:community_account b:community_connection b:connected b:dlls_allowed b:trade_allowed "
    "b:tradeapi_disabled b:email_enabled b:ftp_enabled b:notifications_enabled b:mqid i:build i:maxbars "
    "i:codepage i:ping_last f:community_balance f:retransmission s:company s:name s:language s:path "
    "s:data_path s:commondata_path",
)
TradePosition = _struct_type(
    "TradePosition",
    "i:ticket i:time i:time_msc i:time_update i:time_update_msc i:type i:magic i:identifier i:reason "
    "f:volume f:price_open f:sl f:tp f:price_current f:swap f:profit s:symbol s:comment s:external_id",
)
TradeOrder = _struct_type(
    "TradeOrder",
    "i:ticket i:time_setup i:time_setup_msc i:time_done i:time_done_msc i:time_expiration i:type "
    "i:type_time i:type_filling i:state i:magic i:position_id i:position_by_id i:reason f:volume_initial "
    "f:volume_current f:price_open f:sl f:tp f:price_current f:price_stoplimit s:symbol s:comment "
    "s:external_id",
)
TradeDeal = _struct_type(
    "TradeDeal",
    "i:ticket i:order i:time i:time_msc i:type i:entry i:magic i:position_id i:reason f:volume f:price "
    "f:commission f:swap f:profit f:fee s:symbol s:comment s:external_id",
)
Tick = _struct_type("Tick", "i:time f:bid f:ask f:last i:volume i:time_msc i:flags f:volume_real")
RESULT_TYPES = {t.__name__: t for t in (AccountInfo, TerminalInfo, TradePosition, TradeOrder, TradeDeal, Tick)}


def build(struct: type[tuple[Any, ...]], **fields: Any) -> tuple[Any, ...]:
    """A result of type ``struct`` with zero defaults; unknown field names raise KeyError."""
    values = dict(ZEROS[struct.__name__])
    unknown = set(fields) - set(values)
    if unknown:
        raise KeyError(f"not {struct.__name__} fields: {sorted(unknown)}")
    values.update(fields)
    return struct(values.values())


# ---------------------------------------------------------------- constants

CONSTANTS: dict[str, int] = {}


def _enum(prefix: str, names: str, start: int = 0) -> None:
    for i, n in enumerate(names.split(), start):
        CONSTANTS[f"{prefix}{n}"] = i


_enum(
    "DEAL_TYPE_",
    "BUY SELL BALANCE CREDIT CHARGE CORRECTION BONUS COMMISSION COMMISSION_DAILY COMMISSION_MONTHLY "
    "COMMISSION_AGENT_DAILY COMMISSION_AGENT_MONTHLY INTEREST BUY_CANCELED SELL_CANCELED",
)
_enum("DEAL_", "DIVIDEND DIVIDEND_FRANKED TAX", 15)
_enum("DEAL_ENTRY_", "IN OUT INOUT OUT_BY")
_enum("DEAL_REASON_", "CLIENT MOBILE WEB EXPERT SL TP SO ROLLOVER VMARGIN SPLIT")
_enum("POSITION_TYPE_", "BUY SELL")
_enum("ORDER_TYPE_", "BUY SELL BUY_LIMIT SELL_LIMIT BUY_STOP SELL_STOP BUY_STOP_LIMIT SELL_STOP_LIMIT CLOSE_BY")
_enum(
    "ORDER_STATE_",
    "STARTED PLACED CANCELED PARTIAL FILLED REJECTED EXPIRED REQUEST_ADD REQUEST_MODIFY REQUEST_CANCEL",
)
_enum("ORDER_FILLING_", "FOK IOC RETURN BOC")
_enum("ORDER_TIME_", "GTC DAY SPECIFIED SPECIFIED_DAY")
_enum("ORDER_REASON_", "CLIENT MOBILE WEB EXPERT SL TP SO")
_enum("POSITION_REASON_", "CLIENT MOBILE WEB EXPERT")
_enum("ACCOUNT_TRADE_MODE_", "DEMO CONTEST REAL")
_enum("ACCOUNT_MARGIN_MODE_", "RETAIL_NETTING EXCHANGE RETAIL_HEDGING")
_enum("ACCOUNT_STOPOUT_MODE_", "PERCENT MONEY")
CONSTANTS.update(
    TRADE_ACTION_DEAL=1, TRADE_ACTION_PENDING=5, TRADE_ACTION_SLTP=6, TRADE_ACTION_MODIFY=7,
    TRADE_ACTION_REMOVE=8, TRADE_ACTION_CLOSE_BY=10, TIMEFRAME_M1=1, TIMEFRAME_H1=0x4001,
    TIMEFRAME_D1=0x4018, TIMEFRAME_W1=0x8001, TIMEFRAME_MN1=0xC001,
)  # fmt: skip

ERRORS: dict[str, tuple[int, str]] = {
    "RES_S_OK": (1, "Success"),
    "RES_E_FAIL": (-1, "Terminal: Call failed"),
    "RES_E_INVALID_PARAMS": (-2, "Terminal: Invalid params"),
    "RES_E_NO_MEMORY": (-3, "Terminal: Out of memory"),
    "RES_E_NOT_FOUND": (-4, "Terminal: Not found"),
    "RES_E_INVALID_VERSION": (-5, "Terminal: Incompatible versions"),
    "RES_E_AUTH_FAILED": (-6, "Terminal: Authorization failed"),
    "RES_E_UNSUPPORTED": (-7, "Terminal: Unsupported function"),
    "RES_E_AUTO_TRADING_DISABLED": (-8, "Auto-Trading using Python API disabled in Terminal"),
    "RES_E_INTERNAL_FAIL": (-10000, "IPC call failed"),
    "RES_E_INTERNAL_FAIL_SEND": (-10001, "IPC send failed"),
    "RES_E_INTERNAL_FAIL_RECEIVE": (-10002, "IPC recv failed"),
    "RES_E_INTERNAL_FAIL_INIT": (-10003, "IPC initialize failed, Pipe server didn't answer in 60 sec"),
    "RES_E_INTERNAL_FAIL_CONNECT": (-10004, "No IPC connection"),
    "RES_E_INTERNAL_FAIL_TIMEOUT": (-10005, "IPC timeout"),
}
CONSTANTS.update({name: code for name, (code, _) in ERRORS.items()})
OK = ERRORS["RES_S_OK"]
NO_IPC = ERRORS["RES_E_INTERNAL_FAIL_CONNECT"]
TIMEOUT = ERRORS["RES_E_INTERNAL_FAIL_TIMEOUT"]
AUTH = ERRORS["RES_E_AUTH_FAILED"]
NOT_FOUND = ERRORS["RES_E_NOT_FOUND"]
BAD_ARGS = (-2, "Invalid arguments")
UNNAMED = (-2, "Unnamed arguments not allowed")


class _Fail(Exception):
    """Internal: a call fails with this last_error pair (the package returns None, never raises)."""

    def __init__(self, error: tuple[int, str]) -> None:
        self.error = error


def _seconds(value: Any) -> float:
    """The package converts datetimes with ``dt.timestamp()``: a naive datetime is host local time."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise _Fail(BAD_ARGS)


def _group_match(symbol: str, group: str) -> bool:
    """MT5 group syntax: comma-separated wildcards, ``!`` excludes."""
    if not isinstance(symbol, str):
        return False
    pats = [p.strip() for p in group.split(",") if p.strip()]
    if any(p.startswith("!") and fnmatch.fnmatchcase(symbol, p[1:]) for p in pats):
        return False
    return any(not p.startswith("!") and fnmatch.fnmatchcase(symbol, p) for p in pats)


# ---------------------------------------------------------------- broker clocks

_NEW_YORK = ZoneInfo("America/New_York")


def ny_close_offset(time_utc: float) -> int:
    """The common forex server clock: New York + 7 h, so the broker's midnight is 17:00 in New York."""
    ny = datetime.fromtimestamp(time_utc, UTC).astimezone(_NEW_YORK)
    return int(ny.utcoffset() / timedelta(seconds=1)) + 7 * 3600


def zone_offset(zone: str) -> Callable[[float], int]:
    """A server clock that is an IANA zone's wall clock (e.g. ``Europe/Athens``: EU daylight saving)."""
    info = ZoneInfo(zone)
    return lambda time_utc: int(datetime.fromtimestamp(time_utc, info).utcoffset() / timedelta(seconds=1))


# ---------------------------------------------------------------- the fake


class FakeMT5:
    """State and fault scripting for one fake terminal; ``module`` is what the code under test imports."""

    def __init__(
        self,
        *,
        login: int = 12345678,
        password: str = "s3cret-Pa55!",
        server: str = "FakeBroker-Demo",
        offset_s: int | Callable[[float], int] = 7200,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        connected: bool = True,
    ) -> None:
        self.offset_s = offset_s
        self.clock = clock
        self.sleep = sleep
        self.credentials: dict[int, tuple[str, str]] = {login: (password, server)}
        self.terminal_path: str | None = None  # when set, initialize(path=<other>) fails with -10003
        self.calls: Counter[str] = Counter()
        self.call_log: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.account: dict[str, Any] = build(
            AccountInfo, login=login, leverage=100, limit_orders=200, trade_allowed=True, trade_expert=True,
            margin_mode=2, currency_digits=2, balance=10000.0, equity=10000.0, margin_free=10000.0,
            margin_so_call=50.0, margin_so_so=30.0, name="Test Trader", server=server, currency="USD",
            company="Fake Broker Ltd",
        )._asdict()  # type: ignore[attr-defined]  # fmt: skip
        self.terminal: dict[str, Any] = build(
            TerminalInfo, connected=connected, trade_allowed=True, build=4755, maxbars=100000,
            ping_last=41000, company="Fake Broker Ltd", name="MetaTrader 5", language="English",
            path="C:\\Program Files\\MetaTrader 5", data_path="C:\\MT5\\Data",
            commondata_path="C:\\MT5\\Common",
        )._asdict()  # type: ignore[attr-defined]  # fmt: skip
        self.positions: list[tuple[Any, ...]] = []
        self.orders: list[tuple[Any, ...]] = []
        self.deals: list[tuple[Any, ...]] = []
        self.history_orders: list[tuple[Any, ...]] = []
        self.ticks: dict[str, dict[str, Any]] = {"EURUSD": {"bid": 1.1, "ask": 1.1002, "time_utc": None}}
        self._next_ticket = 1_000_000
        self._error: tuple[int, str] = (0, "")  # storage starts zeroed before any call
        self._initialized = False
        self._broken: tuple[int, str] | None = None  # session error until the next initialize()
        self._link_up = True
        self._hang_s = 0.0
        self._timeout_now = False
        self._timeout_ms = 60000
        self.module = self._build_module()

    # ------------------------------------------------------------ scripting
    def set_account(self, **fields: Any) -> None:
        """Change account fields (any value, None/NaN included, to script a malformed record)."""
        unknown = set(fields) - set(self.account)
        if unknown:
            raise KeyError(f"not AccountInfo fields: {sorted(unknown)}")
        self.account.update(fields)

    def set_connected(self, connected: bool) -> None:
        """Broker link state as ``terminal_info().connected`` reports it (data goes stale, no error)."""
        self.terminal["connected"] = connected

    def set_tick(self, symbol: str, bid: float, ask: float, time_utc: float | None = None) -> None:
        """A tick for ``symbol``; ``time_utc=None`` means live (stamped with the clock at each call)."""
        self.ticks[symbol] = {"bid": bid, "ask": ask, "time_utc": time_utc}

    def ticket(self) -> int:
        self._next_ticket += 1
        return self._next_ticket

    def offset_at(self, time_utc: float) -> int:
        """The server clock's offset from UTC in force at ``time_utc``."""
        return self.offset_s(time_utc) if callable(self.offset_s) else self.offset_s

    def server_ms(self, time_utc: float) -> int:
        return round((time_utc + self.offset_at(time_utc)) * 1000)

    def add_position(self, symbol: str = "EURUSD", *, time_utc: float | None = None, **fields: Any) -> int:
        """Open a position at UTC ``time_utc`` (default now); other TradePosition fields by keyword
        (None/NaN allowed, to script a malformed record)."""
        ticket = fields.pop("ticket", None) or self.ticket()
        ms = self.server_ms(self.clock() if time_utc is None else time_utc)
        defaults = {"time": ms // 1000, "time_msc": ms, "time_update": ms // 1000, "time_update_msc": ms}
        defaults |= {"identifier": ticket, "volume": 0.1, "price_open": 1.1, "price_current": 1.1}
        self.positions.append(build(TradePosition, **(defaults | {"ticket": ticket, "symbol": symbol} | fields)))
        return ticket

    def add_order(self, symbol: str = "EURUSD", *, time_utc: float | None = None, **fields: Any) -> int:
        """Place a pending order (default BUY_LIMIT) at UTC ``time_utc`` (default now)."""
        ticket = fields.pop("ticket", None) or self.ticket()
        ms = self.server_ms(self.clock() if time_utc is None else time_utc)
        defaults = {"time_setup": ms // 1000, "time_setup_msc": ms, "type": 2, "type_filling": 2, "state": 1}
        defaults |= {"volume_initial": 0.1, "volume_current": 0.1, "price_open": 1.09, "price_current": 1.1}
        self.orders.append(build(TradeOrder, **(defaults | {"ticket": ticket, "symbol": symbol} | fields)))
        return ticket

    def add_deal(self, time_utc: float, symbol: str = "EURUSD", **fields: Any) -> int:
        """Add a history deal executed at UTC ``time_utc`` (stored as server time); a BUY/SELL deal
        also gets its filled order in ``history_orders``."""
        ticket = fields.pop("ticket", None) or self.ticket()
        order = fields.pop("order", None) or self.ticket()
        ms = self.server_ms(time_utc)
        defaults = {
            "ticket": ticket,
            "order": order,
            "time": ms // 1000,
            "time_msc": ms,
            "position_id": order,
        }
        deal: Any = build(TradeDeal, **(defaults | {"volume": 0.1, "price": 1.1, "symbol": symbol} | fields))
        self.deals.append(deal)
        if deal.type in (0, 1):
            done = {
                "time_setup": ms // 1000,
                "time_setup_msc": ms,
                "time_done": ms // 1000,
                "time_done_msc": ms,
            }
            same = {k: getattr(deal, k) for k in ("type", "magic", "position_id", "symbol", "comment")}
            fill = {"ticket": order, "state": 4, "volume_initial": deal.volume, "price_open": deal.price}
            self.history_orders.append(build(TradeOrder, **(done | same | fill)))
        return ticket

    def add_balance(self, time_utc: float, amount: float, comment: str = "deposit") -> int:
        return self.add_deal(time_utc, symbol="", type=2, profit=amount, comment=comment, position_id=0)

    def drop_link(self) -> None:
        """The pipe breaks: every call fails with -10004 (initialize with -10003) until
        ``restore_link()`` and then a new ``initialize()``; nothing reconnects by itself."""
        self._link_up = False
        self._broken = NO_IPC

    def restore_link(self) -> None:
        self._link_up = True

    def restart_terminal(self) -> None:
        """The terminal restarted: calls fail with -10001 until the next ``initialize()``."""
        self._broken = ERRORS["RES_E_INTERNAL_FAIL_SEND"]

    def hang(self, seconds: float) -> None:
        """Every call (initialize included) takes ``seconds`` via ``self.sleep``; at or over the
        session timeout it sleeps the timeout and fails with -10005 'IPC timeout'."""
        self._hang_s = seconds

    def timeout_mode(self, on: bool = True) -> None:
        """Every call (initialize included) fails at once with -10005, without sleeping."""
        self._hang_s = math.inf if on else 0.0
        self._timeout_now = on

    def unhang(self) -> None:
        self._hang_s, self._timeout_now = 0.0, False

    def inject_malformed(self, where: str = "deals", index: int = -1, **fields: Any) -> None:
        """Replace record ``index`` of ``positions``/``orders``/``deals`` with a copy holding
        ``fields`` (default ``profit=None``), as a broken bridge or terminal might return it."""
        records = getattr(self, where)
        records[index] = malformed(records[index], **(fields or {"profit": None}))

    @property
    def initialized(self) -> bool:
        return self._initialized

    # ------------------------------------------------------------ call plumbing
    def _build_module(self) -> types.ModuleType:
        mod = types.ModuleType("MetaTrader5", "Fake MetaTrader5 package (tests/fakes/fake_mt5.py).")
        for name, value in CONSTANTS.items():
            setattr(mod, name, value)
        for name, typ in RESULT_TYPES.items():
            setattr(mod, name, typ)
        mod.__version__ = "5.0.6231"  # type: ignore[attr-defined]
        mod.__author__ = "MetaQuotes Ltd."  # type: ignore[attr-defined]
        specs: dict[str, tuple[str, Callable[..., Any]]] = {
            # name: (argument style, implementation)
            "initialize": ("any", self._initialize),
            "login": ("any", self._login),
            "shutdown": ("none", self._shutdown),
            "version": ("none", lambda: (500, self.terminal["build"], "14 Mar 2025")),
            "account_info": ("none", lambda: AccountInfo(self.account.values())),
            "terminal_info": ("none", lambda: TerminalInfo(self.terminal.values())),
            "positions_total": ("none", lambda: len(self.positions)),
            "orders_total": ("none", lambda: len(self.orders)),
            "positions_get": ("any", lambda *a, **k: self._open_get(self.positions, a, k)),
            "orders_get": ("any", lambda *a, **k: self._open_get(self.orders, a, k)),
            "history_orders_get": ("any", lambda *a, **k: self._history_get(self.history_orders, "o", a, k)),
            "history_deals_get": ("any", lambda *a, **k: self._history_get(self.deals, "d", a, k)),
            "history_orders_total": ("positional", lambda *a: len(self._range(self.history_orders, "o", a))),
            "history_deals_total": ("positional", lambda *a: len(self._range(self.deals, "d", a))),
            "symbol_info_tick": ("positional", self._symbol_info_tick),
        }
        for name, (style, impl) in specs.items():
            setattr(mod, name, self._wrap(name, style, impl))
        mod.last_error = self._last_error  # type: ignore[attr-defined]
        return mod

    def _last_error(self, *args: Any, **kwargs: Any) -> tuple[int, str]:
        self._check_style("last_error", "none", args, kwargs)
        self.calls["last_error"] += 1
        return self._error

    @staticmethod
    def _check_style(name: str, style: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Python-level TypeErrors the C functions raise (METH_NOARGS / METH_VARARGS)."""
        if style != "any" and kwargs:
            raise TypeError(f"{name}() takes no keyword arguments")
        if style == "none" and args:
            raise TypeError(f"{name}() takes no arguments ({len(args)} given)")

    def _wrap(self, name: str, style: str, impl: Callable[..., Any]) -> Callable[..., Any]:
        fails_with: Any = False if name in ("initialize", "login") else None

        def call(*args: Any, **kwargs: Any) -> Any:
            self._check_style(name, style, args, kwargs)
            self.calls[name] += 1
            self.call_log.append((name, args, dict(kwargs)))
            self._error = OK
            try:
                if name not in ("initialize", "shutdown"):
                    self._gate()
                return impl(*args, **kwargs)
            except _Fail as fail:
                self._error = fail.error
                return fails_with

        call.__name__ = call.__qualname__ = name
        return call

    def _gate(self) -> None:
        """What every call after initialize goes through: session, broken pipe, hung terminal."""
        if not self._initialized:
            raise _Fail(NO_IPC)
        if self._broken is not None:
            raise _Fail(self._broken)
        self._stall()

    def _stall(self) -> None:
        if self._timeout_now:
            raise _Fail(TIMEOUT)
        if self._hang_s > 0:
            limit = self._timeout_ms / 1000
            self.sleep(min(self._hang_s, limit))
            if self._hang_s >= limit:
                raise _Fail(TIMEOUT)

    # ------------------------------------------------------------ functions
    def _check_auth(self, login: Any, password: Any, server: Any) -> None:
        if not isinstance(login, int) or isinstance(login, bool) or login <= 0:
            raise _Fail((-2, 'Invalid "login" argument'))
        for arg, value in (("password", password), ("server", server)):
            if value is not None and not isinstance(value, str):
                raise _Fail((-2, f'Invalid "{arg}" argument'))
        known = self.credentials.get(login)
        # No password means the one the terminal saved for this account.
        if known is None or (password is not None and password != known[0]):
            raise _Fail(AUTH)
        if server is not None and server != known[1]:
            raise _Fail(AUTH)

    def _initialize(self, *args: Any, **kwargs: Any) -> bool:
        allowed = {"path", "login", "password", "server", "timeout", "portable"}
        if len(args) > 1 or set(kwargs) - allowed or (args and "path" in kwargs):
            raise _Fail(BAD_ARGS)
        path = args[0] if args else kwargs.get("path")
        if path is not None and not isinstance(path, str):
            raise _Fail((-2, 'Invalid "path" argument'))
        timeout = kwargs.get("timeout", 60000)
        if not isinstance(timeout, int) or timeout <= 0:
            raise _Fail((-2, 'Invalid "timeout" argument'))
        self._timeout_ms = timeout
        self._initialized = False
        self._stall()
        if not self._link_up:
            raise _Fail(ERRORS["RES_E_INTERNAL_FAIL_INIT"])
        if path is not None and self.terminal_path is not None and path != self.terminal_path:
            raise _Fail((-10003, f"IPC initialize failed, Process create failed '{path}'"))
        if "login" in kwargs:
            self._check_auth(kwargs["login"], kwargs.get("password"), kwargs.get("server"))
            self._switch(kwargs["login"])
        self._initialized, self._broken = True, None
        return True

    def _login(self, *args: Any, **kwargs: Any) -> bool:
        names = ("login", "password", "server", "timeout")
        if len(args) > len(names) or set(kwargs) - set(names):
            raise _Fail(BAD_ARGS)
        bound = dict(zip(names, args, strict=False)) | kwargs
        if "login" not in bound:
            raise _Fail(BAD_ARGS)
        self._check_auth(bound["login"], bound.get("password"), bound.get("server"))
        self._switch(bound["login"])
        return True

    def _switch(self, login: int) -> None:
        if login != self.account["login"]:
            self.account.update(login=login, server=self.credentials[login][1])

    def _shutdown(self) -> bool:
        self._initialized = False
        return True

    def _open_get(self, records: list[tuple[Any, ...]], args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
        if args:
            raise _Fail(UNNAMED)
        if set(kw) - {"symbol", "group", "ticket"}:
            raise _Fail(BAD_ARGS)
        self._check_filters(kw)
        if "ticket" in kw:  # the binary checks ticket, then symbol, then group
            return tuple(r for r in records if r[0] == kw["ticket"])
        if "symbol" in kw:
            return tuple(r for r in records if r.symbol == kw["symbol"])  # type: ignore[attr-defined]
        if "group" in kw:
            return tuple(r for r in records if _group_match(r.symbol, kw["group"]))  # type: ignore[attr-defined]
        return tuple(records)

    @staticmethod
    def _check_filters(kw: dict[str, Any]) -> None:
        for key in ("ticket", "position"):
            if key in kw and (not isinstance(kw[key], int) or isinstance(kw[key], bool) or kw[key] < 0):
                raise _Fail((-2, f'Invalid "{key}" argument'))
        if "symbol" in kw and (not isinstance(kw["symbol"], str) or len(kw["symbol"]) > 30):
            raise _Fail((-2, 'Invalid "symbol" argument'))
        if "group" in kw and (not isinstance(kw["group"], str) or len(kw["group"]) >= 1999):
            raise _Fail((-2, 'Invalid "group" argument'))

    def _range(self, records: list[tuple[Any, ...]], kind: str, args: tuple[Any, ...]) -> list[Any]:
        """Records with server-time seconds in [from, to], inclusive both ends."""
        if len(args) != 2:
            raise _Fail(BAD_ARGS)
        lo, hi = _seconds(args[0]), _seconds(args[1])
        key = "time" if kind == "d" else "time_setup"
        return [r for r in records if lo <= getattr(r, key) <= hi]

    def _history_get(self, records: list[tuple[Any, ...]], kind: str, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
        if args:
            if set(kw) - {"group"}:
                raise _Fail(BAD_ARGS)
            self._check_filters(kw)
            found = self._range(records, kind, args)
            if "group" in kw:
                found = [r for r in found if _group_match(r.symbol, kw["group"])]
            return tuple(found)
        if len(kw) != 1 or set(kw) - {"ticket", "position"}:
            raise _Fail(BAD_ARGS)
        self._check_filters(kw)
        if "ticket" in kw:  # deals: the order ticket; orders: their own ticket
            found = [r for r in records if (r.order if kind == "d" else r.ticket) == kw["ticket"]]
        else:
            found = [r for r in records if r.position_id == kw["position"]]
        if not found:
            raise _Fail(NOT_FOUND)  # an unknown history ticket returns None
        return tuple(found)

    def _symbol_info_tick(self, *args: Any) -> Any:
        if len(args) != 1:
            raise _Fail(BAD_ARGS)
        symbol = args[0]
        if not isinstance(symbol, str) or len(symbol) > 30:
            raise _Fail((-2, 'Invalid "symbol" argument'))
        tick = self.ticks.get(symbol)
        if tick is None:
            raise _Fail(NOT_FOUND)
        utc = self.clock() if tick["time_utc"] is None else tick["time_utc"]
        ms = self.server_ms(utc)
        return Tick((ms // 1000, tick["bid"], tick["ask"], 0.0, 0, ms, 6, 0.0))


def malformed(record: tuple[Any, ...], **fields: Any) -> tuple[Any, ...]:
    """A copy of a result with some fields replaced, e.g. ``malformed(deal, profit=math.nan)``."""
    values = record._asdict()  # type: ignore[attr-defined]
    values.update(fields)
    return type(record)(values.values())


__all__ = [
    "AccountInfo",
    "FakeMT5",
    "TerminalInfo",
    "Tick",
    "TradeDeal",
    "TradeOrder",
    "TradePosition",
    "build",
    "malformed",
    "ny_close_offset",
    "zone_offset",
]
