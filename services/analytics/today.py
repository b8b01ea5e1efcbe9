"""Today, as a broker counts it: the account at the server's midnight and the money moved since.

Today's P/L is equity now minus equity at the day start, less deposits, withdrawals, credit
and bonuses: moved money is not a trading result. With a point recorded before the broker's
midnight, that point is the day start. Without one (a first start during the day), the day start
comes from the deals: the balance and credit now less what today's deals moved, plus the floating
P/L of the positions held across midnight as it stands now (positions opened today had none at
midnight, so all of their floating P/L is today's).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from services.analytics.trades import EQUITY_FLOW_TYPES, deal_money, moves_balance
from services.core.brokertime import BrokerZone, as_zone
from services.core.models import DEAL_TYPE_CREDIT, HistoryPoint
from services.core.units import DAY_MS
from services.storage.archive import Archive
from services.storage.store import Store

DAY_FIELDS = ("balance", "equity", "profit", "margin", "margin_free", "margin_level")


def cash_flows(deals: Iterable[dict[str, Any]], since_ms: int) -> float:
    """Deposits, withdrawals, credit and bonuses since a time: moved money, not trading results."""
    return sum(d["profit"] for d in deals if d.get("type") in EQUITY_FLOW_TYPES and d.get("time_utc_ms", 0) >= since_ms)


def day_bounds(zone: BrokerZone | int, now_ms: int) -> tuple[int, int]:
    """UTC ms of the broker day holding ``now_ms``: 23 or 25 hours long when the clock changes."""
    zone = as_zone(zone)
    start = zone.day_start_ms(now_ms)
    return start, zone.to_utc_ms(zone.to_server_ms(start) + DAY_MS)


def stored_day_start(
    store: Store,
    login: int,
    zone: BrokerZone | int,
    now_ms: int,
    account: Mapping[str, Any] | None = None,
    positions: Iterable[Mapping[str, Any]] = (),
    archive: Archive | None = None,
) -> dict[str, Any]:
    """The account at the broker's midnight and today's cash flows; without either a point recorded
    before midnight (in Redis, else in the archive) or the current ``account``, only the day's bounds.

    Raises the Redis errors of the reads.
    """
    start, end = day_bounds(zone, now_ms)
    day: dict[str, Any] = {"start_ms": start, "end_ms": end, "flows": 0.0, "flows_from_ms": start}
    deals = store.deals(login, start, None)
    flows = cash_flows((d.to_dict() for d in deals), start)
    before = store.history(login, end_ms=start, count=1) or _archived_at(archive, login, start)
    if before:
        point = before[-1]
        day.update(_point_fields(point), balance=point.balance, equity=point.equity, profit=point.profit, flows=flows)
        return day
    if account is None:
        return day
    held = sum(p["profit"] + p["swap"] for p in positions if p["time_utc_ms"] < start)
    balance = account["balance"] - sum(deal_money(d) for d in deals if moves_balance(d))
    credit = account["credit"] - sum(deal_money(d) for d in deals if d.type == DEAL_TYPE_CREDIT)
    first = store.history(login, start_ms=start, end_ms=None, count=1)
    day.update(
        _point_fields(first[0]) if first else {name: account[name] for name in ("margin", "margin_level")},
        balance=balance,
        equity=balance + credit + held,
        profit=held,
        flows=flows,
    )
    day["margin_free"] = day["equity"] - day["margin"]
    return day


def _archived_at(archive: Archive | None, login: int, t_ms: int) -> list[HistoryPoint]:
    """The archive's last point at or before ``t_ms``: Redis forgot it (a wipe, a restart of the embedded one)."""
    if archive is None:
        return []
    try:
        point = archive.point_at(login, t_ms)
    except SQLAlchemyError:
        return []
    return [] if point is None else [point]


def _point_fields(point: HistoryPoint) -> dict[str, float]:
    return {"margin": point.margin, "margin_free": point.equity - point.margin, "margin_level": point.margin_level}


def today_pl(equity: float, day: dict[str, Any] | None) -> float | None:
    """None until there is history at the day start to compare with."""
    if not day or "equity" not in day:
        return None
    return equity - day["equity"] - day.get("flows", 0.0)
