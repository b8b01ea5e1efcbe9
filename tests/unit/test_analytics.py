"""Trades, the balance check and the statistics on hand-built deal lists with answers worked out by hand.

Sharpe, Sortino, Calmar and drawdown are checked against the published formulas (as in
empyrical / QuantStats) written out again here, not against the module's own helpers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pytest

from services.analytics.period import by_hour, by_weekday, collect, monthly_returns, result_histogram
from services.analytics.stats import STAT_KEYS, Ledger, equity_underwater, statistics, trades_frame
from services.analytics.trades import Trade, TradeBuilder, reconcile
from services.core.models import (
    DEAL_ENTRY_IN,
    DEAL_ENTRY_INOUT,
    DEAL_ENTRY_OUT,
    DEAL_ENTRY_OUT_BY,
    DEAL_TYPE_BALANCE,
    DEAL_TYPE_BUY,
    DEAL_TYPE_SELL,
    Deal,
)
from services.core.units import DAY_S, HOUR_S

OFFSET_S = 7200
T0 = 1_780_000_000  # UTC seconds, a Thursday
HOUR, DAY = HOUR_S, DAY_S
CREDIT, CHARGE, COMMISSION, TAX = 3, 4, 7, 17


def build_trades(deals: Iterable[Deal], digits: int = 2) -> Iterator[Trade]:
    """Every round trip the deals close, as the app's ``TradeBuilder`` builds them from a stream."""
    builder = TradeBuilder(digits)
    for deal in deals:
        yield from builder.feed(deal)


def make_deal(ticket: int, t_s: float, type_: int, entry: int = DEAL_ENTRY_IN, **fields: Any) -> Deal:
    time_msc = int(t_s * 1000) + OFFSET_S * 1000
    record = {
        "ticket": ticket,
        "order": ticket + 1000,
        "time": time_msc // 1000,
        "time_msc": time_msc,
        "type": type_,
        "entry": entry,
        "magic": 0,
        "position_id": 0,
        "reason": 0,
        "volume": 0.0,
        "price": 0.0,
        "commission": 0.0,
        "swap": 0.0,
        "profit": 0.0,
        "fee": 0.0,
        "symbol": "",
        "comment": "",
        "external_id": "",
    }
    record.update(fields)
    return Deal.from_mt5(record, OFFSET_S)


def deposit(ticket: int, t_s: float, amount: float) -> Deal:
    return make_deal(ticket, t_s, DEAL_TYPE_BALANCE, profit=amount, comment="Deposit")


def trade_deals(
    ticket: int, position: int, t_open: float, t_close: float, net: float, side: int = DEAL_TYPE_BUY, **close: Any
) -> list[Deal]:
    """A round trip of 0.1 lot with no costs whose profit is ``net``."""
    other = DEAL_TYPE_SELL if side == DEAL_TYPE_BUY else DEAL_TYPE_BUY
    common = {"position_id": position, "volume": 0.1, "symbol": "EURUSD"}
    return [
        make_deal(ticket, t_open, side, DEAL_ENTRY_IN, price=1.1, **common),
        make_deal(ticket + 1, t_close, other, DEAL_ENTRY_OUT, price=1.1, profit=net, **{**common, **close}),
    ]


def stats_of(deals: list[Deal], equity: list[tuple[float, float]] | None = None, **kwargs: Any) -> dict[str, Any]:
    start_ms, end_ms = kwargs.pop("start_ms", None), kwargs.pop("end_ms", None)
    trades, ledger, _ = collect(deals, start_ms, end_ms, 2)
    times = np.array([int(t * 1000) for t, _ in equity or []], dtype=np.int64)
    values = np.array([v for _, v in equity or []], dtype=float)
    return statistics(trades, ledger, times, values, server_offset_s=OFFSET_S, **kwargs)


# ----- trades from deals -----


def test_partial_closes_make_one_trade_with_volume_weighted_close_and_all_its_money() -> None:
    common = {"position_id": 11, "symbol": "EURUSD"}
    deals = [
        make_deal(1, T0, DEAL_TYPE_BUY, DEAL_ENTRY_IN, volume=1.0, price=1.1000, commission=-7.0, **common),
        make_deal(2, T0 + HOUR, DEAL_TYPE_SELL, DEAL_ENTRY_OUT, volume=0.4, price=1.1050, profit=200.0,
                  commission=-2.8, swap=-1.0, **common),
        make_deal(3, T0 + 2 * HOUR, DEAL_TYPE_SELL, DEAL_ENTRY_OUT, volume=0.6, price=1.1100, profit=600.0,
                  commission=-4.2, swap=-1.5, fee=-0.3, reason=5, **common),
    ]  # fmt: skip
    builder = TradeBuilder()
    assert builder.feed(deals[0]) == [] and builder.feed(deals[1]) == []
    assert builder.open_positions == 1, "0.6 lot is still open after the first partial close"
    (trade,) = builder.feed(deals[2])
    assert builder.open_positions == 0
    assert (trade.position_id, trade.direction, trade.volume) == (11, "buy", 1.0)
    assert trade.open_price == 1.1 and trade.close_price == pytest.approx(0.4 * 1.105 + 0.6 * 1.11)
    assert (trade.profit, trade.commission, trade.swap, trade.fee) == (800.0, -14.0, -2.5, -0.3)
    assert trade.net == 783.2
    assert trade.holding_s == 2 * HOUR and trade.close_reason == "tp"
    assert trade.open_time_utc_ms == T0 * 1000 and trade.open_time_msc == (T0 + OFFSET_S) * 1000
    assert trade.close_time_utc_ms == (T0 + 2 * HOUR) * 1000


def test_reversal_closes_the_old_side_and_opens_the_rest_with_commission_split_to_the_cent() -> None:
    common = {"position_id": 21, "symbol": "GBPUSD"}
    deals = [
        make_deal(1, T0, DEAL_TYPE_BUY, DEAL_ENTRY_IN, volume=1.0, price=1.2000, commission=-7.0, **common),
        make_deal(2, T0 + HOUR, DEAL_TYPE_SELL, DEAL_ENTRY_INOUT, volume=3.0, price=1.1900, profit=-1000.0,
                  commission=-10.0, swap=-0.5, **common),
        make_deal(3, T0 + 3 * HOUR, DEAL_TYPE_BUY, DEAL_ENTRY_OUT, volume=2.0, price=1.1800, profit=2000.0,
                  commission=-14.0, **common),
    ]  # fmt: skip
    first, second = build_trades(deals)
    assert (first.direction, first.volume, first.open_price, first.close_price) == ("buy", 1.0, 1.2, 1.19)
    # a third of the reversal deal's -10.00 commission closes the buy (-3.33), the rest (-6.67) opens the sell
    assert (first.profit, first.commission, first.swap, first.net) == (-1000.0, -10.33, -0.5, -1010.83)
    assert first.close_reason == "reversal"
    assert (second.direction, second.volume, second.open_price, second.close_price) == ("sell", 2.0, 1.19, 1.18)
    assert (second.profit, second.commission, second.net) == (2000.0, -20.67, 1979.33)
    assert second.open_time_utc_ms == (T0 + HOUR) * 1000 and second.holding_s == 2 * HOUR
    assert first.commission + second.commission == pytest.approx(-31.0, abs=1e-9)


def test_close_by_closes_both_positions_by_the_smaller_volume() -> None:
    buy = {"position_id": 31, "symbol": "EURUSD"}
    sell = {"position_id": 32, "symbol": "EURUSD"}
    deals = [
        make_deal(1, T0, DEAL_TYPE_BUY, DEAL_ENTRY_IN, volume=1.0, price=1.1000, commission=-3.5, **buy),
        make_deal(2, T0 + HOUR, DEAL_TYPE_SELL, DEAL_ENTRY_IN, volume=0.5, price=1.1100, commission=-1.75, **sell),
        make_deal(3, T0 + 2 * HOUR, DEAL_TYPE_SELL, DEAL_ENTRY_OUT_BY, volume=0.5, price=1.1100, profit=50.0, **buy),
        make_deal(4, T0 + 2 * HOUR, DEAL_TYPE_BUY, DEAL_ENTRY_OUT_BY, volume=0.5, price=1.1100, **sell),
        make_deal(5, T0 + 4 * HOUR, DEAL_TYPE_SELL, DEAL_ENTRY_OUT, volume=0.5, price=1.1200, profit=100.0,
                  commission=-1.75, **buy),
    ]  # fmt: skip
    closed_by, rest = build_trades(deals)
    assert (closed_by.position_id, closed_by.direction, closed_by.volume, closed_by.net) == (32, "sell", 0.5, -1.75)
    assert closed_by.close_reason == "close_by" and closed_by.close_price == 1.11
    assert (rest.position_id, rest.volume, rest.profit, rest.commission, rest.net) == (31, 1.0, 150.0, -5.25, 144.75)
    assert rest.close_price == pytest.approx((0.5 * 1.11 + 0.5 * 1.12) / 1.0)


def test_a_close_without_its_opening_deal_still_counts_with_an_unknown_opening() -> None:
    (trade,) = build_trades(
        [make_deal(1, T0, DEAL_TYPE_SELL, DEAL_ENTRY_OUT, position_id=7, volume=0.2, price=1.3, profit=12.5)]
    )
    assert (trade.direction, trade.open_time_utc_ms, trade.open_price, trade.holding_s) == ("buy", None, None, None)
    assert trade.net == 12.5


# ----- money: deposits, costs, the balance check -----


def test_deposits_and_withdrawals_are_not_performance() -> None:
    deals = [
        deposit(1, T0, 10_000.0),
        *trade_deals(2, 2, T0 + HOUR, T0 + 2 * HOUR, 100.0),
        make_deal(4, T0 + 3 * HOUR, DEAL_TYPE_BALANCE, profit=-5_000.0, comment="Withdrawal"),
        *trade_deals(5, 5, T0 + 4 * HOUR, T0 + 5 * HOUR, -50.0),
    ]
    stats = stats_of(deals)
    assert (stats["deposits"], stats["withdrawals"], stats["net_profit"], stats["trades"]) == (
        10_000.0,
        -5_000.0,
        50.0,
        2,
    )
    assert stats["gain_pct_absolute"] == pytest.approx(50 / 10_000)
    assert stats["gain_pct_twr"] == pytest.approx((10_100 / 10_000) * (5_050 / 5_100) - 1)
    assert stats["balance_max_drawdown"] == 50.0, "the withdrawal is not a drawdown"
    assert stats["balance_max_drawdown_pct"] == pytest.approx(50 / 5_100)


def test_commission_swap_and_fee_sum_to_the_cent_and_make_up_net_profit() -> None:
    deals = [deposit(1, T0, 1_000.0)]
    for k in range(30):  # amounts that do not add up exactly in binary floating point
        t = T0 + (k + 1) * HOUR
        common = {"position_id": 100 + k, "symbol": "EURUSD", "volume": 0.01, "price": 1.1}
        deals += [
            make_deal(10 + 2 * k, t, DEAL_TYPE_BUY, DEAL_ENTRY_IN, commission=-0.07, **common),
            make_deal(11 + 2 * k, t + 60, DEAL_TYPE_SELL, DEAL_ENTRY_OUT, profit=0.1 * (k % 5 - 2),
                      commission=-0.07, swap=-0.01 * (k % 3), fee=-0.03, **common),
        ]  # fmt: skip
    deals += [
        make_deal(200, T0 + 40 * HOUR, COMMISSION, profit=-1.1, comment="monthly commission"),
        make_deal(201, T0 + 41 * HOUR, CHARGE, profit=-0.2),
        make_deal(202, T0 + 42 * HOUR, TAX, profit=-0.15),
    ]
    stats = stats_of(deals)
    assert stats["commission"] == round(30 * -0.14 - 1.1, 2) == -5.3
    assert stats["swap"] == round(sum(-0.01 * (k % 3) for k in range(30)), 2) == -0.3
    assert stats["fee"] == round(30 * -0.03 - 0.2 - 0.15, 2) == -1.25
    profit = round(sum(0.1 * (k % 5 - 2) for k in range(30)), 2)
    assert stats["net_profit"] == round(profit + stats["commission"] + stats["swap"] + stats["fee"], 2)
    assert stats["net_profit"] == round(sum(d.profit + d.commission + d.swap + d.fee for d in deals[1:]), 2)
    assert reconcile(deals, 1_000.0 + stats["net_profit"]).ok


def test_reconciliation_reports_the_missing_amount_and_ignores_credit() -> None:
    deals = [
        deposit(1, T0, 10_000.0),
        *trade_deals(2, 2, T0 + HOUR, T0 + 2 * HOUR, 100.0),
        make_deal(4, T0 + 3 * HOUR, CREDIT, profit=500.0, comment="credit line"),
    ]
    assert reconcile(deals, 10_100.0).ok
    assert reconcile(deals, 10_100.004).ok, "less than half a cent is rounding, not a gap"
    check = reconcile(deals, 10_150.0)
    assert not check.ok
    assert (check.expected_balance, check.balance, check.mismatch, check.deals) == (10_100.0, 10_150.0, 50.0, 4)
    warning = check.warning("USD", 2)
    assert warning is not None and "+$50.00" in warning and "$10,100.00" in warning
    assert reconcile(deals, 10_050.0, opening_balance=-50.0).ok
    assert reconcile(deals, 10_000.0, digits=0).mismatch == -100.0


# ----- statistics -----


def test_consecutive_wins_and_losses_in_closing_order_with_break_even_ending_both() -> None:
    nets = [5.0, 7.0, -1.0, -2.0, -3.0, 4.0, 0.0, 6.0, 1.0, 2.0]
    deals = [deposit(1, T0, 1_000.0)]
    for k, net in enumerate(nets):
        side = DEAL_TYPE_BUY if k % 2 == 0 else DEAL_TYPE_SELL
        deals += trade_deals(10 + 2 * k, 10 + k, T0 + k * HOUR, T0 + k * HOUR + 60, net, side=side)
    stats = stats_of(deals)
    assert (stats["max_consecutive_wins"], stats["max_consecutive_losses"]) == (3, 3)
    assert stats["trades"] == 10 and stats["win_rate"] == 0.6
    assert (stats["gross_profit"], stats["gross_loss"]) == (25.0, -6.0)
    assert stats["profit_factor"] == pytest.approx(25 / 6)
    assert (stats["avg_win"], stats["avg_loss"]) == (round(25 / 6, 2), -2.0)
    assert (stats["largest_win"], stats["largest_loss"], stats["expected_payoff"]) == (7.0, -3.0, 1.9)
    assert (stats["long_trades"], stats["short_trades"]) == (5, 5)
    assert stats["long_win_rate"] == 0.4 and stats["short_win_rate"] == 0.8
    assert stats["avg_holding_s"] == 60.0


def test_drawdown_on_a_known_equity_curve() -> None:
    curve = [(T0, 1000.0), (T0 + 60, 1100.0), (T0 + 120, 990.0), (T0 + 180, 1050.0), (T0 + 240, 1120.0),
             (T0 + 300, 1064.0)]  # fmt: skip
    stats = stats_of([deposit(1, T0 - DAY, 1000.0), *trade_deals(2, 2, T0 + 10, T0 + 290, 55.0)], curve)
    values = np.array([v for _, v in curve])
    expected_pct = float(np.max(1 - values / np.maximum.accumulate(values)))  # empyrical's max drawdown
    assert stats["max_drawdown"] == 110.0
    assert stats["max_drawdown_pct"] == pytest.approx(expected_pct) == pytest.approx(0.1)
    assert stats["max_drawdown_duration_s"] == 180.0, "from the 1100 high to its recovery at 1120"
    times = np.array([int(t * 1000) for t, _ in curve])
    underwater, _ = equity_underwater(times, values, Ledger())
    first, second = (d.to_dict() for d in underwater.deepest(5, 2))
    assert first == {"start_ms": (T0 + 60) * 1000, "bottom_ms": (T0 + 120) * 1000, "recovery_ms": (T0 + 240) * 1000,
                     "depth": 110.0, "depth_pct": pytest.approx(0.1), "duration_s": 180.0}  # fmt: skip
    assert second["recovery_ms"] is None and second["depth"] == 56.0 and second["depth_pct"] == pytest.approx(0.05)
    assert stats["recovery_factor"] == pytest.approx(55 / 110)


def test_a_withdrawal_on_the_equity_curve_is_not_a_drawdown() -> None:
    deals = [deposit(1, T0 - DAY, 1000.0), make_deal(2, T0 + 90, DEAL_TYPE_BALANCE, profit=-500.0)]
    stats = stats_of(deals, [(T0, 1000.0), (T0 + 60, 1010.0), (T0 + 120, 510.0), (T0 + 180, 505.0)])
    assert stats["max_drawdown"] == 5.0
    assert stats["max_drawdown_pct"] == pytest.approx(5 / 510)
    assert stats["withdrawals"] == -500.0


def test_credit_given_and_taken_back_moves_equity_but_is_no_gain_and_no_drawdown() -> None:
    """Equity includes credit: 1,000 of balance, +500 credit, then the credit is taken back; no trading at all."""
    deals = [
        deposit(1, T0 - DAY, 1_000.0),
        make_deal(2, T0 + 90, CREDIT, profit=500.0, comment="credit in"),
        make_deal(3, T0 + 210, CREDIT, profit=-500.0, comment="credit out"),
    ]
    curve = [(T0, 1_000.0), (T0 + 120, 1_500.0), (T0 + 180, 1_490.0), (T0 + 240, 990.0), (T0 + 300, 1_000.0)]
    stats = stats_of(deals, curve)
    assert stats["max_drawdown"] == 10.0, "the 10 lost with the credit in, not the 500 taken back"
    assert stats["max_drawdown_pct"] == pytest.approx(10 / 1_500)
    assert (stats["net_profit"], stats["deposits"], stats["withdrawals"], stats["fee"]) == (0.0, 1_000.0, 0.0, 0.0)
    ledger = collect(deals, None, None, 2)[1]
    times = np.array([int(t * 1000) for t, _ in curve])
    _, steps = equity_underwater(times, np.array([v for _, v in curve]), ledger)
    expected = [0.0, 1_490 / 1_500 - 1, 990 / (1_490 - 500) - 1, 1_000 / 990 - 1]
    assert steps.tolist() == pytest.approx(expected, abs=1e-12)


def test_time_weighted_gain_with_a_deposit_in_the_middle() -> None:
    deals = [
        deposit(1, T0, 1_000.0),
        *trade_deals(2, 2, T0 + HOUR, T0 + 2 * HOUR, 100.0),  # +10 % on 1,000
        deposit(4, T0 + 3 * HOUR, 1_100.0),
        *trade_deals(5, 5, T0 + 4 * HOUR, T0 + 5 * HOUR, 220.0),  # +10 % on 2,200
    ]
    stats = stats_of(deals)
    assert stats["gain_pct_twr"] == pytest.approx(1.1 * 1.1 - 1)
    assert stats["gain_pct_absolute"] == pytest.approx(320 / 2_100)
    assert stats["deposits"] == 2_100.0
    equity = [(T0 + 30 * 60, 1_000.0), (T0 + 2 * HOUR, 1_100.0), (T0 + 3.5 * HOUR, 2_200.0), (T0 + 5 * HOUR, 2_420.0)]
    ledger = collect(deals, None, None, 2)[1]
    times = np.array([int(t * 1000) for t, _ in equity])
    _, steps = equity_underwater(times, np.array([v for _, v in equity]), ledger)
    assert float(np.prod(1 + steps)) - 1 == pytest.approx(0.21), "the equity curve chains the same way"


DAY0 = T0 - T0 % DAY  # UTC midnight; every time below is before 22:00 UTC, so on the same broker day (UTC+2)
BALANCE_FLOWS = (0.0, 0.0, 5_000.0, 0.0, -3_000.0, 0.0, 0.0, 0.0, 0.0)  # deposits/withdrawals since the day before
SCRIPTED_NETS = [194.2, -1028.0, 482.5, -2682.0, 286.0, -87.9, 436.0]


def at(day: int, hour: int) -> int:
    return DAY0 + day * DAY + hour * HOUR


def round_trip(
    ticket: int, day: int, side: int, symbol: str, profit: float, commission: float, swap: float = 0.0
) -> list[Deal]:
    """Opened at 09:00 and closed at 15:00 of ``day``, commission charged on both deals."""
    other = DEAL_TYPE_SELL if side == DEAL_TYPE_BUY else DEAL_TYPE_BUY
    common = {"position_id": ticket, "symbol": symbol, "volume": 1.0, "price": 1.0}
    return [
        make_deal(ticket, at(day, 9), side, DEAL_ENTRY_IN, commission=commission, **common),
        make_deal(ticket + 1, at(day, 15), other, DEAL_ENTRY_OUT, profit=profit, commission=commission, swap=swap,
                  **common),
    ]  # fmt: skip


def scripted_history() -> tuple[list[Deal], list[tuple[float, float]]]:
    """Nine broker days with two deposits, a withdrawal, a partial close, a reversal, commissions, swaps and a
    stop-out; with one equity point a day at 22:00 broker time: the balance then plus the floating P/L."""
    eur = {"position_id": 1, "symbol": "EURUSD"}
    gbp = {"position_id": 2, "symbol": "GBPUSD"}
    gold = {"position_id": 3, "symbol": "XAUUSD"}
    deals = [
        deposit(1, at(0, 8), 10_000.0),
        make_deal(2, at(0, 9), DEAL_TYPE_BUY, DEAL_ENTRY_IN, volume=1.0, price=1.1, commission=-7.0, **eur),
        make_deal(3, at(0, 14), DEAL_TYPE_SELL, DEAL_ENTRY_OUT, volume=0.4, price=1.103, profit=120.0,
                  commission=-2.8, **eur),  # partial close
        make_deal(4, at(1, 11), DEAL_TYPE_SELL, DEAL_ENTRY_OUT, volume=0.6, price=1.1015, profit=90.0,
                  commission=-4.2, swap=-1.8, **eur),
        make_deal(5, at(1, 13), DEAL_TYPE_BUY, DEAL_ENTRY_IN, volume=2.0, price=1.27, commission=-14.0, **gbp),
        deposit(6, at(2, 8), 5_000.0),  # inside the drawdown that began on day 0
        make_deal(7, at(2, 14), DEAL_TYPE_SELL, DEAL_ENTRY_INOUT, volume=3.0, price=1.265, profit=-1000.0,
                  commission=-21.0, **gbp),  # reversal: closes the 2.0 buy, opens a 1.0 sell
        make_deal(8, at(3, 10), DEAL_TYPE_BUY, DEAL_ENTRY_OUT, volume=1.0, price=1.26, profit=500.0,
                  commission=-7.0, swap=-3.5, **gbp),
        make_deal(9, at(4, 8), DEAL_TYPE_BALANCE, profit=-3_000.0, comment="Withdrawal"),
        make_deal(10, at(4, 9), DEAL_TYPE_SELL, DEAL_ENTRY_IN, volume=5.0, price=2300.0, commission=-35.0, **gold),
        make_deal(11, at(5, 6), DEAL_TYPE_BUY, DEAL_ENTRY_OUT, volume=5.0, price=2305.2, profit=-2600.0,
                  commission=-35.0, swap=-12.0, reason=6, comment="so 45.2%", **gold),  # stop-out
        *round_trip(20, 6, DEAL_TYPE_BUY, "EURUSD", 300.0, -7.0),
        *round_trip(22, 7, DEAL_TYPE_SELL, "USDJPY", -80.0, -3.5, swap=-0.9),
        *round_trip(24, 8, DEAL_TYPE_BUY, "EURUSD", 450.0, -7.0),
    ]  # fmt: skip
    # balance at 22:00 + floating P/L: +60 (0.6 EURUSD), -180 (2.0 GBPUSD), +150 (1.0 GBPUSD sell), -1200 (gold)
    equity = [10_110.2 + 60, 10_180.2 - 180, 14_159.2 + 150, 14_648.7, 11_613.7 - 1200, 8_966.7, 9_252.7, 9_164.8,
              9_600.8]  # fmt: skip
    return deals, [(at(day, 20), value) for day, value in enumerate(equity)]


def daily_returns_by_hand(curve: list[tuple[float, float]]) -> np.ndarray:
    """Daily time-weighted returns with each day's flow counted at its start: E_t / (E_t-1 + F_t) - 1."""
    equity = np.array([value for _, value in curve])
    return equity[1:] / (equity[:-1] + np.array(BALANCE_FLOWS[1:])) - 1


def test_a_scripted_history_gives_the_hand_computed_statistics() -> None:
    deals, curve = scripted_history()
    trades = list(build_trades(deals))
    assert [t.net for t in trades] == SCRIPTED_NETS
    assert [t.close_reason for t in trades][1:4] == ["reversal", "client", "so"]
    assert (trades[0].volume, trades[0].commission, trades[1].commission, trades[2].commission) == (
        1.0, -14.0, -28.0, -14.0,
    )  # fmt: skip
    assert reconcile(deals, 9_600.8).ok, "the balance the account would report"

    stats = stats_of(deals, curve, periods_per_year=252)
    assert (stats["trades"], stats["net_profit"]) == (7, round(sum(SCRIPTED_NETS), 2)) == (7, -2_399.2)
    assert (stats["gross_profit"], stats["gross_loss"]) == (1_398.7, -3_797.9)
    assert stats["profit_factor"] == pytest.approx(1_398.7 / 3_797.9)
    assert (stats["deposits"], stats["withdrawals"], stats["commission"], stats["swap"]) == (
        15_000.0, -3_000.0, -161.0, -18.2,
    )  # fmt: skip
    assert (stats["largest_win"], stats["largest_loss"]) == (482.5, -2_682.0), "the stop-out is the largest loss"
    assert (stats["long_trades"], stats["long_win_rate"], stats["short_trades"]) == (4, 0.75, 3)
    assert stats["short_win_rate"] == pytest.approx(1 / 3) and stats["win_rate"] == pytest.approx(4 / 7)
    assert (stats["max_consecutive_wins"], stats["max_consecutive_losses"]) == (1, 1)
    twr = (10_180.2 / 10_000) * (14_648.7 / 15_180.2) * (9_600.8 / 11_648.7) - 1  # between the flows
    assert stats["gain_pct_twr"] == pytest.approx(twr)
    assert stats["gain_pct_absolute"] == pytest.approx(-2_399.2 / 15_000)

    # the drawdown in money, on equity with the flows taken out: 10,170.20 on day 0 down to 6,966.70 on day 5
    performance = np.array([value for _, value in curve]) - np.cumsum(BALANCE_FLOWS)
    depth = float(np.max(np.maximum.accumulate(performance) - performance))
    assert stats["max_drawdown"] == round(depth, 2) == 3_203.5
    assert stats["max_drawdown_duration_s"] == 8 * DAY, "from the day-0 high, never recovered"
    assert stats["recovery_factor"] == pytest.approx(-2_399.2 / 3_203.5)
    assert stats["balance_max_drawdown"] == 3_234.5, "194.20 above the deposits down to 3,040.30 below"


def test_the_scripted_history_has_empyricals_drawdown_and_too_few_days_for_ratios() -> None:
    deals, curve = scripted_history()
    stats = stats_of(deals, curve, periods_per_year=252)
    r = daily_returns_by_hand(curve)
    growth = np.concatenate(([1.0], np.cumprod(1 + r)))  # empyrical.max_drawdown starts from the first value
    max_drawdown = float(np.max(1 - growth / np.maximum.accumulate(growth)))
    assert stats["max_drawdown_daily_pct"] == pytest.approx(max_drawdown, abs=1e-12)
    assert stats["max_drawdown_pct"] == pytest.approx(max_drawdown, abs=1e-12), "one point a day: the same fall"
    for key in ("sharpe", "sortino", "calmar"):
        assert stats[key] is None and stats["notes"][key] == "needs 20 daily returns, has 8", key


def test_the_range_counts_trades_by_close_and_keeps_their_opening_commission() -> None:
    common = {"position_id": 9, "symbol": "EURUSD", "volume": 0.1, "price": 1.1}
    deals = [
        deposit(1, T0, 1_000.0),
        *trade_deals(2, 2, T0 + HOUR, T0 + 2 * HOUR, 40.0),  # closed before the range
        make_deal(4, T0 + 3 * HOUR, DEAL_TYPE_BUY, DEAL_ENTRY_IN, commission=-0.7, **common),
        make_deal(5, T0 + 5 * HOUR, DEAL_TYPE_SELL, DEAL_ENTRY_OUT, profit=10.0, commission=-0.7, **common),
        *trade_deals(6, 6, T0 + 6 * HOUR, T0 + 9 * HOUR, 99.0),  # closed after the range
    ]
    stats = stats_of(deals, start_ms=(T0 + 4 * HOUR) * 1000, end_ms=(T0 + 8 * HOUR) * 1000)
    assert (stats["trades"], stats["net_profit"], stats["commission"], stats["deposits"]) == (1, 8.6, -1.4, 0.0)
    assert stats["gain_pct_twr"] == pytest.approx((1_048.6 / 1_039.3) - 1), "balance moves inside the range only"


def test_empty_and_one_sided_results_are_json_safe() -> None:
    empty = stats_of([])
    assert tuple(empty) == (*STAT_KEYS, "notes")
    json.dumps(empty, allow_nan=False)
    assert empty["trades"] == 0 and empty["net_profit"] == 0.0
    for key in ("profit_factor", "win_rate", "expected_payoff", "max_drawdown", "sharpe", "calmar", "avg_holding_s"):
        assert empty[key] is None, key
    unknown = ("balance_max_drawdown", "balance_max_drawdown_pct", "gain_pct_twr", "max_drawdown_daily_pct")
    assert all(empty[key] is None and empty["notes"][key] for key in unknown), "no deal, no equity: unknown, not 0"
    winners = stats_of([deposit(1, T0, 100.0), *trade_deals(2, 2, T0 + 60, T0 + 120, 5.0)])
    json.dumps(winners, allow_nan=False)
    assert winners["profit_factor"] is None and winners["win_rate"] == 1.0 and winners["largest_loss"] is None
    assert winners["avg_loss"] is None and winners["max_consecutive_losses"] == 0


# ----- breakdowns for the views -----


def test_hour_and_weekday_use_broker_server_time() -> None:
    # closes at 23:30 UTC on Thursday, which is 01:30 on Friday at the broker (UTC+2)
    close = T0 - (T0 % DAY) + 23 * HOUR + 1800
    trades, _, _ = collect(trade_deals(1, 1, close - 600, close, 12.0), None, None, 2)
    frame = trades_frame(trades)
    hours = {row["hour"]: row for row in by_hour(frame, 2)}
    assert len(hours) == 24 and hours[1]["trades"] == 1 and hours[1]["net"] == 12.0 and hours[23]["trades"] == 0
    days = by_weekday(frame, 2)
    assert [row["name"] for row in days if row["trades"]] == ["Fri"]


def test_monthly_returns_chain_to_the_gain_and_the_histogram_counts_every_trade() -> None:
    deals = [deposit(1, T0 - 40 * DAY, 1_000.0)]
    for k, net in enumerate([30.0, -10.0, 25.0, -40.0, 5.0]):
        t = T0 - 35 * DAY + k * 9 * DAY
        deals += trade_deals(10 + 2 * k, 10 + k, t, t + HOUR, net)
    trades, ledger, _ = collect(deals, None, None, 2)
    months = monthly_returns(ledger)
    assert len(months) >= 2
    assert math.prod(1 + m["return"] for m in months) - 1 == pytest.approx(stats_of(deals)["gain_pct_twr"])
    bins = result_histogram(trades_frame(trades))
    assert sum(b["count"] for b in bins) == 5
    assert bins[0]["low"] == -40.0 and bins[-1]["high"] == 30.0
