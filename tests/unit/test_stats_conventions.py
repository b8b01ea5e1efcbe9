"""The statistics conventions on a documented series: flows out of performance, ratios from daily closes.

The series: 32 broker days (UTC+2, so a day ends at 22:00 UTC) with the equity's close at 20:00 UTC,
10,000 deposited before the first close, then a deposit, a withdrawal, credit given and credit taken
back, each booked at 08:00 UTC of its day, and two days that fall at 10:00 UTC and recover by the
close. The expected values are the published formulas of empyrical (``sharpe_ratio``,
``sortino_ratio``, ``annual_return``, ``max_drawdown``, ``calmar_ratio``, no risk-free rate, no
required return) written out again here on the daily returns E_k / (E_k-1 + F_k) - 1, where F_k is
the money moved in (or out) of the equity on day k.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from layouts.analytics import STAT_ROWS, report_page, stat_cell, stats_panel
from services.analytics.period import Report
from services.analytics.stats import MIN_DAILY_RETURNS
from services.core.brokertime import fixed
from services.core.models import DEAL_TYPE_BALANCE
from services.core.timefmt import UTC_CLOCK, page_clock
from tests.unit.test_analytics import CREDIT, DAY, HOUR, T0, deposit, make_deal, stats_of

DAY0 = T0 - T0 % DAY  # UTC midnight
CLOSE_H, DIP_H, FLOW_H = 20, 10, 8
PERIODS = 252
START = 10_000.0
DAILY_PL = (150.0, -60.0, 220.0, -310.0, 90.0, 40.0, -120.0, 260.0, -30.0, 180.0, -410.0, -95.0, 130.0, 75.0, -200.0,
            310.0, 55.0, -140.0, 95.0, -60.0, 240.0, -380.0, -150.0, 120.0, 200.0, -45.0, 160.0, 35.0, -90.0, 210.0,
            70.0)  # fmt: skip
FLOWS = {6: (DEAL_TYPE_BALANCE, 5_000.0), 13: (DEAL_TYPE_BALANCE, -3_000.0), 18: (CREDIT, 2_000.0),
         26: (CREDIT, -2_000.0)}  # fmt: skip
DIPS = {3: -900.0, 21: -700.0}  # below the previous close at 10:00 UTC, on days without flows


def at(day: int, hour: int) -> float:
    return DAY0 + day * DAY + hour * HOUR


def documented_series(days: int = len(DAILY_PL) + 1) -> tuple[list[Any], list[tuple[float, float]], np.ndarray]:
    """The deals, the equity points and each day's flow (F_k) of the first ``days`` days."""
    deals = [deposit(1, at(0, 6), START)]
    closes, flows = [START], np.zeros(days)
    points = [(at(0, CLOSE_H), START)]
    for day in range(1, days):
        type_, amount = FLOWS.get(day, (None, 0.0))
        if type_ is not None:
            deals.append(make_deal(10 + day, at(day, FLOW_H), type_, profit=amount))
        flows[day] = amount
        if day in DIPS:
            points.append((at(day, DIP_H), closes[-1] + DIPS[day]))
        closes.append(closes[-1] + amount + DAILY_PL[day - 1])
        points.append((at(day, CLOSE_H), closes[-1]))
    return deals, points, flows


def daily_returns_of(points: list[tuple[float, float]], flows: np.ndarray) -> np.ndarray:
    closes = np.array([value for t, value in points if (t - DAY0) % DAY == CLOSE_H * HOUR])
    return closes[1:] / (closes[:-1] + flows[1:]) - 1


def empyrical(r: np.ndarray, periods: int) -> dict[str, float]:
    growth = np.concatenate(([100.0], 100.0 * np.cumprod(1 + r)))  # empyrical.max_drawdown starts at 100
    max_drawdown = float(np.min((growth - np.fmax.accumulate(growth)) / np.fmax.accumulate(growth)))
    annual = float(np.prod(1 + r) ** (1 / (len(r) / periods)) - 1)
    downside = math.sqrt(float(np.mean(np.square(np.clip(r, None, 0))))) * math.sqrt(periods)
    return {
        "sharpe": float(np.mean(r) / np.std(r, ddof=1) * math.sqrt(periods)),
        "sortino": float(np.mean(r) * periods / downside),
        "max_drawdown": max_drawdown,
        "calmar": annual / abs(max_drawdown),
    }


def test_ratios_and_daily_drawdown_of_the_documented_series_are_empyricals() -> None:
    deals, points, flows = documented_series()
    stats = stats_of(deals, points, periods_per_year=PERIODS)
    expected = empyrical(daily_returns_of(points, flows), PERIODS)
    assert stats["sharpe"] == pytest.approx(expected["sharpe"], rel=0, abs=1e-9)
    assert stats["sortino"] == pytest.approx(expected["sortino"], rel=0, abs=1e-9)
    assert stats["calmar"] == pytest.approx(expected["calmar"], rel=0, abs=1e-9)
    assert stats["max_drawdown_daily_pct"] == pytest.approx(-expected["max_drawdown"], rel=0, abs=1e-9)
    assert stats["notes"] == {}
    assert (stats["deposits"], stats["withdrawals"]) == (15_000.0, -3_000.0), "credit is no deposit"


def test_the_equity_drawdown_takes_every_flow_out_and_sees_the_falls_inside_a_day() -> None:
    deals, points, flows = documented_series()
    stats = stats_of(deals, points, periods_per_year=PERIODS)
    times = np.array([t for t, _ in points])
    equity = np.array([value for _, value in points])
    moved = np.cumsum(flows)[((times - DAY0) // DAY).astype(int)]  # each day's flow is booked before its points
    performance = equity - moved
    assert stats["max_drawdown"] == round(float(np.max(np.maximum.accumulate(performance) - performance)), 2)
    base = np.concatenate(([np.nan], equity[:-1] + np.diff(moved)))
    growth = np.cumprod(np.concatenate(([1.0], equity[1:] / base[1:])))
    assert stats["max_drawdown_pct"] == pytest.approx(float(np.max(1 - growth / np.maximum.accumulate(growth))))
    assert stats["max_drawdown_pct"] > stats["max_drawdown_daily_pct"], "the dips recover before the close"


@pytest.mark.parametrize(("days", "has"), [(4, 3), (MIN_DAILY_RETURNS, MIN_DAILY_RETURNS - 1)])
def test_fewer_than_the_minimum_daily_returns_make_the_ratios_null_with_the_reason(days: int, has: int) -> None:
    deals, points, _ = documented_series(days)
    stats = stats_of(deals, points, periods_per_year=PERIODS)
    for key in ("sharpe", "sortino", "calmar"):
        assert stats[key] is None and stats["notes"][key] == f"needs {MIN_DAILY_RETURNS} daily returns, has {has}"
    assert stats["max_drawdown_daily_pct"] is not None and stats["max_drawdown"] is not None


def test_the_minimum_number_of_daily_returns_gives_the_ratios() -> None:
    deals, points, flows = documented_series(MIN_DAILY_RETURNS + 1)
    stats = stats_of(deals, points, periods_per_year=PERIODS)
    expected = empyrical(daily_returns_of(points, flows), PERIODS)
    assert stats["sharpe"] == pytest.approx(expected["sharpe"], rel=0, abs=1e-9)
    assert "sharpe" not in stats["notes"]


def test_a_first_run_with_one_equity_point_has_an_unknown_drawdown_not_zero() -> None:
    stats = stats_of([deposit(1, T0 - HOUR, START)], [(T0, START)])
    for key in ("max_drawdown", "max_drawdown_pct", "max_drawdown_duration_s", "recovery_factor"):
        assert stats[key] is None and stats["notes"][key] == "needs 2 equity points in the range, has 1", key
    assert stats["max_drawdown_daily_pct"] is None and stats["notes"]["max_drawdown_daily_pct"]
    assert stats["balance_max_drawdown"] == 0.0 and stats["gain_pct_twr"] == 0.0, "the balance is known and flat"


def test_the_page_and_the_report_show_the_reason_instead_of_a_number() -> None:
    deals, points, _ = documented_series(4)
    stats = stats_of(deals, points, periods_per_year=PERIODS)
    assert stat_cell(stats, "sharpe", "ratio", "USD", 2) == "— (needs 20 daily returns, has 3)"
    assert stat_cell(stats, "max_drawdown", "money", "USD", 2) == f"${stats['max_drawdown']:,.2f}"
    shown = {row.children[1].id: row.children[1].children for row in stats_panel(stats, "USD", 2).children}
    assert shown["stat-calmar"] == "— (needs 20 daily returns, has 3)"
    report = Report(login=7, start_ms=None, end_ms=None, currency="USD", digits=2, trades=[], stats=stats,
                    reconciliation=None, drawdowns=[], by_symbol=[], by_direction=[], by_hour=[], by_weekday=[],
                    monthly=[], histogram=[])  # fmt: skip
    page = dict(report_page(report, None, {}, int(T0 * 1000), page_clock(UTC_CLOCK, None, fixed(0))).statistics)
    labels = {key: label for key, label, _ in STAT_ROWS}
    assert page[labels["sortino"]] == "— (needs 20 daily returns, has 3)"
