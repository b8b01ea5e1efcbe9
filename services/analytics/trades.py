"""Trades rebuilt from MT5 deals, balance operations told apart from trading, and the balance check.

MT5 keeps deals, not trades. A position is opened by IN deals, reduced by OUT and OUT_BY deals
and, on netting accounts, flipped by an INOUT deal that closes it and opens the opposite side
with the rest of its volume under the same ``position_id``. A trade here is one round trip of a
position: from flat to flat, or from flat to a reversal. Its money is every deal's profit,
commission, swap and fee inside that round trip, so the opening commission stays with the trade.

Deals must arrive in time order (as the store returns them); trades come out in closing order,
holding only the open positions in memory, so a million deals stream through in flat memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from services.core.formatting import money
from services.core.models import (
    DEAL_ENTRY_IN,
    DEAL_ENTRY_INOUT,
    DEAL_ENTRY_OUT_BY,
    DEAL_TYPE_BALANCE,
    DEAL_TYPE_BUY,
    DEAL_TYPE_SELL,
    Deal,
    is_trading,
)

# MetaTrader5 constants, with the values the MetaTrader5 package itself exports.
OPERATION_KINDS = {
    3: "credit",
    4: "charge",
    5: "correction",
    6: "bonus",
    7: "commission",
    8: "commission",
    9: "commission",
    10: "commission",
    11: "commission",
    12: "interest",
    13: "canceled",
    14: "canceled",
    15: "dividend",
    16: "dividend",
    17: "tax",
}
# Money that enters or leaves from outside trading: never performance (gain, drawdown, ratios, net profit).
# Deposits, withdrawals and bonuses move the balance. Credit is the broker's loan: MT5 books it in
# ACCOUNT_CREDIT, never in the balance, but equity is balance + credit + floating P/L, so for equity
# credit given or taken back is a flow like a deposit or a withdrawal.
FLOW_KINDS = frozenset({"deposit", "withdrawal", "bonus"})
OFF_BALANCE_KINDS = frozenset({"credit"})
EQUITY_FLOW_KINDS = FLOW_KINDS | OFF_BALANCE_KINDS
# The same flows by deal type, for deals read as dicts (a balance deal is a deposit or a withdrawal by its sign).
EQUITY_FLOW_TYPES = frozenset(
    {DEAL_TYPE_BALANCE, *(t for t, kind in OPERATION_KINDS.items() if kind in EQUITY_FLOW_KINDS)}
)
REASONS = {
    0: "client", 1: "mobile", 2: "web", 3: "expert", 4: "sl", 5: "tp", 6: "so", 7: "rollover", 8: "vmargin", 9: "split"
}  # fmt: skip
VOLUME_EPS = 1e-9
PRICE_DIGITS = 8


def deal_money(deal: Deal) -> float:
    """What a deal did to the balance."""
    return deal.profit + deal.commission + deal.swap + deal.fee


def deal_kind(deal: Deal) -> str:
    """``buy``/``sell`` for trading deals, else the balance operation: deposit, withdrawal, credit, bonus, …"""
    if deal.type == DEAL_TYPE_BUY:
        return "buy"
    if deal.type == DEAL_TYPE_SELL:
        return "sell"
    if deal.type == DEAL_TYPE_BALANCE:
        return "deposit" if deal_money(deal) >= 0 else "withdrawal"
    return OPERATION_KINDS.get(deal.type, "other")


def moves_balance(deal: Deal) -> bool:
    return is_trading(deal) or deal_kind(deal) not in OFF_BALANCE_KINDS


@dataclass(frozen=True, slots=True)
class Operation:
    """A balance operation: every deal that is not a buy or a sell."""

    ticket: int
    time_utc_ms: int
    time_msc: int
    kind: str
    amount: float
    comment: str

    @classmethod
    def of(cls, deal: Deal) -> Operation:
        return cls(deal.ticket, deal.time_utc_ms, deal.time_msc, deal_kind(deal), deal_money(deal), deal.comment)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def operations(deals: Iterable[Deal]) -> Iterator[Operation]:
    return (Operation.of(deal) for deal in deals if not is_trading(deal))


@dataclass(frozen=True, slots=True)
class Trade:
    """One round trip of a position. Times: ``*_utc_ms`` real UTC, ``*_msc`` broker server time (MT5's own).

    ``open_*`` and ``holding_s`` are None when the opening deal is not in the history (archived
    by the broker, or older than the history the terminal returned).
    """

    position_id: int
    symbol: str
    direction: str  # "buy" | "sell"
    volume: float
    open_time_utc_ms: int | None
    open_time_msc: int | None
    close_time_utc_ms: int
    close_time_msc: int
    open_price: float | None
    close_price: float
    profit: float
    commission: float
    swap: float
    fee: float
    net: float
    holding_s: float | None
    close_reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _RoundTrip:
    """The open part of a position while its deals stream by."""

    def __init__(self, deal: Deal, direction: str, digits: int, opened: bool = True) -> None:
        self.position_id = deal.position_id
        self.symbol = deal.symbol
        self.direction = direction
        self.digits = digits
        self.open_time_utc_ms = deal.time_utc_ms if opened else None
        self.open_time_msc = deal.time_msc if opened else None
        self.open_volume = self.opened_volume = self.opened_value = 0.0
        self.closed_volume = self.closed_value = 0.0
        self.profit = self.commission = self.swap = self.fee = 0.0

    def add(self, deal: Deal, volume: float, commission: float, fee: float, profit: float, swap: float) -> None:
        self.open_volume += volume
        self.opened_volume += volume
        self.opened_value += volume * deal.price
        self._book(profit, commission, swap, fee)

    def reduce(self, deal: Deal, volume: float, commission: float, fee: float) -> None:
        """Profit and swap of a closing deal belong wholly to the part it closes."""
        self.open_volume -= volume
        self.closed_volume += volume
        self.closed_value += volume * deal.price
        self._book(deal.profit, commission, deal.swap, fee)

    def _book(self, profit: float, commission: float, swap: float, fee: float) -> None:
        self.profit += profit
        self.commission += commission
        self.swap += swap
        self.fee += fee

    @property
    def flat(self) -> bool:
        return self.open_volume <= VOLUME_EPS

    def trade(self, deal: Deal, reason: str) -> Trade:
        digits = self.digits
        open_price = self.opened_value / self.opened_volume if self.opened_volume > VOLUME_EPS else None
        holding = None if self.open_time_utc_ms is None else (deal.time_utc_ms - self.open_time_utc_ms) / 1000
        return Trade(
            position_id=self.position_id,
            symbol=self.symbol,
            direction=self.direction,
            volume=round(self.closed_volume, PRICE_DIGITS),
            open_time_utc_ms=self.open_time_utc_ms,
            open_time_msc=self.open_time_msc,
            close_time_utc_ms=deal.time_utc_ms,
            close_time_msc=deal.time_msc,
            open_price=None if open_price is None else round(open_price, PRICE_DIGITS),
            close_price=round(self.closed_value / self.closed_volume, PRICE_DIGITS),
            profit=cents(self.profit, digits),
            commission=cents(self.commission, digits),
            swap=cents(self.swap, digits),
            fee=cents(self.fee, digits),
            net=cents(self.profit + self.commission + self.swap + self.fee, digits),
            holding_s=holding,
            close_reason=reason,
        )


def cents(value: float, digits: int) -> float:
    """Money rounded to the account currency's digits; + 0.0 turns -0.0 into 0.0."""
    return round(value, digits) + 0.0


def _side(deal: Deal) -> str:
    return "buy" if deal.type == DEAL_TYPE_BUY else "sell"


def _close_reason(deal: Deal) -> str:
    if deal.entry == DEAL_ENTRY_OUT_BY:
        return "close_by"
    if deal.entry == DEAL_ENTRY_INOUT:
        return "reversal"
    return REASONS.get(deal.reason, f"reason_{deal.reason}")


class TradeBuilder:
    """Feed deals in time order; each ``feed`` returns the trades that deal completed."""

    def __init__(self, digits: int = 2) -> None:
        self.digits = digits
        self._open: dict[int, _RoundTrip] = {}

    def feed(self, deal: Deal) -> list[Trade]:
        if not is_trading(deal) or deal.volume <= VOLUME_EPS:
            return []
        side = _side(deal)
        trip = self._open.get(deal.position_id)
        if trip is None and deal.entry != DEAL_ENTRY_IN:
            return [self._orphan_close(deal, side)]
        if trip is None or side == trip.direction:
            self._open_part(deal, side, deal.volume, deal.commission, deal.fee, deal.profit, deal.swap)
            return []
        closing = min(deal.volume, trip.open_volume)
        rest = deal.volume - closing
        commission, fee = deal.commission, deal.fee
        if rest > VOLUME_EPS:  # a reversal: commission and fee split by volume, in whole cents, adding up exactly
            commission = cents(deal.commission * closing / deal.volume, self.digits)
            fee = cents(deal.fee * closing / deal.volume, self.digits)
        trip.reduce(deal, closing, commission, fee)
        if not trip.flat:
            return []
        del self._open[deal.position_id]
        if rest > VOLUME_EPS:
            self._open_part(deal, side, rest, deal.commission - commission, deal.fee - fee, 0.0, 0.0)
        return [trip.trade(deal, _close_reason(deal))]

    def _open_part(
        self, deal: Deal, side: str, volume: float, commission: float, fee: float, profit: float, swap: float
    ) -> None:
        trip = self._open.get(deal.position_id)
        if trip is None:
            trip = self._open[deal.position_id] = _RoundTrip(deal, side, self.digits)
        trip.add(deal, volume, commission, fee, profit, swap)

    def _orphan_close(self, deal: Deal, side: str) -> Trade:
        """A close whose opening deal is missing: its money still counts, its opening is unknown."""
        trip = _RoundTrip(deal, "sell" if side == "buy" else "buy", self.digits, opened=False)
        trip.reduce(deal, deal.volume, deal.commission, deal.fee)
        return trip.trade(deal, _close_reason(deal))

    @property
    def open_positions(self) -> int:
        return len(self._open)


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """Opening balance plus every deal's money against the balance the account reports."""

    expected_balance: float
    balance: float
    mismatch: float  # balance - expected_balance
    tolerance: float
    deals: int

    @property
    def ok(self) -> bool:
        return abs(self.mismatch) <= self.tolerance

    def warning(self, currency: str, digits: int) -> str | None:
        """The text the page shows; None when the history adds up."""
        if self.ok:
            return None
        return (
            f"Balance check: the {self.deals} deals add up to {money(self.expected_balance, currency, digits)} "
            f"but the account reports {money(self.balance, currency, digits)} "
            f"(difference {money(self.mismatch, currency, digits, signed=True)}): "
            "the history is incomplete (deals archived by the broker, or a gap while the app was not running)."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "expected_balance": self.expected_balance,
            "balance": self.balance,
            "mismatch": self.mismatch,
            "tolerance": self.tolerance,
            "deals": self.deals,
            "ok": self.ok,
        }


class BalanceTally:
    """Running sum for the balance check; fed deal by deal so it can share one pass over the history."""

    def __init__(self, opening_balance: float = 0.0) -> None:
        self.total = opening_balance
        self.deals = 0

    def feed(self, deal: Deal) -> None:
        self.deals += 1
        if moves_balance(deal):
            self.total += deal_money(deal)

    def result(self, balance: float, digits: int) -> Reconciliation:
        tolerance = 0.5 * 10.0**-digits
        expected = cents(self.total, digits)
        mismatch = balance - self.total
        # sums of cent amounts carry float noise far below a cent; never call that a mismatch
        mismatch = 0.0 if abs(mismatch) <= tolerance + 1e-9 * max(1.0, abs(balance)) else cents(mismatch, digits)
        return Reconciliation(expected, balance, mismatch, tolerance, self.deals)


def reconcile(deals: Iterable[Deal], balance: float, digits: int = 2, opening_balance: float = 0.0) -> Reconciliation:
    """Credit deals are left out: MT5 books credit outside the balance."""
    tally = BalanceTally(opening_balance)
    for deal in deals:
        tally.feed(deal)
    return tally.result(balance, digits)
