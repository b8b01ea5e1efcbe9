"""Performance statistics for a date range, the numbers traders compare (MT5 report, Myfxbook, QuantStats).

Deposits, withdrawals, bonuses and credit are cash flows, not performance (``services.analytics.trades``
says which deal moves which curve). Gains chain the returns of the periods between flows
(time-weighted), and drawdowns are measured on the curve with the flows taken out, so a
withdrawal, or credit taken back, is never a loss. Conventions of the result:

- money in the account currency, rounded to its digits; rates as fractions (0.55);
- losses, gross loss and withdrawals are negative, drawdown depths are positive;
- unknown is null, never 0: no trades, no losses, fewer than 2 equity points, no balance
  movement in the history. ``notes`` maps a null statistic to why it is null where the reason
  is not plain (too little history for a ratio, a ratio with a zero denominator).

Trades count in the range they closed in. The equity figures use the equity history (floating P/L
included); the TWR gain, the monthly returns and the balance drawdown use the balance rebuilt from
the deals, which reaches back further than the equity history.

The daily series. Each step between two equity points has the return v1 / (v0 + flow) - 1, the
flows of the step counted at its start; chained from 1 at the range's first point they make the
flow-free growth index. A broker day's close is the index's last value on that day (days end at
broker-server midnight; a day without points has no close), and the daily returns are the changes
from one close to the next (the first close is the base). From these, as empyrical computes them
(and QuantStats for Sharpe and Sortino), with ``periods`` per year:

- sharpe = mean / sample standard deviation (ddof 1) × √periods;
- sortino = mean × periods / (√mean(min(r, 0)²) × √periods);
- annual return = (∏(1 + r)) ^ (periods / n) - 1;
- max_drawdown_daily_pct = the deepest fall of the closes below their running high, the base
  included (empyrical's max_drawdown of the daily returns, as a positive fraction);
- calmar = annual return / max_drawdown_daily_pct.

The three ratios need ``MIN_DAILY_RETURNS`` daily returns; with fewer they are null and ``notes``
says how many there are. ``max_drawdown_pct`` is the deepest fall between any two equity points,
deeper than the daily one when a day recovers before its close.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from services.analytics.trades import (
    EQUITY_FLOW_KINDS,
    FLOW_KINDS,
    OFF_BALANCE_KINDS,
    Operation,
    Trade,
    cents,
    deal_money,
    moves_balance,
)
from services.core.brokertime import BrokerZone, as_zone
from services.core.models import Deal, is_trading
from services.core.units import DAY_MS

STAT_KEYS = (
    "net_profit", "gross_profit", "gross_loss", "profit_factor", "expected_payoff", "trades", "win_rate",
    "avg_win", "avg_loss", "largest_win", "largest_loss", "max_consecutive_wins", "max_consecutive_losses",
    "long_trades", "long_win_rate", "short_trades", "short_win_rate", "deposits", "withdrawals", "commission",
    "swap", "fee", "max_drawdown", "max_drawdown_pct", "max_drawdown_duration_s", "recovery_factor", "sharpe",
    "sortino", "calmar", "gain_pct_twr", "gain_pct_absolute", "avg_holding_s", "balance_max_drawdown",
    "balance_max_drawdown_pct", "max_drawdown_daily_pct",
)  # fmt: skip
NOTES = "notes"  # the result's key after STAT_KEYS: statistic -> why it is null
RATIO_KEYS = ("sharpe", "sortino", "calmar")
MIN_DAILY_RETURNS = 20  # fewer daily returns make a ratio noise shown with confidence
MIN_EQUITY_POINTS = 2  # one point shows no fall
TRADE_COLUMNS = tuple(Trade.__dataclass_fields__)
DEPTH_EPS = 1e-9


@dataclass
class Ledger:
    """The balance at the range start, then every balance movement and balance operation inside the range,
    and the flows of the equity (the balance's flows plus credit) inside the range.

    Fed deal by deal in time order, so it shares one pass over the history with the trade builder.
    """

    start_ms: int | None = None
    end_ms: int | None = None
    opening_balance: float = 0.0
    balance_known: bool = False  # a deal up to the range end moved the balance; else the balance is unknown
    times: list[int] = field(default_factory=list)
    server_times: list[int] = field(default_factory=list)
    amounts: list[float] = field(default_factory=list)
    flows: list[float] = field(default_factory=list)  # the flow part of each movement (deposit, withdrawal, bonus)
    operations: list[Operation] = field(default_factory=list)
    equity_flow_times: list[int] = field(default_factory=list)
    equity_flows: list[float] = field(default_factory=list)  # deposits, withdrawals, bonuses and credit

    def feed(self, deal: Deal) -> None:
        if self.end_ms is not None and deal.time_utc_ms > self.end_ms:
            return
        inside = self.start_ms is None or deal.time_utc_ms >= self.start_ms
        operation = None if is_trading(deal) else Operation.of(deal)
        if inside and operation is not None:
            self.operations.append(operation)
            if operation.kind in EQUITY_FLOW_KINDS:
                self.equity_flow_times.append(deal.time_utc_ms)
                self.equity_flows.append(operation.amount)
        if not moves_balance(deal):
            return
        self.balance_known = True
        amount = deal_money(deal)
        if not inside:
            self.opening_balance += amount
            return
        self.times.append(deal.time_utc_ms)
        self.server_times.append(deal.time_msc)
        self.amounts.append(amount)
        self.flows.append(amount if operation is not None and operation.kind in FLOW_KINDS else 0.0)

    def balances(self) -> np.ndarray:
        """The balance before the first movement, then after each one."""
        return self.opening_balance + np.concatenate(([0.0], np.cumsum(self.amounts)))

    def step_flows(self) -> np.ndarray:
        return np.concatenate(([0.0], self.flows))

    def returns(self) -> np.ndarray:
        """The time-weighted return of each movement: a trading result over the balance before it, a flow 0."""
        return twr_returns(self.balances(), self.step_flows())

    def underwater(self) -> Underwater:
        opening_ms = self.start_ms if self.start_ms is not None else (self.times[0] if self.times else 0)
        times, flows = [opening_ms, *self.times], np.cumsum(self.step_flows())
        return Underwater.of(times, self.balances(), flows, self.returns())


@dataclass(frozen=True, slots=True)
class Drawdown:
    """One fall below a previous high: ``start`` is the high, ``recovery`` None while still below it."""

    start_ms: int
    bottom_ms: int
    recovery_ms: int | None
    depth: float
    depth_pct: float
    duration_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Underwater:
    """A curve with its flows taken out, measured against its running high."""

    times: np.ndarray
    depth: np.ndarray  # money below the high
    pct: np.ndarray  # depth as a fraction of what the account would hold without the fall

    @classmethod
    def of(
        cls,
        times: Sequence[int],
        values: Sequence[float],
        cumulative_flows: Sequence[float],
        step_returns: np.ndarray | None = None,
    ) -> Underwater:
        """Money depth on the flow-free curve; the percentage from the growth index of ``step_returns``
        when given (as empyrical and QuantStats define it, so a deposit inside a drawdown changes nothing)."""
        values_arr = np.asarray(values, dtype=float)
        performance = values_arr - np.asarray(cumulative_flows, dtype=float)
        depth = np.maximum.accumulate(performance) - performance
        if step_returns is None:
            base = values_arr + depth
            pct = np.divide(depth, base, out=np.zeros_like(depth), where=base > 0)
        else:
            pct = growth_drawdown(step_returns)
        return cls(np.asarray(times, dtype=np.int64), depth, pct)

    def episodes(self) -> tuple[np.ndarray, np.ndarray]:
        """First and last index of every stretch below the high (the high itself is the point before)."""
        under = self.depth > DEPTH_EPS
        before = np.concatenate(([False], under[:-1]))
        after = np.concatenate((under[1:], [False]))
        return np.flatnonzero(under & ~before), np.flatnonzero(under & ~after)

    def longest_s(self) -> float:
        """From a high to its recovery, or to the last point while still below it."""
        firsts, lasts = self.episodes()
        if len(firsts) == 0:
            return 0.0
        ends = np.minimum(lasts + 1, len(self.times) - 1)
        return float((self.times[ends] - self.times[firsts - 1]).max()) / 1000

    def deepest(self, count: int, digits: int) -> list[Drawdown]:
        firsts, lasts = self.episodes()
        if len(firsts) == 0:
            return []
        depths = np.maximum.reduceat(self.depth, firsts)
        found = []
        for k in np.argsort(-depths, kind="stable")[:count]:
            first, last = int(firsts[k]), int(lasts[k])
            bottom = first + int(np.argmax(self.depth[first : last + 1]))
            recovery = last + 1 if last + 1 < len(self.times) else None
            start = int(self.times[first - 1])
            end = int(self.times[recovery]) if recovery is not None else int(self.times[-1])
            found.append(
                Drawdown(
                    start_ms=start,
                    bottom_ms=int(self.times[bottom]),
                    recovery_ms=None if recovery is None else int(self.times[recovery]),
                    depth=cents(float(self.depth[bottom]), digits),
                    depth_pct=float(self.pct[bottom]),
                    duration_s=(end - start) / 1000,
                )
            )
        return found


def growth_drawdown(returns: np.ndarray) -> np.ndarray:
    """How far the growth index of ``returns`` (1 before the first) is below its running high, as a fraction."""
    growth = np.cumprod(np.concatenate(([1.0], 1.0 + returns)))
    return 1.0 - growth / np.maximum.accumulate(growth)


def twr_returns(values: np.ndarray, flows: np.ndarray) -> np.ndarray:
    """Return of each step between two points, a flow counted at the step's start: v1 / (v0 + flow) - 1.

    A step with no capital at risk has no return (0); a loss beyond the capital stops at -100 %.
    """
    base = values[:-1] + flows[1:]
    returns = np.divide(values[1:], base, out=np.ones_like(base), where=base > 0) - 1.0
    return np.maximum(returns, -1.0)


def equity_underwater(times: np.ndarray, equity: np.ndarray, ledger: Ledger) -> tuple[Underwater, np.ndarray]:
    """The equity curve's drawdown state and its step returns, with the equity's flows (credit included) taken
    out; flows before the first point are in its equity."""
    flow_times = np.asarray(ledger.equity_flow_times, dtype=np.int64)
    flow_sums = np.concatenate(([0.0], np.cumsum(ledger.equity_flows)))
    cumulative = flow_sums[np.searchsorted(flow_times, times, side="right")]
    if len(cumulative):
        cumulative = cumulative - cumulative[0]
    returns = twr_returns(equity, np.diff(cumulative, prepend=0.0))
    return Underwater.of(times, equity, cumulative, returns), returns


def daily_returns(times: np.ndarray, step_returns: np.ndarray, server_offset_s: BrokerZone | int) -> np.ndarray:
    """Day-to-day returns of the flow-free growth index, closed at broker-server midnight.

    As QuantStats does with an equity series: the last value of each day with points, then the
    change from one such day to the next (the first day is the base, not a return).
    """
    if len(times) == 0:
        return np.array([])
    days = as_zone(server_offset_s).to_server_array(times) // DAY_MS
    growth = pd.Series(np.cumprod(np.concatenate(([1.0], 1.0 + step_returns))), index=days)
    closes = growth.groupby(level=0).last().to_numpy()
    return np.divide(closes[1:], closes[:-1], out=np.ones(len(closes) - 1), where=closes[:-1] > 0) - 1.0


def sharpe(returns: np.ndarray, periods_per_year: int) -> float | None:
    """As empyrical: mean over sample standard deviation (ddof 1), times sqrt(periods per year)."""
    if len(returns) < 2:
        return None
    spread = float(np.std(returns, ddof=1))
    return None if spread <= 0 else float(np.mean(returns)) / spread * math.sqrt(periods_per_year)


def sortino(returns: np.ndarray, periods_per_year: int) -> float | None:
    """As empyrical: annualised mean over the downside deviation sqrt(mean(min(r, 0)²)) annualised."""
    if len(returns) < 2:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2))) * math.sqrt(periods_per_year)
    return None if downside <= 0 else float(np.mean(returns)) * periods_per_year / downside


def annual_return(returns: np.ndarray, periods_per_year: int) -> float | None:
    """As empyrical: the compounded growth raised to the years it took (len / periods per year)."""
    if len(returns) == 0:
        return None
    growth = float(np.prod(1.0 + returns))
    if growth <= 0:
        return -1.0
    try:
        return math.exp(math.log(growth) * periods_per_year / len(returns)) - 1.0
    except OverflowError:
        return None


def max_drawdown(returns: np.ndarray) -> float | None:
    """As empyrical's max_drawdown, as a positive fraction: the deepest fall of the growth index."""
    return float(growth_drawdown(returns).max()) if len(returns) else None


def risk_ratios(daily: np.ndarray, periods_per_year: int) -> tuple[dict[str, float | None], dict[str, str]]:
    """Sharpe, Sortino and Calmar of the daily returns, and why each one that is null is null."""
    if len(daily) < MIN_DAILY_RETURNS:
        return dict.fromkeys(RATIO_KEYS), dict.fromkeys(
            RATIO_KEYS, f"needs {MIN_DAILY_RETURNS} daily returns, has {len(daily)}"
        )
    annual, fall = annual_return(daily, periods_per_year), max_drawdown(daily)
    values = {
        "sharpe": sharpe(daily, periods_per_year),
        "sortino": sortino(daily, periods_per_year),
        "calmar": None if annual is None or not fall else annual / fall,
    }
    reasons = {
        "sharpe": "the daily returns do not vary",
        "sortino": "no daily loss",
        "calmar": "no drawdown on the daily closes" if not fall else "the annual return is out of range",
    }
    return values, {key: reasons[key] for key in RATIO_KEYS if values[key] is None}


def trades_frame(trades: Sequence[Trade]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records([t.to_dict() for t in trades], columns=TRADE_COLUMNS)
    return frame.astype({"net": float, "commission": float, "swap": float, "fee": float, "holding_s": float})


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 else numerator / denominator


def _streaks(nets: Sequence[float]) -> tuple[int, int]:
    """Longest runs of wins and of losses in closing order; a break-even trade ends both."""
    best_win = best_loss = win = loss = 0
    for net in nets:
        win = win + 1 if net > 0 else 0
        loss = loss + 1 if net < 0 else 0
        best_win, best_loss = max(best_win, win), max(best_loss, loss)
    return best_win, best_loss


def _json_safe(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _unknowns(points: int, daily: int, depth: float, balance_known: bool) -> dict[str, str]:
    """The drawdowns and gain the history cannot tell, and why: a 0 there would claim a flat curve."""
    notes: dict[str, str] = {}
    if points < MIN_EQUITY_POINTS:
        equity_keys = ("max_drawdown", "max_drawdown_pct", "max_drawdown_duration_s", "recovery_factor")
        notes.update(dict.fromkeys(equity_keys, f"needs {MIN_EQUITY_POINTS} equity points in the range, has {points}"))
    elif not depth:
        notes["recovery_factor"] = "no equity drawdown in the range"
    if daily == 0:
        notes["max_drawdown_daily_pct"] = "needs 1 daily return, has 0"
    if not balance_known:
        balance_keys = ("balance_max_drawdown", "balance_max_drawdown_pct", "gain_pct_twr")
        notes.update(dict.fromkeys(balance_keys, "no deal up to the range end moves the balance"))
    return notes


def statistics(
    trades: Sequence[Trade],
    ledger: Ledger,
    equity_times: np.ndarray,
    equity: np.ndarray,
    *,
    server_offset_s: BrokerZone | int = 0,
    periods_per_year: int = 260,
    digits: int = 2,
) -> dict[str, Any]:
    """Every key of ``STAT_KEYS`` for the trades closed in the range, its ledger and its equity history, then
    ``NOTES``: why each null statistic that has a reason to be null is null.

    ``equity_times`` (UTC ms) and ``equity`` are the history points inside the range, oldest first.
    """
    frame = trades_frame(trades)
    nets = frame["net"]
    wins, losses = nets[nets > 0], nets[nets < 0]
    longs, shorts = nets[frame["direction"] == "buy"], nets[frame["direction"] == "sell"]
    count = len(frame)
    gross_profit, gross_loss = float(wins.sum()), float(losses.sum())
    most_wins, most_losses = _streaks(nets.tolist())

    kinds = pd.Series([op.kind for op in ledger.operations], dtype=object)
    amounts = pd.Series([op.amount for op in ledger.operations], dtype=float)
    deposits = float(amounts[kinds == "deposit"].sum())
    withdrawals = float(amounts[kinds == "withdrawal"].sum())
    operation_commission = float(amounts[kinds == "commission"].sum())
    # charges, corrections, interest, dividends, tax: performance that is no trade, booked as fee
    operation_fee = float(amounts[~kinds.isin([*FLOW_KINDS, *OFF_BALANCE_KINDS, "commission"])].sum())
    net_profit = float(nets.sum()) + operation_commission + operation_fee

    underwater, steps = equity_underwater(equity_times, equity, ledger)
    points = len(underwater.times)
    max_drawdown_money = float(underwater.depth.max(initial=0.0))
    daily = daily_returns(underwater.times, steps, server_offset_s)
    ratios, notes = risk_ratios(daily, periods_per_year)
    notes.update(_unknowns(points, len(daily), max_drawdown_money, ledger.balance_known))

    balance_under = ledger.underwater()
    growth = float(np.prod(1.0 + ledger.returns()))
    capital = ledger.opening_balance + sum(f for f in ledger.flows if f > 0)
    holding = frame["holding_s"].dropna()

    money = {
        "net_profit": net_profit,
        "gross_profit": gross_profit,
        "gross_loss": gross_loss,
        "expected_payoff": _ratio(float(nets.sum()), count),
        "avg_win": _ratio(gross_profit, len(wins)),
        "avg_loss": _ratio(gross_loss, len(losses)),
        "largest_win": float(wins.max()) if len(wins) else None,
        "largest_loss": float(losses.min()) if len(losses) else None,
        "deposits": deposits,
        "withdrawals": withdrawals,
        "commission": float(frame["commission"].sum()) + operation_commission,
        "swap": float(frame["swap"].sum()),
        "fee": float(frame["fee"].sum()) + operation_fee,
        "max_drawdown": max_drawdown_money,
        "balance_max_drawdown": float(balance_under.depth.max()),
    }
    result: dict[str, Any] = {key: None if value is None else cents(value, digits) for key, value in money.items()}
    result.update(
        ratios,
        profit_factor=_ratio(gross_profit, -gross_loss),
        trades=count,
        win_rate=_ratio(len(wins), count),
        max_consecutive_wins=most_wins,
        max_consecutive_losses=most_losses,
        long_trades=len(longs),
        long_win_rate=_ratio(int((longs > 0).sum()), len(longs)),
        short_trades=len(shorts),
        short_win_rate=_ratio(int((shorts > 0).sum()), len(shorts)),
        max_drawdown_pct=float(underwater.pct.max(initial=0.0)),
        max_drawdown_duration_s=underwater.longest_s(),
        max_drawdown_daily_pct=max_drawdown(daily),
        recovery_factor=_ratio(net_profit, max_drawdown_money),
        gain_pct_twr=growth - 1.0,
        gain_pct_absolute=_ratio(net_profit, capital) if capital > 0 else None,
        avg_holding_s=float(holding.mean()) if len(holding) else None,
        balance_max_drawdown_pct=float(balance_under.pct.max()),
    )
    result.update(dict.fromkeys(notes))  # a statistic with a reason to be unknown is null
    return {**{key: _json_safe(result[key]) for key in STAT_KEYS}, NOTES: notes}
