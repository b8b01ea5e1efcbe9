"""The accounts' equity summed over time: the overview's combined curve, built from the stored history.

Each account's equity is read at the end of every minute (the minute rollup's close, or the raw points of the
minute not rolled up yet) and held until it changes, so an account that stopped talking still counts with its
last known equity, as in the totals. At each minute the accounts of a currency that have history by then are
summed. Different currencies are never added up, unless the user configured REPORT_CURRENCY and FX_RATES: then
one curve in the report currency of every currency with a rate, and the currencies without one beside it, as
``services.fleet.overview.combined`` does for the totals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from services.core.units import DAY_MS, MINUTE_MS, SECOND_MS
from services.fleet.overview import CENTS, AccountLine
from services.storage.store import Store

SPAN_MS = DAY_MS  # the curve covers the last day
STEP_MS = MINUTE_MS  # one point per minute: the rollup's resolution
POINTS = SPAN_MS // STEP_MS
SETTLE_MS = 5 * SECOND_MS  # a minute is drawn this long after it ends, when every collector has written it


@dataclass(frozen=True, slots=True)
class Member:
    login: int
    rate: float  # into the curve's currency: 1 within one currency


@dataclass(frozen=True, slots=True)
class Plan:
    """One curve: what it is called, its currency, and the accounts summed into it."""

    label: str
    currency: str
    members: tuple[Member, ...]


@dataclass(frozen=True, slots=True)
class Curve:
    plan: Plan
    equity: list[float | None]  # None where none of its accounts has history yet
    accounts: list[int]  # how many of them count at each time


@dataclass(frozen=True, slots=True)
class CombinedEquity:
    times: list[int]  # UTC ms, minute ends
    curves: list[Curve]


def plans(lines: Iterable[AccountLine], report_currency: str | None, rates: Mapping[str, float]) -> list[Plan]:
    """One curve per currency; with a report currency, one for all the currencies it has a rate for (first), and
    one for each without a rate, never guessed."""
    by_currency: dict[str, list[int]] = {}
    for line in lines:
        if line.currency:
            by_currency.setdefault(line.currency, []).append(line.login)
    if report_currency is None:
        return [
            Plan(currency, currency, tuple(Member(login, 1.0) for login in logins))
            for currency, logins in sorted(by_currency.items())
        ]
    converted, alone = [], []
    for currency, logins in sorted(by_currency.items()):
        rate = 1.0 if currency == report_currency else rates.get(currency)
        if rate is None:
            alone.append(Plan(currency, currency, tuple(Member(login, 1.0) for login in logins)))
        else:
            converted.extend(Member(login, rate) for login in logins)
    combined = [Plan(f"All in {report_currency}", report_currency, tuple(converted))] if converted else []
    return combined + alone


def grid_end(now_ms: int) -> int:
    """The last minute end the curve may show: one that ended at least ``SETTLE_MS`` ago."""
    return (now_ms - SETTLE_MS) // STEP_MS * STEP_MS


def grid(after_ms: int, end_ms: int) -> list[int]:
    """The minute ends after ``after_ms`` up to ``end_ms``, none before the epoch's second minute (stream ids
    are never negative, and the first minute has a minute before it)."""
    return list(range(max(after_ms, STEP_MS) + STEP_MS, end_ms + 1, STEP_MS))


def held(closes: Sequence[tuple[int, float]], times: np.ndarray) -> np.ndarray:
    """The account's equity just before each time (NaN before its first): its last value then."""
    if not closes:
        return np.full(times.size, np.nan)
    stamps = np.fromiter((ts for ts, _ in closes), dtype=np.int64, count=len(closes))
    values = np.fromiter((equity for _, equity in closes), dtype=float, count=len(closes))
    order = np.argsort(stamps, kind="stable")
    at = np.searchsorted(stamps[order], times, side="left") - 1
    return np.where(at >= 0, values[order][np.maximum(at, 0)], np.nan)


def combined_equity(store: Store, curve_plans: Sequence[Plan], times: Sequence[int]) -> CombinedEquity:
    """The curves at ``times`` (minute ends, oldest first). Raises the store's Redis errors."""
    if not times:
        return CombinedEquity([], [Curve(plan, [], []) for plan in curve_plans])
    logins = {member.login for plan in curve_plans for member in plan.members}
    closes = store.equity_closes(sorted(logins), times[0] - STEP_MS, times[-1])
    at = np.asarray(times, dtype=np.int64)
    equity = {login: held(closes.get(login, []), at) for login in logins}
    curves = []
    for plan in curve_plans:
        parts = np.array([equity[m.login] * m.rate for m in plan.members]).reshape(len(plan.members), at.size)
        counted = (~np.isnan(parts)).sum(axis=0)
        total = np.round(np.nansum(parts, axis=0), CENTS)
        curves.append(
            Curve(
                plan,
                [float(v) if n else None for v, n in zip(total.tolist(), counted.tolist(), strict=True)],
                counted.tolist(),
            )
        )
    return CombinedEquity(list(times), curves)
