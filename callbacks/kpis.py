"""KPI values with their change since the broker's day start, and the margin level's danger colour."""

from __future__ import annotations

from typing import Any

from dash import no_update

from layouts import ids
from services.formatting import margin_level, money
from services.redis_conn import REDIS_ERRORS
from services.runtime import Runtime, UnreadableSnapshot
from services.today import DAY_FIELDS, day_bounds, stored_day_start, today_pl

STOPOUT_MODE_MONEY = 1


def day_start(runtime: Runtime, account: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """The account at the broker's midnight and today's cash flows, read once per day (or reconnect).

    While Redis cannot answer, only the day's bounds: the cards say there is no history yet.
    """
    login = account["login"]
    zone = runtime.broker_zone(login)
    try:
        snapshot = runtime.latest_snapshot(login)
        if snapshot is None:
            return stored_day_start(runtime.store, login, zone, now_ms, archive=runtime.archive_reader)
        positions = [p.to_dict() for p in snapshot.positions]
        account_now = snapshot.account.to_dict()
        return stored_day_start(
            runtime.store, login, zone, now_ms, account_now, positions, archive=runtime.archive_reader
        )
    except (*REDIS_ERRORS, UnreadableSnapshot):
        start, end = day_bounds(zone, now_ms)
        return {"start_ms": start, "end_ms": end, "flows": 0.0}


def level_class(account: dict[str, Any]) -> str:
    """Colour by distance to the account's own margin-call and stop-out levels."""
    if account["margin"] <= 0:
        return "kpi level-ok"
    money_mode = account.get("margin_so_mode") == STOPOUT_MODE_MONEY  # levels in money: compared with free margin
    value = account["margin_free"] if money_mode else account["margin_level"]
    call, stop_out = account["margin_so_call"], account["margin_so_so"]
    if value <= stop_out:
        return "kpi level-stopout"
    if value <= call:
        return "kpi level-call"
    if value <= 2 * call:
        return "kpi level-warn"
    return "kpi level-ok"


def kpi_outputs(account: dict[str, Any], day: dict[str, Any] | None) -> tuple[list[str], list[Any], str]:
    currency, digits = account.get("currency", ""), int(account.get("currency_digits", 2))
    values = {field: account[field] for field in DAY_FIELDS}
    values["margin_free"] = account["margin_free"]
    texts = [
        money(values[f], currency, digits, signed=f == "profit")
        for f in ("balance", "equity", "profit", "margin", "margin_free")
    ]
    texts.append(margin_level(account["margin_level"], account["margin"]))
    today = today_pl(account["equity"], day)
    if day and today is not None:
        texts.append(money(today, currency, digits, signed=True))
        deltas: list[Any] = [_delta(values[f] - day[f], currency, digits) for f in DAY_FIELDS[:5]]
        deltas.append(_level_delta(account, day))
        deltas.append("since the broker's day start")
    else:
        texts.append("—")
        deltas = [no_update] * (len(ids.KPI_FIELDS) - 1) + ["no history at the day start yet"]
    return texts, deltas, level_class(account)


def _delta(change: float, currency: str, digits: int) -> str:
    return f"{money(change, currency, digits, signed=True)} today"


def _level_delta(account: dict[str, Any], day: dict[str, Any]) -> str:
    if account["margin"] <= 0 or day.get("margin", 0) <= 0:
        return ""
    return f"{account['margin_level'] - day['margin_level']:+,.2f} pts today"
