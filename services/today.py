"""Today, as a broker counts it: the account at the server's midnight and the money moved since.

Today's P/L is equity now minus equity at the day start, less deposits, withdrawals, credit
and bonuses: moved money is not a trading result. With a point recorded before the broker's
midnight, that point is the day start. Without one (a first start during the day), the first
point after midnight is, less the trading results its deals booked between midnight and it;
cash flows before that point are already in its equity, so only later ones are taken out
(the floating P/L of positions held across midnight counts from that first point).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.brokertime import BrokerZone, as_zone
from services.history import DAY_MS, day_start_point
from services.store import Store
from services.trades import DEAL_TYPE_BALANCE, DEAL_TYPE_CREDIT, deal_money, moves_balance

DEAL_TYPE_BONUS = 6
CASH_FLOW_TYPES = (DEAL_TYPE_BALANCE, DEAL_TYPE_CREDIT, DEAL_TYPE_BONUS)
DAY_FIELDS = ("balance", "equity", "profit", "margin", "margin_free", "margin_level")


def cash_flows(deals: Iterable[dict[str, Any]], since_ms: int) -> float:
    """Deposits, withdrawals, credit and bonuses since a time: moved money, not trading results."""
    return sum(d["profit"] for d in deals if d.get("type") in CASH_FLOW_TYPES and d.get("time_utc_ms", 0) >= since_ms)


def day_bounds(zone: BrokerZone | int, now_ms: int) -> tuple[int, int]:
    """UTC ms of the broker day holding ``now_ms``: 23 or 25 hours long when the clock changes."""
    zone = as_zone(zone)
    start = zone.day_start_ms(now_ms)
    return start, zone.to_utc_ms(zone.to_server_ms(start) + DAY_MS)


def stored_day_start(store: Store, login: int, zone: BrokerZone | int, now_ms: int) -> dict[str, Any]:
    """The account at the broker's midnight and today's cash flows; without history, only the day's bounds.

    Raises the Redis errors of the reads.
    """
    start, end = day_bounds(zone, now_ms)
    day: dict[str, Any] = {"start_ms": start, "end_ms": end, "flows": 0.0}
    point = day_start_point(store, login, start)
    if point is None:
        return day
    deals = store.deals(login, start, None)
    counted_from, balance, equity = start, point.balance, point.equity
    if point.ts > start:  # nothing recorded before midnight: undo what the deals booked before the point
        before = [d for d in deals if d.time_utc_ms <= point.ts]
        balance -= sum(deal_money(d) for d in before if moves_balance(d))
        equity -= sum(deal_money(d) for d in before if moves_balance(d) and d.type not in CASH_FLOW_TYPES)
        counted_from = point.ts + 1
    day.update(
        balance=balance,
        equity=equity,
        profit=point.profit,
        margin=point.margin,
        margin_free=point.equity - point.margin,
        margin_level=point.margin_level,
        flows=cash_flows((d.to_dict() for d in deals), counted_from),
        flows_from_ms=counted_from,
    )
    return day


def today_pl(equity: float, day: dict[str, Any] | None) -> float | None:
    """None until there is history at the day start to compare with."""
    if not day or "equity" not in day:
        return None
    return equity - day["equity"] - day.get("flows", 0.0)
