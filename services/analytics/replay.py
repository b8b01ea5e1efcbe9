"""Replay: an account as the archive saw it at one moment, long after Redis has forgotten it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.analytics.today import cash_flows, day_bounds
from services.core.brokertime import BrokerZone
from services.core.models import Account, HistoryPoint
from services.storage.archive.database import Archive, State


@dataclass(frozen=True, slots=True)
class Moment:
    """What was recorded at or before ``t_ms``: the last point and the last positions/orders state.

    Either may be None (a point is written when the account changes, a state when positions or orders
    do), never both. ``account`` is the latest account record: currency, digits and margin levels do
    not change over an account's life.
    """

    login: int
    t_ms: int
    point: HistoryPoint | None
    state: State | None
    account: Account | None

    @property
    def recorded_ms(self) -> int:
        """When the figures shown were recorded: the point's time, else the state's."""
        if self.point is not None:
            return self.point.ts
        return self.state.ts if self.state is not None else self.t_ms

    def to_dict(self) -> dict[str, Any]:
        return {
            "account": self.login,
            "t": self.t_ms,
            "point": None if self.point is None else self.point.to_dict(),
            "state": None
            if self.state is None
            else {
                "ts": self.state.ts,
                "positions": [p.to_dict() for p in self.state.positions],
                "orders": [o.to_dict() for o in self.state.orders],
            },
            "currency": None if self.account is None else self.account.currency,
            "currency_digits": None if self.account is None else self.account.currency_digits,
        }


def moment_at(archive: Archive, login: int, t_ms: int) -> Moment | None:
    """The account at ``t_ms``, each part one search down its (login, ts) key; None when nothing was recorded."""
    point = archive.point_at(login, t_ms)
    state = archive.state_at(login, t_ms)
    if point is None and state is None:
        return None
    return Moment(login, t_ms, point, state, archive.account(login))


def account_at(archive: Archive, login: int, t_ms: int) -> dict[str, Any] | None:
    """``GET /account/at``: the moment as JSON, None when nothing was recorded by then."""
    moment = moment_at(archive, login, t_ms)
    return None if moment is None else moment.to_dict()


def day_at(archive: Archive, login: int, zone: BrokerZone, t_ms: int) -> dict[str, Any]:
    """The broker day around ``t_ms`` as the live page counts today (``services.analytics.today``): the account at
    that day's midnight and the money moved between then and ``t_ms``; only the bounds without a point
    recorded by midnight."""
    start, end = day_bounds(zone, t_ms)
    day: dict[str, Any] = {"start_ms": start, "end_ms": end, "flows": 0.0}
    point = archive.point_at(login, start)
    if point is None:
        return day
    flows = cash_flows((d.to_dict() for d in archive.deals(login, start, t_ms)), start)
    fields = ("balance", "equity", "profit", "margin", "margin_level")
    return {**day, **{name: getattr(point, name) for name in fields}, "margin_free": point.equity - point.margin,
            "flows": flows}  # fmt: skip
