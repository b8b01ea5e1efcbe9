"""What the app should show for a ``RealAccount``, worked out from the generator's own records.

Nothing here imports the app (no ``services``): trades come from the round trips the generator
wrote into each deal's legs, not from replaying volumes; money is summed in integer cents; the
broker's days come from New York time (server midnight = 17:00 New York) through ``zoneinfo``.

A trade, as the app defines it (services/analytics/trades.py), is one round trip of a position: flat to
flat, or flat to a reversal. All of a position's deals in that trip count: opening commission,
every partial close, the swap of each close. A reversal (INOUT) closes one trip with its profit,
its swap and its volume share of commission and fee, and opens the next with the rest.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from tests.fakes.real_account import BALANCE, BUY, CREDIT, RealAccount, TrueDeal

NEW_YORK = ZoneInfo("America/New_York")
BONUS = 6
CASH_FLOW_TYPES = (BALANCE, CREDIT, BONUS)


@dataclass(frozen=True, slots=True)
class TruthTrade:
    position_id: int
    symbol: str
    direction: str  # "buy" | "sell"
    open_utc_ms: int
    close_utc_ms: int
    close_ticket: int
    profit_c: int
    commission_c: int
    swap_c: int
    fee_c: int

    @property
    def net_c(self) -> int:
        return self.profit_c + self.commission_c + self.swap_c + self.fee_c

    @property
    def net(self) -> float:
        return self.net_c / 100

    @property
    def holding_s(self) -> float:
        return (self.close_utc_ms - self.open_utc_ms) / 1000


def broker_date(utc_ms: int) -> date:
    """The broker's calendar day: New York wall time plus 7 hours."""
    return (datetime.fromtimestamp(utc_ms / 1000, NEW_YORK).replace(tzinfo=None) + timedelta(hours=7)).date()


def broker_midnight(utc_ms: int) -> int:
    """UTC ms of the 17:00 New York that started the broker day holding ``utc_ms``."""
    day = broker_date(utc_ms) - timedelta(days=1)
    return round(datetime(day.year, day.month, day.day, 17, tzinfo=NEW_YORK).timestamp() * 1000)


def utc_date(utc_ms: int) -> date:
    return datetime.fromtimestamp(utc_ms / 1000, UTC).date()


class GroundTruth:
    """Every figure the app derives from the account, computed the generator's way."""

    def __init__(self, account: RealAccount) -> None:
        self.account = account
        self.deals: list[TrueDeal] = account.deals
        self.trades = self._trades()

    # ------------------------------------------------------------ deals and trades
    @property
    def deal_utc_ms(self) -> dict[int, int]:
        return {d.ticket: d.time_utc_ms for d in self.deals}

    def _trades(self) -> list[TruthTrade]:
        """Group every leg by its round trip; a trip whose closed volume equals its opened volume is a trade."""
        legs: dict[int, list[tuple[TrueDeal, Any]]] = defaultdict(list)
        for deal in self.deals:
            for leg in deal.legs:
                legs[leg.trip].append((deal, leg))
        trades = []
        for parts in legs.values():
            opened = sum(leg.volume_c for _, leg in parts if not leg.closes)
            closed = sum(leg.volume_c for _, leg in parts if leg.closes)
            if closed != opened:
                continue  # still open
            opening = min((deal for deal, leg in parts if not leg.closes), key=lambda d: d.time_utc_ms)
            closing = max((deal for deal, leg in parts if leg.closes), key=lambda d: (d.time_utc_ms, d.ticket))
            trades.append(
                TruthTrade(
                    position_id=opening.position_id,
                    symbol=opening.symbol,
                    direction="buy" if opening.type == BUY else "sell",  # a reversal's trip opens on its side
                    open_utc_ms=opening.time_utc_ms,
                    close_utc_ms=closing.time_utc_ms,
                    close_ticket=closing.ticket,
                    profit_c=sum(leg.profit_c for _, leg in parts),
                    commission_c=sum(leg.commission_c for _, leg in parts),
                    swap_c=sum(leg.swap_c for _, leg in parts),
                    fee_c=sum(leg.fee_c for _, leg in parts),
                )
            )
        return sorted(trades, key=lambda t: (t.close_utc_ms, t.close_ticket))

    # ------------------------------------------------------------ money
    @property
    def balance(self) -> float:
        """Every deal's money except credit, which MT5 keeps outside the balance."""
        return sum(d.money_c for d in self.deals if d.type != CREDIT) / 100

    @property
    def credit(self) -> float:
        return sum(d.profit_c for d in self.deals if d.type == CREDIT) / 100

    @property
    def equity(self) -> float:
        floating_c = sum(p.profit_c + p.swap_c for p in self.account.positions)
        funds_c = sum(d.money_c for d in self.deals)
        return (funds_c + floating_c) / 100

    def cash_flows(self, since_ms: int | None = None) -> list[tuple[int, str, int]]:
        """(UTC ms, kind, cents) of deposits, withdrawals and credit, oldest first."""
        flows = []
        for d in self.deals:
            if d.type in CASH_FLOW_TYPES and (since_ms is None or d.time_utc_ms >= since_ms):
                kind = "credit" if d.type == CREDIT else ("deposit" if d.profit_c >= 0 else "withdrawal")
                flows.append((d.time_utc_ms, kind, d.profit_c))
        return flows

    def funds_at(self, utc_ms: int) -> float:
        """Balance plus credit just before ``utc_ms``: the equity then, when no position is open."""
        return sum(d.money_c for d in self.deals if d.time_utc_ms < utc_ms) / 100

    def today_pl(self, now_ms: int) -> float:
        """Equity now minus equity at the broker's midnight minus the money moved since: exact when
        no position was open across that midnight (the generator keeps it so), checked here."""
        midnight = broker_midnight(now_ms)
        opened = {t.position_id for t in self.trades if t.open_utc_ms < midnight < t.close_utc_ms}
        opened |= {p.position_id for p in self.account.positions if p.open_utc_ms < midnight}
        if opened:
            raise ValueError(f"positions {sorted(opened)} were open across the broker midnight")
        if now_ms < self.account.end_ms:
            raise ValueError("equity is known at the end of the history only")
        flows_c = sum(cents for _, _, cents in self.cash_flows(midnight))
        return round(self.equity - self.funds_at(midnight) - flows_c / 100, 2)

    # ------------------------------------------------------------ per day
    def broker_day_sums(self) -> dict[date, float]:
        return self._day_sums(broker_date)

    def utc_day_sums(self) -> dict[date, float]:
        return self._day_sums(utc_date)

    def _day_sums(self, day_of: Any) -> dict[date, float]:
        sums: dict[date, int] = defaultdict(int)
        for trade in self.trades:
            sums[day_of(trade.close_utc_ms)] += trade.net_c
        return {day: cents / 100 for day, cents in sorted(sums.items())}

    # ------------------------------------------------------------ statistics
    def by_symbol(self) -> dict[str, tuple[int, float, float]]:
        """symbol -> (trades, net, win rate)."""
        groups: dict[str, list[int]] = defaultdict(list)
        for trade in self.trades:
            groups[trade.symbol].append(trade.net_c)
        return {s: (len(n), sum(n) / 100, sum(1 for x in n if x > 0) / len(n)) for s, n in groups.items()}

    def stats(self) -> dict[str, Any]:
        """The account-level figures the app shows, over the whole history."""
        nets = [t.net_c for t in self.trades]
        wins, losses = [n for n in nets if n > 0], [n for n in nets if n < 0]
        longs = [t.net_c for t in self.trades if t.direction == "buy"]
        shorts = [t.net_c for t in self.trades if t.direction == "sell"]
        flows = self.cash_flows()
        return {
            "net_profit": sum(nets) / 100,
            "gross_profit": sum(wins) / 100,
            "gross_loss": sum(losses) / 100,
            "trades": len(nets),
            "win_rate": Fraction(len(wins), len(nets)),
            "profit_factor": Fraction(sum(wins), -sum(losses)),
            "expected_payoff": Fraction(sum(nets), 100 * len(nets)),
            "largest_win": max(wins) / 100,
            "largest_loss": min(losses) / 100,
            "max_consecutive_wins": _longest_run(nets, lambda n: n > 0),
            "max_consecutive_losses": _longest_run(nets, lambda n: n < 0),
            "long_trades": len(longs),
            "short_trades": len(shorts),
            "long_win_rate": Fraction(sum(1 for n in longs if n > 0), len(longs)),
            "short_win_rate": Fraction(sum(1 for n in shorts if n > 0), len(shorts)),
            "deposits": sum(c for _, kind, c in flows if kind == "deposit") / 100,
            "withdrawals": sum(c for _, kind, c in flows if kind == "withdrawal") / 100,
            "commission": sum(t.commission_c for t in self.trades) / 100,
            "swap": sum(t.swap_c for t in self.trades) / 100,
            "fee": sum(t.fee_c for t in self.trades) / 100,
            "avg_holding_s": Fraction(sum(t.close_utc_ms - t.open_utc_ms for t in self.trades), 1000 * len(nets)),
        }


def _longest_run(values: list[int], test: Any) -> int:
    best = run = 0
    for value in values:
        run = run + 1 if test(value) else 0
        best = max(best, run)
    return best
