"""The KPI cards' texts. A KPI is one entry of ``KPIS`` (its card comes from its label, ``layouts/kpis.py``).

Each has a value and, where the move since the broker's day start means something (balance, equity, the
margin used), that change; it is None (the card keeps what it shows) while there is no history at the day start
to compare with. Floating P/L and the margin level have none: how far they moved since midnight is noise beside
the value itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.analytics.today import today_pl
from services.core.formatting import margin_level, money

Account = dict[str, Any]
Day = dict[str, Any]
STOPOUT_MODE_MONEY = 1
NO_DAY = "no history at the day start yet"


@dataclass(frozen=True, slots=True)
class Kpi:
    name: str
    label: str
    value: Callable[[Account, Day | None], str]
    change: Callable[[Account, Day | None], str | None] | None = None  # the day start is None when unknown


def _money(account: Account, value: float, signed: bool = False) -> str:
    return money(value, account.get("currency", ""), int(account.get("currency_digits", 2)), signed=signed)


def money_kpi(name: str, label: str, signed: bool = False, moved: bool = True) -> Kpi:
    """An account figure in its currency; with ``moved``, how far it moved today."""
    return Kpi(
        name,
        label,
        lambda account, day: _money(account, account[name], signed),
        (lambda account, day: None if day is None else f"{_money(account, account[name] - day[name], True)} today")
        if moved
        else None,
    )


def _today(account: Account, day: Day | None) -> str:
    today = today_pl(account["equity"], day)
    return "—" if today is None else _money(account, today, True)


KPIS = (
    money_kpi("balance", "Balance"),
    money_kpi("equity", "Equity"),
    money_kpi("profit", "Floating P/L", signed=True, moved=False),
    money_kpi("margin", "Margin"),
    money_kpi("margin_free", "Free margin"),
    Kpi("margin_level", "Margin level", lambda a, d: margin_level(a["margin_level"], a["margin"])),
    Kpi("today", "Today's P/L", _today, lambda a, d: NO_DAY if d is None else "since the broker's day start"),
)
KPI_NAMES = tuple(kpi.name for kpi in KPIS)
MOVING = tuple(kpi for kpi in KPIS if kpi.change is not None)  # the cards that show a change


def kpi_texts(account: Account, day: Day | None) -> dict[str, tuple[str, str | None]]:
    """Each KPI's value and change (None for a KPI without one); the day start counts only with the equity it
    had (``today_pl``)."""
    known = day if today_pl(account["equity"], day) is not None else None
    return {
        kpi.name: (kpi.value(account, known), None if kpi.change is None else kpi.change(account, known))
        for kpi in KPIS
    }


def level_class(account: Account) -> str:
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
