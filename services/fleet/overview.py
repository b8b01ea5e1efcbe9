"""Every account side by side, and totals per currency.

Money in different currencies is never added up, unless the user configured the rate
(REPORT_CURRENCY and FX_RATES): then one combined total, naming what it left out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from services.analytics.today import stored_day_start, today_pl
from services.core.models import Snapshot
from services.ingest.monitor import CollectorHealth
from services.storage.store import Store

SUMMED = ("balance", "equity", "profit", "today")
CENTS = 2  # totals are shown to the cent: a sum of floats must not read 260.09999999999854


@dataclass(frozen=True, slots=True)
class AccountLine:
    login: int
    name: str | None
    server: str | None
    currency: str | None
    digits: int
    balance: float | None
    equity: float | None
    profit: float | None
    margin: float | None
    margin_level: float | None
    today: float | None
    positions: int
    trade_mode: int | None
    state: str  # live | stale | the MT5 state of a collector that polls without a terminal link
    stale: bool
    mt5: str | None
    mt5_error: str | None
    last_poll_ms: int | None
    lag_ms: int | None
    poll_interval_ms: int | None
    collector: dict[str, Any] | None  # the supervised process, when this dashboard started it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CurrencyTotal:
    currency: str
    accounts: int
    stale: int
    balance: float
    equity: float
    profit: float
    today: float | None  # None when no account of this currency has history at its day start yet
    rate: float | None = None  # into the report currency, as configured

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Combined:
    """All accounts in the report currency; only currencies with a configured rate are in it."""

    currency: str
    balance: float
    equity: float
    profit: float
    today: float | None
    included: tuple[str, ...]
    missing: tuple[str, ...]  # currencies without a rate: left out, never guessed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def account_line(
    login: int,
    snapshot: Mapping[str, Any] | None,
    health: CollectorHealth | None,
    *,
    name: str | None = None,
    day: Mapping[str, Any] | None = None,
    collector: dict[str, Any] | None = None,
) -> AccountLine:
    account = dict((snapshot or {}).get("account") or {})
    equity = _number(account.get("equity"))
    return AccountLine(
        login=login,
        name=name or account.get("name"),
        server=account.get("server"),
        currency=account.get("currency"),
        digits=int(account.get("currency_digits") or 2),
        balance=_number(account.get("balance")),
        equity=equity,
        profit=_number(account.get("profit")),
        margin=_number(account.get("margin")),
        margin_level=_number(account.get("margin_level")),
        today=_today(equity, day, int(account.get("currency_digits") or 2)),
        positions=len((snapshot or {}).get("positions") or ()),
        trade_mode=account.get("trade_mode"),
        state=health.state if health else "unknown",
        stale=health.stale if health else True,
        mt5=health.mt5 if health else None,
        mt5_error=health.mt5_error if health else None,
        last_poll_ms=health.last_poll_ms if health else None,
        lag_ms=health.lag_ms if health else None,
        poll_interval_ms=health.poll_interval_ms if health else None,
        collector=collector,
    )


def _today(equity: float | None, day: Mapping[str, Any] | None, digits: int) -> float | None:
    found = None if equity is None else today_pl(equity, dict(day) if day else None)
    return None if found is None else round(found, digits)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def currency_totals(lines: Iterable[AccountLine], rates: Mapping[str, float] | None = None) -> list[CurrencyTotal]:
    """One total per currency; an account with no data yet counts in ``accounts`` but adds nothing."""
    groups: dict[str, list[AccountLine]] = {}
    for line in lines:
        if line.currency:
            groups.setdefault(line.currency, []).append(line)
    rates = rates or {}
    totals = []
    for currency, members in sorted(groups.items()):
        todays = [m.today for m in members if m.today is not None]
        totals.append(
            CurrencyTotal(
                currency=currency,
                accounts=len(members),
                stale=sum(1 for m in members if m.stale),
                balance=round(sum(m.balance or 0.0 for m in members), CENTS),
                equity=round(sum(m.equity or 0.0 for m in members), CENTS),
                profit=round(sum(m.profit or 0.0 for m in members), CENTS),
                today=round(sum(todays), CENTS) if todays else None,
                rate=rates.get(currency),
            )
        )
    return totals


def combined(totals: Iterable[CurrencyTotal], report_currency: str | None) -> Combined | None:
    """None without a report currency: there is then no honest way to add different currencies."""
    if report_currency is None:
        return None
    sums = dict.fromkeys(SUMMED, 0.0)
    has_today = False
    included, missing = [], []
    for total in totals:
        rate = 1.0 if total.currency == report_currency else total.rate
        if rate is None:
            missing.append(total.currency)
            continue
        included.append(total.currency)
        for key in ("balance", "equity", "profit"):
            sums[key] += getattr(total, key) * rate
        if total.today is not None:
            sums["today"] += total.today * rate
            has_today = True
    return Combined(
        currency=report_currency,
        balance=round(sums["balance"], CENTS),
        equity=round(sums["equity"], CENTS),
        profit=round(sums["profit"], CENTS),
        today=round(sums["today"], CENTS) if has_today else None,
        included=tuple(included),
        missing=tuple(missing),
    )


class Overview:
    """Reads every account in a few round trips; each day start is read again only on a new day or new deals."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._days: dict[int, tuple[str, int, dict[str, Any]]] = {}  # login -> (broker clock, deal count, day)
        self._lock = threading.Lock()

    def lines(
        self,
        health: Mapping[int, CollectorHealth],
        *,
        names: Mapping[int, str] | None = None,
        collectors: Mapping[int, dict[str, Any]] | None = None,
    ) -> list[AccountLine]:
        """One line per account the monitor knows, in login order. Raises the Redis errors of the reads."""
        logins = sorted(health)
        snapshots = self._store.snapshots(logins)
        counts = self._store.deal_counts(logins)
        now_ms = int(self._clock() * 1000)
        names = names or {}
        collectors = collectors or {}
        return [
            account_line(
                login,
                snapshots.get(login),
                health[login],
                name=names.get(login),
                day=self._day(login, snapshots.get(login), counts.get(login, 0), now_ms),
                collector=collectors.get(login),
            )
            for login in logins
        ]

    def _day(self, login: int, snapshot: Mapping[str, Any] | None, deals: int, now_ms: int) -> dict[str, Any] | None:
        if snapshot is None:
            return None
        try:
            zone = Snapshot.zone_of(snapshot)
        except (TypeError, ValueError):
            return None  # an unreadable snapshot: its line says so without today's figures
        with self._lock:
            cached = self._days.get(login)
        if cached and cached[:2] == (zone.spec, deals) and cached[2]["start_ms"] <= now_ms < cached[2]["end_ms"]:
            return cached[2]
        account = snapshot.get("account")
        positions = [p for p in snapshot.get("positions") or [] if isinstance(p, dict)]
        day = stored_day_start(
            self._store, login, zone, now_ms, account if isinstance(account, dict) else None, positions
        )
        if "equity" in day:  # without history yet, look again next time
            with self._lock:
                self._days[login] = (zone.spec, deals, day)
        return day
