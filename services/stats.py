"""Performance statistics for a date range, the numbers traders compare (MT5 report, Myfxbook, QuantStats).

Deposits, withdrawals and bonuses are cash flows, not performance. Gains chain the returns of
the periods between flows (time-weighted), and drawdowns are measured on the curve with the
flows taken out, so a withdrawal is never a loss. Conventions of the result:

- money in the account currency, rounded to its digits; rates as fractions (0.55);
- losses, gross loss and withdrawals are negative, drawdown depths are positive;
- undefined values (no trades, no losses, too little history) are None, so it is valid JSON.

Trades count in the range they closed in. Drawdowns, Sharpe, Sortino and Calmar use the equity
history (floating P/L included); the TWR gain, the monthly returns and the balance drawdown use
the balance rebuilt from the deals, which reaches back further than the equity history.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from services.models import Deal
from services.trades import (
    EQUITY_FLOW_KINDS,
    FLOW_KINDS,
    OFF_BALANCE_KINDS,
    Operation,
    Trade,
    cents,
    deal_money,
    is_trading,
    moves_balance,
)

STAT_KEYS = (
    "net_profit", "gross_profit", "gross_loss", "profit_factor", "expected_payoff", "trades", "win_rate",
    "avg_win", "avg_loss", "largest_win", "largest_loss", "max_consecutive_wins", "max_consecutive_losses",
    "long_trades", "long_win_rate", "short_trades", "short_win_rate", "deposits", "withdrawals", "commission",
    "swap", "fee", "max_drawdown", "max_drawdown_pct", "max_drawdown_duration_s", "recovery_factor", "sharpe",
    "sortino", "calmar", "gain_pct_twr", "gain_pct_absolute", "avg_holding_s", "balance_max_drawdown",
    "balance_max_drawdown_pct",
)  # fmt: skip
TRADE_COLUMNS = tuple(Trade.__dataclass_fields__)
DAY_MS = 86_400_000
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
            growth = np.cumprod(np.concatenate(([1.0], 1.0 + step_returns)))
            pct = 1.0 - growth / np.maximum.accumulate(growth)
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


def daily_returns(times: np.ndarray, step_returns: np.ndarray, server_offset_s: int) -> np.ndarray:
    """Day-to-day returns of the flow-free growth index, closed at broker-server midnight.

    As QuantStats does with an equity series: the last value of each day with points, then the
    change from one such day to the next (the first day is the base, not a return).
    """
    if len(times) == 0:
        return np.array([])
    growth = pd.Series(
        np.cumprod(np.concatenate(([1.0], 1.0 + step_returns))), index=(times + server_offset_s * 1000) // DAY_MS
    )
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


def statistics(
    trades: Sequence[Trade],
    ledger: Ledger,
    equity_times: np.ndarray,
    equity: np.ndarray,
    *,
    server_offset_s: int = 0,
    periods_per_year: int = 260,
    digits: int = 2,
) -> dict[str, Any]:
    """Every key of ``STAT_KEYS`` for the trades closed in the range, its ledger and its equity history.

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
    has_equity = len(underwater.times) > 0
    max_drawdown = float(underwater.depth.max()) if has_equity else None
    max_drawdown_pct = float(underwater.pct.max()) if has_equity else None
    daily = daily_returns(underwater.times, steps, server_offset_s)
    annual = annual_return(daily, periods_per_year)

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
        "max_drawdown": max_drawdown,
        "balance_max_drawdown": float(balance_under.depth.max()),
    }
    result: dict[str, Any] = {key: None if value is None else cents(value, digits) for key, value in money.items()}
    result.update(
        profit_factor=_ratio(gross_profit, -gross_loss),
        trades=count,
        win_rate=_ratio(len(wins), count),
        max_consecutive_wins=most_wins,
        max_consecutive_losses=most_losses,
        long_trades=len(longs),
        long_win_rate=_ratio(int((longs > 0).sum()), len(longs)),
        short_trades=len(shorts),
        short_win_rate=_ratio(int((shorts > 0).sum()), len(shorts)),
        max_drawdown_pct=max_drawdown_pct,
        max_drawdown_duration_s=underwater.longest_s() if has_equity else None,
        recovery_factor=None if not max_drawdown else net_profit / max_drawdown,
        sharpe=sharpe(daily, periods_per_year),
        sortino=sortino(daily, periods_per_year),
        calmar=None if annual is None or not max_drawdown_pct else annual / max_drawdown_pct,
        gain_pct_twr=growth - 1.0,
        gain_pct_absolute=_ratio(net_profit, capital) if capital > 0 else None,
        avg_holding_s=float(holding.mean()) if len(holding) else None,
        balance_max_drawdown_pct=float(balance_under.pct.max()),
    )
    return {key: _json_safe(result[key]) for key in STAT_KEYS}
