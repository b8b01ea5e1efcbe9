"""Typed, JSON-ready records of an MT5 account.

Field names and order follow the MetaTrader5 package's result types exactly, so
``dataclasses.asdict(Account.from_mt5(info))`` equals ``info._asdict()``. MT5 times
are broker server time written as if UTC; every record also carries the real UTC
time in epoch milliseconds (``*_utc_ms``), converted with the broker clock's offset at
the record's own time (``services/core/brokertime.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Self

from services.core.brokertime import BrokerZone, as_zone, fixed, parse_zone

# The MetaTrader5 package's ENUM_DEAL_TYPE and ENUM_DEAL_ENTRY values the app reads.
DEAL_TYPE_BUY, DEAL_TYPE_SELL = 0, 1
DEAL_TYPE_BALANCE, DEAL_TYPE_CREDIT = 2, 3
DEAL_ENTRY_IN, DEAL_ENTRY_OUT, DEAL_ENTRY_INOUT, DEAL_ENTRY_OUT_BY = 0, 1, 2, 3


class MalformedRecord(ValueError):
    """A record from the source misses a field or holds None/NaN where a value is required."""


def _clean(kind: str, raw: dict[str, Any], spec: dict[str, type]) -> dict[str, Any]:
    """Coerce and check the fields named in ``spec``; reject missing, None and NaN values."""
    clean: dict[str, Any] = {}
    for name, typ in spec.items():
        if name not in raw:
            raise MalformedRecord(f"{kind}: field {name!r} is missing")
        value = raw[name]
        if value is None:
            raise MalformedRecord(f"{kind}: field {name!r} is None")
        try:
            if typ is bool:
                clean[name] = bool(value)
            elif typ is int:
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError(value)
                clean[name] = int(value)
            elif typ is float:
                number = float(value)
                if math.isnan(number) or math.isinf(number):
                    raise ValueError(value)
                clean[name] = number
            else:
                clean[name] = str(value)
        except (TypeError, ValueError):
            raise MalformedRecord(f"{kind}: field {name!r} has bad value {value!r}") from None
    return clean


def record_dict(record: Any) -> dict[str, Any]:
    """MT5 results are tuple subclasses with ``_asdict()``; tests and bridges may pass dicts."""
    if isinstance(record, dict):
        return record
    as_dict = getattr(record, "_asdict", None)
    if as_dict is None:
        raise MalformedRecord(f"record of type {type(record).__name__} has no _asdict()")
    return dict(as_dict())


class _Record:
    _spec: ClassVar[dict[str, type]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def mt5_fields(cls) -> list[str]:
        return list(cls._spec)

    @classmethod
    def stored_fields(cls) -> dict[str, type]:
        """Every field and its type in ``to_dict`` order: the layout of the JSON the store writes."""
        return {f.name: _TYPES[str(f.type)] for f in fields(cls)}


_TYPES = {"int": int, "float": float, "bool": bool, "str": str}


def _spec_of(cls: type) -> dict[str, type]:
    return {f.name: _TYPES[str(f.type)] for f in fields(cls) if f.init and not f.name.endswith("_utc_ms")}


@dataclass(frozen=True, slots=True)
class Account(_Record):
    login: int
    trade_mode: int
    leverage: int
    limit_orders: int
    margin_so_mode: int
    trade_allowed: bool
    trade_expert: bool
    margin_mode: int
    currency_digits: int
    fifo_close: bool
    balance: float
    credit: float
    profit: float
    equity: float
    margin: float
    margin_free: float
    margin_level: float
    margin_so_call: float
    margin_so_so: float
    margin_initial: float
    margin_maintenance: float
    assets: float
    liabilities: float
    commission_blocked: float
    name: str
    server: str
    currency: str
    company: str

    @classmethod
    def from_mt5(cls, record: Any) -> Self:
        return cls(**_clean("account", record_dict(record), _ACCOUNT_SPEC))


@dataclass(frozen=True, slots=True)
class Position(_Record):
    ticket: int
    time: int
    time_msc: int
    time_update: int
    time_update_msc: int
    type: int
    magic: int
    identifier: int
    reason: int
    volume: float
    price_open: float
    sl: float
    tp: float
    price_current: float
    swap: float
    profit: float
    symbol: str
    comment: str
    external_id: str
    time_utc_ms: int = 0
    time_update_utc_ms: int = 0

    @classmethod
    def from_mt5(cls, record: Any, zone: BrokerZone | int) -> Self:
        clean, zone = _clean("position", record_dict(record), _POSITION_SPEC), as_zone(zone)
        return cls(
            **clean,
            time_utc_ms=zone.to_utc_ms(clean["time_msc"]),
            time_update_utc_ms=zone.to_utc_ms(clean["time_update_msc"]),
        )


@dataclass(frozen=True, slots=True)
class Order(_Record):
    ticket: int
    time_setup: int
    time_setup_msc: int
    time_done: int
    time_done_msc: int
    time_expiration: int
    type: int
    type_time: int
    type_filling: int
    state: int
    magic: int
    position_id: int
    position_by_id: int
    reason: int
    volume_initial: float
    volume_current: float
    price_open: float
    sl: float
    tp: float
    price_current: float
    price_stoplimit: float
    symbol: str
    comment: str
    external_id: str
    time_setup_utc_ms: int = 0

    @classmethod
    def from_mt5(cls, record: Any, zone: BrokerZone | int) -> Self:
        clean = _clean("order", record_dict(record), _ORDER_SPEC)
        return cls(**clean, time_setup_utc_ms=as_zone(zone).to_utc_ms(clean["time_setup_msc"]))


@dataclass(frozen=True, slots=True)
class Deal(_Record):
    ticket: int
    order: int
    time: int
    time_msc: int
    type: int
    entry: int
    magic: int
    position_id: int
    reason: int
    volume: float
    price: float
    commission: float
    swap: float
    profit: float
    fee: float
    symbol: str
    comment: str
    external_id: str
    time_utc_ms: int = 0

    @classmethod
    def from_mt5(cls, record: Any, zone: BrokerZone | int) -> Self:
        clean = _clean("deal", record_dict(record), _DEAL_SPEC)
        return cls(**clean, time_utc_ms=as_zone(zone).to_utc_ms(clean["time_msc"]))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        clean = _clean("deal", data, _DEAL_SPEC)
        return cls(**clean, time_utc_ms=int(data.get("time_utc_ms", 0)))


@dataclass(frozen=True, slots=True)
class Terminal(_Record):
    """The part of ``terminal_info()`` the dashboard shows; ``connected`` False means the broker link is down."""

    connected: bool
    trade_allowed: bool
    tradeapi_disabled: bool
    build: int
    ping_last: int
    company: str
    name: str

    @classmethod
    def from_mt5(cls, record: Any) -> Self:
        return cls(**_clean("terminal", record_dict(record), _TERMINAL_SPEC))


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """One row of the account history stream."""

    ts: int
    balance: float
    equity: float
    margin: float
    margin_level: float
    profit: float

    @classmethod
    def of(cls, account: Account, ts_ms: int) -> Self:
        return cls(ts_ms, account.balance, account.equity, account.margin, account.margin_level, account.profit)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The full latest state of one account: what a new WebSocket client starts from."""

    account: Account
    positions: tuple[Position, ...] = ()
    orders: tuple[Order, ...] = ()
    ts: int = 0
    server_offset_s: int = 0  # the broker clock's offset at ``ts``
    status: dict[str, Any] = field(default_factory=dict)
    broker_tz: str = ""  # the broker clock's rule (``BrokerZone.spec``); empty: a fixed ``server_offset_s``

    @property
    def zone(self) -> BrokerZone:
        return self.zone_of({"broker_tz": self.broker_tz, "server_offset_s": self.server_offset_s})

    @staticmethod
    def zone_of(data: Mapping[str, Any]) -> BrokerZone:
        """The broker clock of a (stored) snapshot: its rule, or its fixed offset when it names none (an
        older snapshot); raises ValueError for a rule that names no clock."""
        spec = str(data.get("broker_tz") or "")
        return parse_zone(spec) if spec else fixed(int(data.get("server_offset_s") or 0))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """A snapshot as stored in Redis, read back by a worker that does not poll MT5 itself."""
        offset = int(data.get("server_offset_s", 0))
        spec = str(data.get("broker_tz") or "")
        zone = cls.zone_of(data)
        return cls(
            Account.from_mt5(data["account"]),
            tuple(Position.from_mt5(p, zone) for p in data.get("positions", [])),
            tuple(Order.from_mt5(o, zone) for o in data.get("orders", [])),
            int(data.get("ts", 0)),
            offset,
            dict(data.get("status") or {}),
            spec,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "account": self.account.to_dict(),
            "positions": [p.to_dict() for p in self.positions],
            "orders": [o.to_dict() for o in self.orders],
            "ts": self.ts,
            "server_offset_s": self.server_offset_s,
            "broker_tz": self.broker_tz,
            "status": self.status,
        }


_ACCOUNT_SPEC = _spec_of(Account)
_POSITION_SPEC = _spec_of(Position)
_ORDER_SPEC = _spec_of(Order)
_DEAL_SPEC = _spec_of(Deal)
_TERMINAL_SPEC = _spec_of(Terminal)
Account._spec = _ACCOUNT_SPEC
Position._spec = _POSITION_SPEC
Order._spec = _ORDER_SPEC
Deal._spec = _DEAL_SPEC
Terminal._spec = _TERMINAL_SPEC


def is_trading(deal: Deal) -> bool:
    """A buy or a sell, as opposed to a balance operation (deposit, credit, charge, …)."""
    return deal.type in (DEAL_TYPE_BUY, DEAL_TYPE_SELL)
