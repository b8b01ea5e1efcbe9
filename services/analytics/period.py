"""One account's analytics over a date range: what ``/stats``, ``/trades``, the exports and the page show.

The whole deal history is read once, in chunks: the trade builder, the range's ledger and the
balance check all feed from that single pass (the check needs every deal, the trades need the
deals before the range that opened them). The views' breakdowns are plain data for the figures.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from services.analytics.csv_export import iter_deals, iter_history
from services.analytics.stats import Drawdown, Ledger, equity_underwater, statistics, trades_frame
from services.analytics.trades import BalanceTally, Reconciliation, Trade, TradeBuilder, cents
from services.core.brokertime import BrokerZone
from services.core.models import Account, Deal
from services.core.timefmt import Clock
from services.storage.archive import Archive
from services.storage.store import Store

DEFAULT_PERIODS_PER_YEAR = 260
DEEPEST_DRAWDOWNS = 5
MAX_HISTOGRAM_BINS = 30
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True, slots=True)
class Report:
    login: int
    start_ms: int | None
    end_ms: int | None
    currency: str
    digits: int
    trades: list[Trade]
    stats: dict[str, Any]
    reconciliation: Reconciliation | None  # None until the account's balance is known
    drawdowns: list[Drawdown]
    by_symbol: list[dict[str, Any]]
    by_direction: list[dict[str, Any]]
    by_hour: list[dict[str, Any]]
    by_weekday: list[dict[str, Any]]
    monthly: list[dict[str, Any]]
    histogram: list[dict[str, Any]]
    clock: str = "broker time"  # the clock of the hour and weekday breakdowns


def collect(
    deals: Iterable[Deal], start_ms: int | None, end_ms: int | None, digits: int
) -> tuple[list[Trade], Ledger, BalanceTally]:
    """One pass over the history: trades closed in the range, the range's ledger, the running balance."""
    builder, ledger, tally = TradeBuilder(digits), Ledger(start_ms, end_ms), BalanceTally()
    trades: list[Trade] = []
    for deal in deals:
        tally.feed(deal)
        ledger.feed(deal)
        trades.extend(t for t in builder.feed(deal) if closed_in(t, start_ms, end_ms))
    return trades, ledger, tally


def closed_in(trade: Trade, start_ms: int | None, end_ms: int | None) -> bool:
    moment = trade.close_time_utc_ms
    return (start_ms is None or moment >= start_ms) and (end_ms is None or moment <= end_ms)


def build_report(
    store: Store,
    login: int,
    account: Account | None,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    server_offset_s: BrokerZone | int = 0,
    periods_per_year: int = DEFAULT_PERIODS_PER_YEAR,
    archive: Archive | None = None,
    clock: Clock | None = None,
) -> Report:
    """``clock``: the page's, for the hour and weekday breakdowns (None: the broker's server time, as MT5
    wrote it). Raises the store's Redis errors for the caller to turn into a 503 or a notice."""
    digits = account.currency_digits if account is not None else 2
    trades, ledger, tally = collect(iter_deals(store, login), start_ms, end_ms, digits)
    points = list(iter_history(store, login, start_ms, end_ms, archive=archive))
    times = np.fromiter((p.ts for p in points), dtype=np.int64, count=len(points))
    equity = np.fromiter((p.equity for p in points), dtype=float, count=len(points))
    del points
    stats = statistics(
        trades, ledger, times, equity, server_offset_s=server_offset_s, periods_per_year=periods_per_year, digits=digits
    )
    underwater, _ = equity_underwater(times, equity, ledger)
    frame = trades_frame(trades)
    return Report(
        login=login,
        start_ms=start_ms,
        end_ms=end_ms,
        currency=account.currency if account is not None else "",
        digits=digits,
        trades=trades,
        stats=stats,
        reconciliation=None if account is None else tally.result(account.balance, digits),
        drawdowns=underwater.deepest(DEEPEST_DRAWDOWNS, digits),
        by_symbol=by_symbol(frame, digits),
        by_direction=by_direction(frame, digits),
        by_hour=by_hour(frame, digits, clock),
        by_weekday=by_weekday(frame, digits, clock),
        monthly=monthly_returns(ledger),
        histogram=result_histogram(frame),
        **({} if clock is None else {"clock": clock.label(label_moment(end_ms, times, trades))}),
    )


def label_moment(end_ms: int | None, times: np.ndarray, trades: list[Trade]) -> int:
    """When a report's clock is named with its offset: the range's end, else its last point or close, else now."""
    if end_ms is not None:
        return end_ms
    if len(times):
        return int(times[-1])
    return trades[-1].close_time_utc_ms if trades else int(time.time() * 1000)


def _groups(frame: pd.DataFrame, key: pd.Series, digits: int) -> pd.DataFrame:
    grouped = frame.assign(key=key, win=frame["net"] > 0).groupby("key", sort=True)
    summary = grouped.agg(trades=("net", "size"), net=("net", "sum"), wins=("win", "sum"))
    summary["net"] = summary["net"].map(lambda value: cents(float(value), digits))
    return summary


def _rows(summary: pd.DataFrame, label: str, keys: Iterable[Any]) -> list[dict[str, Any]]:
    """One row per key, zeros where no trade fell; ``win_rate`` None without trades."""
    rows = []
    for key in keys:
        found = key in summary.index
        trades = int(summary.at[key, "trades"]) if found else 0
        rows.append(
            {
                label: key,
                "trades": trades,
                "net": float(summary.at[key, "net"]) if found else 0.0,
                "win_rate": int(summary.at[key, "wins"]) / trades if trades else None,
            }
        )
    return rows


def by_symbol(frame: pd.DataFrame, digits: int) -> list[dict[str, Any]]:
    """Best symbol first."""
    summary = _groups(frame, frame["symbol"], digits)
    return sorted(_rows(summary, "symbol", summary.index), key=lambda row: (-row["net"], row["symbol"]))


def by_direction(frame: pd.DataFrame, digits: int) -> list[dict[str, Any]]:
    return _rows(_groups(frame, frame["direction"], digits), "direction", ("buy", "sell"))


def _close(frame: pd.DataFrame, clock: Clock | None) -> pd.Series:
    """Each trade's close on ``clock``'s wall; without one, the broker's server time as MT5 wrote it."""
    if clock is None:
        walls = frame["close_time_msc"].astype("int64")
    else:
        walls = pd.Series(clock.walls(frame["close_time_utc_ms"].astype("int64").tolist()), frame.index, "int64")
    return pd.to_datetime(walls, unit="ms")


def by_hour(frame: pd.DataFrame, digits: int, clock: Clock | None = None) -> list[dict[str, Any]]:
    """By the hour of the close, 0 to 23, on ``clock`` (the broker's server time without one)."""
    return _rows(_groups(frame, _close(frame, clock).dt.hour, digits), "hour", range(24))


def by_weekday(frame: pd.DataFrame, digits: int, clock: Clock | None = None) -> list[dict[str, Any]]:
    """By the weekday of the close on ``clock`` (the broker's server time without one), Monday (0) first."""
    rows = _rows(_groups(frame, _close(frame, clock).dt.day_of_week, digits), "weekday", range(7))
    return [{**row, "name": WEEKDAYS[row["weekday"]]} for row in rows]


def monthly_returns(ledger: Ledger) -> list[dict[str, Any]]:
    """Time-weighted return of each broker-server month with balance movements, from the deals."""
    if not ledger.times:
        return []
    months = pd.to_datetime(pd.Series(ledger.server_times, dtype="int64"), unit="ms")
    growth = pd.Series(1.0 + ledger.returns()).groupby([months.dt.year, months.dt.month]).prod()
    return [{"year": int(y), "month": int(m), "return": float(g) - 1.0} for (y, m), g in growth.items()]


def result_histogram(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Trade results in equal-width bins (numpy's 'auto' rule, at most 30 bins)."""
    nets = frame["net"].to_numpy(dtype=float)
    if len(nets) == 0:
        return []
    edges = np.histogram_bin_edges(nets, bins="auto")
    if len(edges) - 1 > MAX_HISTOGRAM_BINS:
        edges = np.histogram_bin_edges(nets, bins=MAX_HISTOGRAM_BINS)
    counts, edges = np.histogram(nets, bins=edges)
    return [
        {"low": float(low), "high": float(high), "count": int(count)}
        for low, high, count in zip(edges[:-1], edges[1:], counts, strict=True)
    ]
