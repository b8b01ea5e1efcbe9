"""Today, as a broker counts it: the account at the server's midnight and the money moved since.

Today's P/L is equity now minus equity at the day start, less deposits, withdrawals, credit
and bonuses: moved money is not a trading result.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.history import DAY_MS, day_start_point, server_day_start_ms
from services.store import Store
from services.trades import DEAL_TYPE_BALANCE, DEAL_TYPE_CREDIT

DEAL_TYPE_BONUS = 6
CASH_FLOW_TYPES = (DEAL_TYPE_BALANCE, DEAL_TYPE_CREDIT, DEAL_TYPE_BONUS)
DAY_FIELDS = ("balance", "equity", "profit", "margin", "margin_free", "margin_level")


def cash_flows(deals: Iterable[dict[str, Any]], since_ms: int) -> float:
    """Deposits, withdrawals, credit and bonuses since a time: moved money, not trading results."""
    return sum(d["profit"] for d in deals if d.get("type") in CASH_FLOW_TYPES and d.get("time_utc_ms", 0) >= since_ms)


def stored_day_start(store: Store, login: int, offset_s: int, now_ms: int) -> dict[str, Any]:
    """The account at the broker's midnight and today's cash flows; without history, only the day's bounds.

    Raises the Redis errors of the reads.
    """
    start = server_day_start_ms(now_ms, offset_s)
    day: dict[str, Any] = {"start_ms": start, "end_ms": start + DAY_MS, "flows": 0.0}
    point = day_start_point(store, login, start)
    if point is None:
        return day
    day.update(
        balance=point.balance,
        equity=point.equity,
        profit=point.profit,
        margin=point.margin,
        margin_free=point.equity - point.margin,
        margin_level=point.margin_level,
        flows=cash_flows((d.to_dict() for d in store.deals(login, start, None)), start),
    )
    return day


def today_pl(equity: float, day: dict[str, Any] | None) -> float | None:
    """None until there is history at the day start to compare with."""
    if not day or "equity" not in day:
        return None
    return equity - day["equity"] - day.get("flows", 0.0)
