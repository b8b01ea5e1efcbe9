"""A believable simulated MT5 account, so the dashboard runs (and is tested) without a terminal.

Prices follow a random walk scaled by sqrt(dt), so the simulation can be advanced by any
step: 250 ms polls live, 60 s steps to build days of history. A simulated trader opens and
closes positions as Poisson events, places pending orders, and is charged commission and
swap; the broker applies SL/TP and stop-out. Every record is built as the MetaTrader5
package would return it (times in server time) and passed through the models' ``from_mt5``.
All randomness comes from one ``random.Random(seed)`` and all time from ``clock``, so the
same seed and the same clock readings give the same account.
"""

from __future__ import annotations

import math
import random
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.core.brokertime import BrokerZone, fixed
from services.core.models import (
    DEAL_ENTRY_IN,
    DEAL_ENTRY_OUT,
    DEAL_TYPE_BALANCE,
    Account,
    Deal,
    HistoryPoint,
    Order,
    Position,
    Terminal,
)
from services.core.units import DAY_S, HOUR_S
from services.ingest.sources.base import SourceDisconnected, SourceInfo

# MetaTrader5 constants, with the values the MetaTrader5 package itself exports.
REASON_CLIENT, REASON_MOBILE, REASON_EXPERT = 0, 1, 3
DEAL_REASON_SL, DEAL_REASON_TP, DEAL_REASON_SO = 4, 5, 6
BUY, SELL = 0, 1
BUY_LIMIT, SELL_LIMIT, BUY_STOP, SELL_STOP = 2, 3, 4, 5
ORDER_TIME_SPECIFIED, ORDER_FILLING_RETURN, ORDER_STATE_PLACED = 2, 2, 1

COARSE_STEP_S = 60.0
DEFAULT_HISTORY_S = 3 * DAY_S
OPEN_RATE_PER_S = 1.5 / HOUR_S  # market positions opened per second
PENDING_RATE_PER_S = 0.25 / HOUR_S
MEAN_HOLD_S = 3 * HOUR_S
MAX_POSITIONS, MAX_PENDING = 8, 3
EA_MAGIC = 20_240


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """Contract terms; commission and swap are USD per lot (commission per side, swap per night)."""

    name: str
    digits: int
    contract_size: float
    spread_pts: int
    daily_vol: float  # one standard deviation of the daily move, as a fraction of price
    start_price: float
    profit_ccy: str
    commission: float
    swap_long: float
    swap_short: float
    volumes: tuple[float, ...]  # smallest lot moves profit by >= 0.01 USD per point


SYMBOLS = (
    SymbolSpec("EURUSD", 5, 100_000, 8, 0.0045, 1.08500, "USD", 3.5, -7.2, 2.1, (0.01, 0.05, 0.1, 0.2, 0.3)),
    SymbolSpec("GBPUSD", 5, 100_000, 12, 0.0055, 1.27000, "USD", 3.5, -4.5, -1.2, (0.01, 0.05, 0.1, 0.2)),
    SymbolSpec("USDJPY", 3, 100_000, 14, 0.0060, 151.500, "JPY", 3.5, 15.3, -28.4, (0.05, 0.1, 0.2, 0.3)),
    SymbolSpec("XAUUSD", 2, 100, 25, 0.0110, 2350.00, "USD", 5.0, -45.0, 20.0, (0.01, 0.02, 0.05, 0.1)),
    SymbolSpec("US500", 2, 1, 50, 0.0090, 5200.00, "USD", 0.0, -0.9, -0.3, (1.0, 2.0, 5.0)),
)


class _Quote:
    """One symbol's price: an unrounded mid in points, quoted as bid/ask rounded to the symbol's digits."""

    def __init__(self, spec: SymbolSpec) -> None:
        self.spec = spec
        self.point = 10.0**-spec.digits
        self.mid_pts = spec.start_price / self.point
        self.sigma = spec.daily_vol / math.sqrt(DAY_S)
        self.bid = self.ask = 0.0
        self._requote()

    @property
    def mid(self) -> float:
        return self.mid_pts * self.point

    def move(self, rng: random.Random, dt: float) -> None:
        self.shift(self.mid_pts * self.sigma * math.sqrt(dt) * rng.gauss(0.0, 1.0))

    def shift(self, points: float) -> None:
        self.mid_pts += points
        self._requote()

    def _requote(self) -> None:
        bid_pts = round(self.mid_pts - self.spec.spread_pts / 2)
        self.bid = round(bid_pts * self.point, self.spec.digits)
        self.ask = round((bid_pts + self.spec.spread_pts) * self.point, self.spec.digits)


@dataclass(slots=True)
class _Position:
    ticket: int
    quote: _Quote
    type: int
    volume: float
    price_open: float
    sl: float
    tp: float
    time_ms: int  # UTC
    reason: int
    magic: int
    comment: str
    close_at: float  # UTC seconds when the trader closes it by hand
    swap: float = 0.0


@dataclass(slots=True)
class _Pending:
    ticket: int
    quote: _Quote
    type: int
    volume: float
    price_open: float
    sl: float
    tp: float
    time_ms: int  # UTC
    expire_at: float  # UTC seconds
    reason: int


def _side(order: _Pending) -> int:
    return BUY if order.type in (BUY_LIMIT, BUY_STOP) else SELL


class DemoSource:
    """Simulated MT5 account implementing ``AccountSource``; see the module docstring."""

    def __init__(
        self,
        *,
        seed: int = 7,
        login: int = 5_000_001,
        clock: Callable[[], float] = time.time,
        server_offset_s: int = 7200,
        initial_deposit: float = 10_000.0,
        leverage: int = 100,
        currency: str = "USD",
        start_utc_s: float | None = None,
    ) -> None:
        if currency not in ("USD", "EUR", "GBP", "JPY"):
            raise ValueError(f"demo account currency must be USD, EUR, GBP or JPY, not {currency!r}")
        self._seed = seed
        self._login = login
        self._clock = clock
        self._offset_s = server_offset_s
        self._deposit = initial_deposit
        self._leverage = leverage
        self._currency = currency
        self._start_utc_s = start_utc_s
        self._rng = random.Random(seed)
        self._quotes = [_Quote(spec) for spec in SYMBOLS]
        self._by_name = {q.spec.name: q for q in self._quotes}
        self._positions: dict[int, _Position] = {}
        self._pending: dict[int, _Pending] = {}
        self._deals: list[Deal] = []
        self._balance = 0.0
        self._begun = False
        self._past: list[HistoryPoint] = []
        self._now = 0.0  # simulated UTC seconds
        self._skew = 0.0  # how far fast_forward has moved the simulation ahead of clock()
        self._next_order = 50_000_001
        self._next_deal = 40_000_001
        self._next_open = self._next_pending = self._next_rollover = 0.0
        self._connected = False
        self._link_up = True
        self._deals_seen = 0

    # ----- AccountSource -----

    @property
    def info(self) -> SourceInfo:
        return SourceInfo(
            "demo",
            f"Built-in demo account (simulated, seed {self._seed})",
            {"seed": self._seed, "login": self._login},
        )

    @property
    def server_offset_s(self) -> int:
        return self._offset_s

    @property
    def zone(self) -> BrokerZone:
        """The simulation keeps one offset all year."""
        return fixed(self._offset_s)

    @property
    def history_sync(self) -> None:
        return None  # its simulated past comes whole with the first poll

    def remember_zone(self, spec: str) -> None:
        return None

    def reread_history(self) -> None:
        self._deals_seen = 0

    def connect(self) -> None:
        """Open a session; like ``initialize()`` it fails while the (simulated) terminal is unreachable."""
        if not self._link_up:
            raise SourceDisconnected(-10003, "IPC initialize failed, Pipe server didn't answer in 60 sec", "initialize")
        self._connected = True
        self._deals_seen = 0

    def disconnect(self) -> None:
        self._connected = False

    def terminal(self) -> Terminal:
        self._require("terminal_info")
        return Terminal.from_mt5(
            {
                "connected": True,
                "trade_allowed": True,
                "tradeapi_disabled": False,
                "build": 4755,
                "ping_last": 41_000,
                "company": "MT5 Dashboard Demo",
                "name": "MetaTrader 5 (demo simulation)",
            }
        )

    def account(self) -> Account:
        self._require("account_info")
        self._advance()
        floating, margin = self._exposure()
        equity = round(self._balance + floating, 2)
        return Account.from_mt5(
            {
                "login": self._login,
                "trade_mode": 0,
                "leverage": self._leverage,
                "limit_orders": 200,
                "margin_so_mode": 0,
                "trade_allowed": True,
                "trade_expert": True,
                "margin_mode": 2,
                "currency_digits": 2,
                "fifo_close": False,
                "balance": self._balance,
                "credit": 0.0,
                "profit": round(floating, 2),
                "equity": equity,
                "margin": margin,
                "margin_free": round(equity - margin, 2),
                "margin_level": round(equity / margin * 100, 2) if margin else 0.0,
                "margin_so_call": 50.0,
                "margin_so_so": 30.0,
                "margin_initial": 0.0,
                "margin_maintenance": 0.0,
                "assets": 0.0,
                "liabilities": 0.0,
                "commission_blocked": 0.0,
                "name": "Demo Trader",
                "server": "Demo-Server",
                "currency": self._currency,
                "company": "MT5 Dashboard Demo",
            }
        )

    def positions(self) -> list[Position]:
        self._require("positions_get")
        self._advance()
        return [Position.from_mt5(self._position_record(p), self._offset_s) for p in self._positions.values()]

    def orders(self) -> list[Order]:
        self._require("orders_get")
        self._advance()
        return [Order.from_mt5(self._order_record(o), self._offset_s) for o in self._pending.values()]

    def new_deals(self) -> list[Deal]:
        """Deals since the previous call; the first call after ``connect()`` returns all of them."""
        self._require("history_deals_get")
        self._advance()
        fresh = self._deals[self._deals_seen :]
        self._deals_seen = len(self._deals)
        return fresh

    def backfill(self) -> list[HistoryPoint]:
        """The simulated past's account history, handed over once, so a new dashboard opens on days of it."""
        self._require("history_deals_get")
        self._advance()
        past, self._past = self._past, []
        return past

    def deals_between(self, start_utc_s: float, end_utc_s: float) -> list[Deal]:
        self._require("history_deals_get")
        self._advance()
        lo = bisect_left(self._deals, start_utc_s * 1000, key=lambda d: d.time_utc_ms)
        hi = bisect_right(self._deals, end_utc_s * 1000, key=lambda d: d.time_utc_ms)
        return self._deals[lo:hi]

    # ----- test and benchmark hooks -----

    def fast_forward(self, seconds: float, step_s: float = COARSE_STEP_S) -> None:
        """Simulate ``seconds`` more without waiting; the simulation then stays that far ahead of clock()."""
        self._advance()
        self._advance_to(self._now + seconds, step_s)
        self._skew += seconds

    def drop_link(self) -> None:
        """Simulate the terminal going away: calls raise -10004 until restore_link() and connect()."""
        self._link_up = False
        self._connected = False

    def restore_link(self) -> None:
        self._link_up = True

    def shock(self, symbol: str, pct: float) -> None:
        """Move ``symbol``'s price by ``pct`` percent now (SL and stop-out then act on the next step)."""
        self._advance()
        quote = self._by_name[symbol]
        quote.shift(quote.mid_pts * pct / 100.0)

    # ----- simulation -----

    def _require(self, call: str) -> None:
        if not self._connected:
            raise SourceDisconnected(-10004, "No IPC connection", call)

    def _advance(self) -> None:
        """Catch up with clock(); if time passed but equity did not move, tick a held symbol by a point.

        Quiet markets and P/L that happens to cancel across symbols would otherwise freeze the
        dashboard's equity for a poll; the trader never hedges, so one symbol's tick always shows.
        """
        target = self._clock() + self._skew
        if not self._begun:
            self._begin(target - DEFAULT_HISTORY_S if self._start_utc_s is None else self._start_utc_s)
            self._simulate_past(target)
        if target <= self._now:
            return
        before = self._equity()
        self._advance_to(target, COARSE_STEP_S)
        if self._positions and self._equity() == before:
            pos = self._rng.choice(list(self._positions.values()))
            pos.quote.shift(self._rng.choice((-1.0, 1.0)))

    def _simulate_past(self, target: float) -> None:
        """The account's history before the first poll, one point a coarse step, for ``backfill()``."""
        while self._now < target:
            self._step(min(self._now + COARSE_STEP_S, target))
            floating, margin = self._exposure()
            equity = round(self._balance + floating, 2)
            level = round(equity / margin * 100, 2) if margin else 0.0
            point = HistoryPoint(int(self._now * 1000), self._balance, equity, margin, level, round(floating, 2))
            self._past.append(point)

    def _begin(self, start: float) -> None:
        self._begun, self._now = True, start
        self._add_deal(start, DEAL_TYPE_BALANCE, DEAL_ENTRY_IN, profit=self._deposit, comment="Deposit")
        self._next_open = start + self._rng.expovariate(OPEN_RATE_PER_S)
        self._next_pending = start + self._rng.expovariate(PENDING_RATE_PER_S)
        self._next_rollover = (math.floor((start + self._offset_s) / DAY_S) + 1) * DAY_S - self._offset_s

    def _advance_to(self, target: float, step_s: float) -> None:
        while self._now < target:
            self._step(min(self._now + step_s, target))

    def _step(self, t1: float) -> None:
        """Move prices to ``t1``, run the events due in the step in time order, then let the broker act."""
        t0, self._now = self._now, t1
        for quote in self._quotes:
            quote.move(self._rng, t1 - t0)
        events: list[tuple[float, int, int]] = []
        while self._next_open <= t1:
            events.append((self._next_open, 0, 0))
            self._next_open += self._rng.expovariate(OPEN_RATE_PER_S)
        while self._next_pending <= t1:
            events.append((self._next_pending, 1, 0))
            self._next_pending += self._rng.expovariate(PENDING_RATE_PER_S)
        while self._next_rollover <= t1:
            events.append((self._next_rollover, 2, 0))
            self._next_rollover += DAY_S
        # a hand close that fell due inside the step that opened the position happens at this step's start
        events += [(max(p.close_at, t0), 3, p.ticket) for p in self._positions.values() if p.close_at <= t1]
        events += [(o.expire_at, 4, o.ticket) for o in self._pending.values() if o.expire_at <= t1]
        for at, kind, ticket in sorted(events):
            if kind == 0:
                self._open_market(at)
            elif kind == 1:
                self._place_pending(at)
            elif kind == 2:
                self._rollover(at)
            elif kind == 3:
                pos = self._positions[ticket]
                self._close(pos, at, self._exit_price(pos), pos.reason, "")
            elif kind == 4:
                del self._pending[ticket]
        self._broker_checks(t1)
        if not self._positions:  # keep a position open so equity moves at every poll
            self._open_market(t1)

    def _broker_checks(self, t: float) -> None:
        """Pending fills, SL/TP hits, then stop-out, all at the step's closing prices."""
        for order in list(self._pending.values()):
            q = order.quote
            if (
                (order.type == BUY_LIMIT and q.ask <= order.price_open)
                or (order.type == BUY_STOP and q.ask >= order.price_open)
                or (order.type == SELL_LIMIT and q.bid >= order.price_open)
                or (order.type == SELL_STOP and q.bid <= order.price_open)
            ):
                del self._pending[order.ticket]
                self._open(
                    t,
                    order.ticket,
                    q,
                    _side(order),
                    order.volume,
                    order.price_open,
                    order.sl,
                    order.tp,
                    order.reason,
                )
        for pos in list(self._positions.values()):
            price, digits = self._exit_price(pos), pos.quote.spec.digits
            worse = price <= pos.sl if pos.type == BUY else price >= pos.sl
            better = price >= pos.tp if pos.type == BUY else price <= pos.tp
            if pos.sl and worse:  # a stop fills at market, slippage included
                self._close(pos, t, price, DEAL_REASON_SL, f"[sl {pos.sl:.{digits}f}]")
            elif pos.tp and better:
                self._close(pos, t, pos.tp, DEAL_REASON_TP, f"[tp {pos.tp:.{digits}f}]")
        while self._positions:
            floating, margin = self._exposure()
            level = (self._balance + floating) / margin * 100
            if level >= 30.0:
                break
            worst = min(self._positions.values(), key=self._profit)
            self._close(worst, t, self._exit_price(worst), DEAL_REASON_SO, f"[so {level:.2f}%]")

    def _open_market(self, t: float) -> None:
        if len(self._positions) >= MAX_POSITIONS:
            return
        rng = self._rng
        quote = rng.choice(self._quotes)
        side, volume = self._side_for(quote), rng.choice(quote.spec.volumes)
        if not self._margin_allows(quote, volume):
            return
        reason = rng.choices((REASON_CLIENT, REASON_MOBILE, REASON_EXPERT), (6, 2, 2))[0]
        price = quote.ask if side == BUY else quote.bid
        sl, tp = self._stops(quote, side, price)
        self._open(t, self._new_order_ticket(), quote, side, volume, price, sl, tp, reason)

    def _place_pending(self, t: float) -> None:
        if len(self._pending) >= MAX_PENDING:
            return
        rng = self._rng
        quote = rng.choice(self._quotes)
        side = self._side_for(quote)
        kind = rng.choice((BUY_LIMIT, BUY_STOP) if side == BUY else (SELL_LIMIT, SELL_STOP))
        volume = rng.choice(quote.spec.volumes)
        distance = rng.uniform(0.1, 0.4) * quote.spec.daily_vol * quote.mid
        above = kind in (SELL_LIMIT, BUY_STOP)
        price = round((quote.ask + distance) if above else (quote.bid - distance), quote.spec.digits)
        sl, tp = self._stops(quote, side, price)
        expire_at = t + rng.uniform(2, 12) * HOUR_S
        ticket = self._new_order_ticket()
        self._pending[ticket] = _Pending(
            ticket, quote, kind, volume, price, sl, tp, int(t * 1000), expire_at, REASON_CLIENT
        )

    def _side_for(self, quote: _Quote) -> int:
        """The trader never hedges: a symbol held or ordered keeps its side, so P/L moves cannot cancel."""
        for pos in self._positions.values():
            if pos.quote is quote:
                return pos.type
        for order in self._pending.values():
            if order.quote is quote:
                return _side(order)
        return self._rng.choice((BUY, SELL))

    def _stops(self, quote: _Quote, side: int, price: float) -> tuple[float, float]:
        """SL/TP set by the trader on about 70% of trades, a fraction of a daily move away."""
        rng, scale, sign = self._rng, quote.spec.daily_vol * price, 1 if side == BUY else -1
        sl = price - sign * rng.uniform(0.25, 0.8) * scale if rng.random() < 0.7 else 0.0
        tp = price + sign * rng.uniform(0.3, 1.2) * scale if rng.random() < 0.7 else 0.0
        return round(sl, quote.spec.digits), round(tp, quote.spec.digits)

    def _open(
        self,
        t: float,
        ticket: int,
        quote: _Quote,
        side: int,
        volume: float,
        price: float,
        sl: float,
        tp: float,
        reason: int,
    ) -> None:
        magic = EA_MAGIC if reason == REASON_EXPERT else 0
        comment = "demo-ea" if reason == REASON_EXPERT else ""
        close_at = t + self._rng.expovariate(1 / MEAN_HOLD_S)
        pos = _Position(ticket, quote, side, volume, price, sl, tp, int(t * 1000), reason, magic, comment, close_at)
        self._positions[ticket] = pos
        self._add_deal(t, side, DEAL_ENTRY_IN, pos=pos, order=ticket, price=price, reason=reason, comment=comment)

    def _close(self, pos: _Position, t: float, price: float, reason: int, comment: str) -> None:
        del self._positions[pos.ticket]
        profit = self._profit(pos, price)
        order = self._new_order_ticket()
        self._add_deal(
            t, 1 - pos.type, DEAL_ENTRY_OUT, pos=pos, order=order, price=price, reason=reason,
            comment=comment, profit=profit, swap=pos.swap,
        )  # fmt: skip

    def _rollover(self, t: float) -> None:
        """Charge one night's swap at server midnight: none on weekend nights, triple for Wednesday's."""
        new_day = (round((t + self._offset_s) / DAY_S) + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
        nights = 3 if new_day == 3 else 1 if 1 <= new_day <= 5 else 0
        for pos in self._positions.values():
            rate = pos.quote.spec.swap_long if pos.type == BUY else pos.quote.spec.swap_short
            pos.swap = round(pos.swap + self._to_account(rate * pos.volume * nights, "USD"), 2)

    def _add_deal(
        self,
        t: float,
        type_: int,
        entry: int,
        *,
        pos: _Position | None = None,
        order: int = 0,
        price: float = 0.0,
        reason: int = REASON_CLIENT,
        comment: str = "",
        profit: float = 0.0,
        swap: float = 0.0,
    ) -> None:
        """Record a deal and book its money on the balance, as MT5 does (entry commission included)."""
        commission = 0.0
        if pos is not None:
            usd = -pos.quote.spec.commission * pos.volume
            commission = round(self._to_account(usd, "USD"), 2)
        time_msc = int(t * 1000) + self._offset_s * 1000
        record: dict[str, Any] = {
            "ticket": self._next_deal,
            "order": order,
            "time": time_msc // 1000,
            "time_msc": time_msc,
            "type": type_,
            "entry": entry,
            "magic": pos.magic if pos else 0,
            "position_id": pos.ticket if pos else 0,
            "reason": reason,
            "volume": pos.volume if pos else 0.0,
            "price": price,
            "commission": commission,
            "swap": swap,
            "profit": profit,
            "fee": 0.0,
            "symbol": pos.quote.spec.name if pos else "",
            "comment": comment,
            "external_id": "",
        }
        self._next_deal += 1
        self._deals.append(Deal.from_mt5(record, self._offset_s))
        self._balance = round(self._balance + profit + commission + swap, 2)

    def _new_order_ticket(self) -> int:
        self._next_order += 1
        return self._next_order - 1

    # ----- valuation -----

    def _usd_per(self, ccy: str) -> float:
        if ccy == "USD":
            return 1.0
        if ccy == "JPY":
            return 1.0 / self._by_name["USDJPY"].mid
        return self._by_name[f"{ccy}USD"].mid

    def _to_account(self, amount: float, ccy: str) -> float:
        return amount * self._usd_per(ccy) / self._usd_per(self._currency)

    @staticmethod
    def _exit_price(pos: _Position) -> float:
        return pos.quote.bid if pos.type == BUY else pos.quote.ask

    def _profit(self, pos: _Position, price: float | None = None) -> float:
        """Floating (or realised, at ``price``) P/L in account currency, rounded like MT5 shows it."""
        exit_price = self._exit_price(pos) if price is None else price
        sign = 1 if pos.type == BUY else -1
        raw = sign * (exit_price - pos.price_open) * pos.volume * pos.quote.spec.contract_size
        return round(self._to_account(raw, pos.quote.spec.profit_ccy), 2)

    def _margin(self, quote: _Quote, volume: float) -> float:
        return self._to_account(volume * quote.spec.contract_size * quote.mid / self._leverage, quote.spec.profit_ccy)

    def _equity(self) -> float:
        return round(self._balance + self._exposure()[0], 2)

    def _exposure(self) -> tuple[float, float]:
        """(profit + swap of open positions, margin), both in account currency."""
        floating = sum(self._profit(p) + p.swap for p in self._positions.values())
        margin = sum(self._margin(p.quote, p.volume) for p in self._positions.values())
        return floating, round(margin, 2)

    def _margin_allows(self, quote: _Quote, volume: float) -> bool:
        """The trader uses at most half of the free margin for a new trade."""
        floating, margin = self._exposure()
        return self._margin(quote, volume) <= 0.5 * (self._balance + floating - margin)

    def _position_record(self, pos: _Position) -> dict[str, Any]:
        time_msc = pos.time_ms + self._offset_s * 1000
        return {
            "ticket": pos.ticket,
            "time": time_msc // 1000,
            "time_msc": time_msc,
            "time_update": time_msc // 1000,
            "time_update_msc": time_msc,
            "type": pos.type,
            "magic": pos.magic,
            "identifier": pos.ticket,
            "reason": pos.reason,
            "volume": pos.volume,
            "price_open": pos.price_open,
            "sl": pos.sl,
            "tp": pos.tp,
            "price_current": self._exit_price(pos),
            "swap": pos.swap,
            "profit": self._profit(pos),
            "symbol": pos.quote.spec.name,
            "comment": pos.comment,
            "external_id": "",
        }

    def _order_record(self, order: _Pending) -> dict[str, Any]:
        time_msc = order.time_ms + self._offset_s * 1000
        return {
            "ticket": order.ticket,
            "time_setup": time_msc // 1000,
            "time_setup_msc": time_msc,
            "time_done": 0,
            "time_done_msc": 0,
            "time_expiration": int(order.expire_at) + self._offset_s,
            "type": order.type,
            "type_time": ORDER_TIME_SPECIFIED,
            "type_filling": ORDER_FILLING_RETURN,
            "state": ORDER_STATE_PLACED,
            "magic": 0,
            "position_id": 0,
            "position_by_id": 0,
            "reason": order.reason,
            "volume_initial": order.volume,
            "volume_current": order.volume,
            "price_open": order.price_open,
            "sl": order.sl,
            "tp": order.tp,
            "price_current": order.quote.ask if _side(order) == BUY else order.quote.bid,
            "price_stoplimit": 0.0,
            "symbol": order.quote.spec.name,
            "comment": "",
            "external_id": "",
        }
