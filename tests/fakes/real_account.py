"""A test account that looks like a real one, scripted into a ``FakeMT5``.

``RealAccount.build(fake, start_utc, end_utc, seed)`` writes months of history in TRUE UTC and
hands every record to the fake, which stores it in server time through its own clock (give it
``offset_s=ny_close_offset`` and the history crosses both US daylight-saving changes). One
seeded ``random.Random`` drives everything, so a seed always gives the same account.

What a real account has and this one scripts:

- a first deposit at the start, later deposits and withdrawals (some minutes before and after
  the broker's midnight, 17:00 New York), top-ups when the balance runs low;
- credit given and taken back (``DEAL_TYPE_CREDIT``: outside the balance, inside the equity);
- trades only while forex trades (Sunday 17:00 to Friday 17:00 New York) on EURUSD, GBPUSD,
  USDJPY and XAUUSD at prices from one random walk per symbol, bought at the ask, sold at the bid;
- hedging: IN/OUT round trips, partial closes (several OUTs for one position), close-by
  (an OUT_BY pair), positions held over weekends and over both daylight-saving changes;
- netting (``hedging=False``): one position per symbol, added to, partly closed, reversed by INOUT;
- commission on every trading deal, fees on some, swap on closing deals held over a rollover;
- a last broker day with trades and a deposit after its midnight, a few positions left open.

Every deal also carries the generator's own knowledge of which round trip each part of it
belongs to (``legs``), so ``tests/fakes/ground_truth.py`` can work out the truth without the
app's code. Money is kept in integer cents; volumes in hundredths of a lot.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.fakes.fake_mt5 import FakeMT5

NEW_YORK = ZoneInfo("America/New_York")
SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

# MetaTrader5 constants (the package's values; the generator does not borrow the app's copies)
BUY, SELL, BALANCE, CREDIT = 0, 1, 2, 3
IN, OUT, INOUT, OUT_BY = 0, 1, 2, 3
REASON_CLIENT, REASON_EXPERT, REASON_SL, REASON_TP = 0, 3, 4, 5
MARGIN_NETTING, MARGIN_HEDGING = 0, 2
ROLLOVER_WEIGHTS = (1, 1, 3, 1, 1, 0, 0)  # by New York weekday of the 17:00 rollover: Wednesday is triple
LOW_BALANCE_C = 150_000  # below $1,500 the trader tops the account up
TOP_UP_C = 500_000


@dataclass(frozen=True, slots=True)
class Instrument:
    """Contract size, quote digits, a starting price and per-0.01-lot costs in whole cents."""

    symbol: str
    contract: int
    digits: int
    start_price: float
    hourly_vol: float
    spread: float
    max_volume_c: int
    commission_c: int  # per 0.01 lot per side
    swap_long_c: int  # per 0.01 lot per rollover
    swap_short_c: int


INSTRUMENTS = (
    Instrument("EURUSD", 100_000, 5, 1.0350, 0.0007, 0.00008, 100, 4, -7, 2),
    Instrument("GBPUSD", 100_000, 5, 1.2450, 0.0008, 0.00012, 80, 4, -5, 1),
    Instrument("USDJPY", 100_000, 3, 157.50, 0.0008, 0.012, 80, 4, 12, -25),
    Instrument("XAUUSD", 100, 2, 2640.0, 0.0015, 0.25, 30, 6, -45, 20),
)
BY_SYMBOL = {i.symbol: i for i in INSTRUMENTS}


# ---------------------------------------------------------------- the forex clock, in New York time


def ny(utc_ms: int) -> datetime:
    return datetime.fromtimestamp(utc_ms / 1000, NEW_YORK)


def utc_ms_of(moment: datetime) -> int:
    """UTC ms of an aware datetime (New York wall times resolve with the offset of that date)."""
    return round(moment.timestamp() * 1000)


def market_open(utc_ms: int) -> bool:
    """Forex trades from Sunday 17:00 to Friday 17:00 New York."""
    moment = ny(utc_ms)
    weekday, hour = moment.weekday(), moment.hour
    return not ((weekday == 4 and hour >= 17) or weekday == 5 or (weekday == 6 and hour < 17))


def next_open(utc_ms: int) -> int:
    """The Sunday 17:00 New York that reopens the market after ``utc_ms`` (a closed moment)."""
    moment = ny(utc_ms)
    sunday = (moment + timedelta(days=(6 - moment.weekday()) % 7)).replace(hour=17, minute=0, second=0, microsecond=0)
    return utc_ms_of(sunday)


def broker_midnight_at_or_before(utc_ms: int) -> int:
    """The broker's midnight (server 00:00 = 17:00 New York) that starts the day holding ``utc_ms``."""
    moment = ny(utc_ms)
    close = moment.replace(hour=17, minute=0, second=0, microsecond=0)
    if close > moment:
        close = (moment - timedelta(days=1)).replace(hour=17, minute=0, second=0, microsecond=0)
    return utc_ms_of(close)


def last_open_at_or_before(utc_ms: int) -> int:
    """``utc_ms`` if the market is open then, else one minute before the Friday close before it."""
    if market_open(utc_ms):
        return utc_ms
    moment = ny(utc_ms)
    friday = (moment - timedelta(days=(moment.weekday() - 4) % 7)).replace(hour=17, minute=0, second=0, microsecond=0)
    return utc_ms_of(friday) - MINUTE_MS


def rollovers(open_ms: int, close_ms: int) -> int:
    """Swap days charged to a position held from ``open_ms`` to ``close_ms`` (Wednesday counts three)."""
    nights = 0
    midnight = broker_midnight_at_or_before(close_ms)
    while midnight > open_ms:
        moment = ny(midnight)
        nights += ROLLOVER_WEIGHTS[moment.weekday()]
        midnight = utc_ms_of((moment - timedelta(days=1)).replace(hour=17))
    return nights


def dst_sundays(start_ms: int, end_ms: int) -> list[int]:
    """UTC ms of New York noon on each Sunday when US daylight saving starts or ends in the range."""
    found, day = [], ny(start_ms).replace(hour=12, minute=0, second=0, microsecond=0)
    while utc_ms_of(day) < end_ms:
        following = day + timedelta(days=1)
        if following.utcoffset() != day.utcoffset():
            found.append(utc_ms_of(following))
        day = following
    return found


# ---------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Leg:
    """The part of a deal that belongs to one round trip (a reversal has two), money in cents."""

    trip: int
    volume_c: int
    closes: bool
    profit_c: int = 0
    commission_c: int = 0
    swap_c: int = 0
    fee_c: int = 0


@dataclass(frozen=True, slots=True)
class TrueDeal:
    """A deal as it really happened: UTC time, money in cents, and the round trips it belongs to."""

    ticket: int
    order: int
    time_utc_ms: int
    type: int
    entry: int
    position_id: int
    reason: int
    volume_c: int
    price: float
    commission_c: int
    swap_c: int
    profit_c: int
    fee_c: int
    symbol: str
    comment: str
    legs: tuple[Leg, ...]

    @property
    def money_c(self) -> int:
        return self.profit_c + self.commission_c + self.swap_c + self.fee_c


@dataclass(frozen=True, slots=True)
class OpenPosition:
    position_id: int
    symbol: str
    side: int
    volume_c: int
    price_open: float
    open_utc_ms: int
    price_current: float
    swap_c: int
    profit_c: int


@dataclass(slots=True)
class _Draft:
    """A deal before tickets: ``position`` is the generator's key, replaced by the real id later."""

    time_ms: int
    type: int
    entry: int = IN
    position: int = 0
    reason: int = REASON_CLIENT
    volume_c: int = 0
    price: float = 0.0
    commission_c: int = 0
    swap_c: int = 0
    profit_c: int = 0
    fee_c: int = 0
    symbol: str = ""
    comment: str = ""
    legs: tuple[Leg, ...] = ()
    flow: str = ""  # balance deals: "deposit" | "withdrawal" | "deposit_or_withdrawal", amount set in time order


@dataclass(slots=True)
class _Holding:
    """An open position while the generator trades it."""

    key: int
    trip: int
    symbol: str
    side: int
    volume_c: int
    price_open: float
    open_ms: int
    trip_open_ms: int


# ---------------------------------------------------------------- prices


class Market:
    """One hourly random walk per symbol, interpolated: the bid is a pure function of the UTC time."""

    def __init__(self, rng: random.Random, start_ms: int, end_ms: int) -> None:
        self.origin = start_ms - start_ms % HOUR_MS - HOUR_MS
        hours = (end_ms - self.origin) // HOUR_MS + 3
        self.paths: dict[str, list[float]] = {}
        for inst in INSTRUMENTS:
            price, path = inst.start_price, []
            for _ in range(hours):
                path.append(price)
                price *= math.exp(rng.gauss(0.0, inst.hourly_vol))
            self.paths[inst.symbol] = path

    def bid(self, symbol: str, utc_ms: int) -> float:
        at = (utc_ms - self.origin) / HOUR_MS
        hour = int(at)
        path = self.paths[symbol]
        return round(path[hour] + (path[hour + 1] - path[hour]) * (at - hour), BY_SYMBOL[symbol].digits)

    def ask(self, symbol: str, utc_ms: int) -> float:
        inst = BY_SYMBOL[symbol]
        return round(self.bid(symbol, utc_ms) + inst.spread, inst.digits)

    def fill(self, symbol: str, side: int, utc_ms: int) -> float:
        """A buy fills at the ask, a sell at the bid."""
        return self.ask(symbol, utc_ms) if side == BUY else self.bid(symbol, utc_ms)


def profit_c(symbol: str, side: int, price_open: float, price_close: float, volume_c: int) -> int:
    """The documented formula: price change x contract size x lots, a JPY profit converted at the close."""
    inst = BY_SYMBOL[symbol]
    change = price_close - price_open if side == BUY else price_open - price_close
    money = change * inst.contract * volume_c / 100
    if symbol == "USDJPY":
        money /= price_close
    return round(money * 100)


def _opposite(side: int) -> int:
    return SELL if side == BUY else BUY


# ---------------------------------------------------------------- the account


@dataclass
class RealAccount:
    """The generated account: its true deals (time order), open positions and account figures."""

    fake: FakeMT5
    hedging: bool
    start_ms: int
    end_ms: int
    market: Market
    deals: list[TrueDeal] = field(default_factory=list)
    positions: list[OpenPosition] = field(default_factory=list)
    balance_c: int = 0
    credit_c: int = 0
    day_start_ms: int = 0  # the broker midnight before the end: today's start

    @classmethod
    def build(
        cls,
        fake: FakeMT5,
        start_utc: datetime,
        end_utc: datetime,
        seed: int = 1,
        *,
        hedging: bool = True,
        deals_target: int = 800,
    ) -> RealAccount:
        """Script ``fake`` with the account; ``end_utc`` (the last poll, "now") must fall while the
        market is open, at least half an hour into a broker day."""
        start_ms, end_ms = utc_ms_of(start_utc), utc_ms_of(end_utc)
        day_start = broker_midnight_at_or_before(end_ms)
        if not market_open(end_ms) or end_ms - day_start < 30 * MINUTE_MS or end_ms - start_ms < 30 * DAY_MS:
            raise ValueError("end_utc must be a market-open time at least 30 min into a broker day, 30 days on")
        rng = random.Random(seed)
        account = cls(fake, hedging, start_ms, end_ms, Market(rng, start_ms, end_ms), day_start_ms=day_start)
        _Script(account, rng, deals_target).run()
        return account

    # ------------------------------------------------------------ views the tests use
    @property
    def trading_deals(self) -> list[TrueDeal]:
        return [d for d in self.deals if d.type in (BUY, SELL)]

    @property
    def equity_c(self) -> int:
        """Balance, credit and the open positions' profit and swap, as account_info() reports them."""
        return self.balance_c + self.credit_c + sum(p.profit_c + p.swap_c for p in self.positions)

    def market_closed(self, now_utc: datetime) -> None:
        """The terminal read while the market is closed: the fake's clock at ``now_utc`` (a weekend)
        and every tick stale, stamped at the last Friday 16:59 New York."""
        now_ms = utc_ms_of(now_utc)
        if market_open(now_ms) or now_ms < self.end_ms:
            raise ValueError(f"{now_utc} is not in a weekend after the history")
        last = last_open_at_or_before(now_ms)
        self.fake.clock = lambda: now_ms / 1000
        priced = min(last, self.end_ms)  # the prices stopped with the history
        for inst in INSTRUMENTS:
            bid, ask = self.market.bid(inst.symbol, priced), self.market.ask(inst.symbol, priced)
            self.fake.set_tick(inst.symbol, bid, ask, time_utc=last / 1000)


class _Script:
    """Draws the plans, prices them, sorts them into time order, assigns tickets, fills the fake."""

    def __init__(self, account: RealAccount, rng: random.Random, deals_target: int) -> None:
        self.acc = account
        self.rng = rng
        self.market = account.market
        self.target = deals_target
        self.drafts: list[_Draft] = []
        self.keys = 0
        self.trips = 0
        self.open: list[_Holding] = []
        # the main history stops half an hour before today's broker midnight: nothing is open across it
        self.limit = last_open_at_or_before(account.day_start_ms - 30 * MINUTE_MS)

    def run(self) -> None:
        lo, hi = self.acc.start_ms + HOUR_MS, self.limit - HOUR_MS
        fridays = [
            utc_ms_of((ny(sunday) - timedelta(days=2)).replace(hour=11)) + self.rng.randint(0, HOUR_MS)
            for sunday in dst_sundays(lo + 4 * DAY_MS, hi - 2 * DAY_MS)
        ]
        if self.acc.hedging:
            self._hedging(lo, hi, fridays)
        else:
            self._netting(lo, hi, fridays)
        self._today()
        self._flows()
        self._finish()

    # ------------------------------------------------------------ helpers
    def _key(self) -> int:
        self.keys += 1
        return self.keys

    def _trip(self) -> int:
        self.trips += 1
        return self.trips

    def _snap(self, utc_ms: int) -> int:
        """A trading moment: ``utc_ms`` while the market is open, else a little after it reopens."""
        if market_open(utc_ms):
            return utc_ms
        return next_open(utc_ms) + self.rng.randint(2, 90) * MINUTE_MS + self.rng.randint(0, 59_999)

    def _moment(self, lo: int, hi: int) -> int:
        return self._snap(self.rng.randint(lo, hi))

    def _hold_ms(self) -> int:
        """Scalps, day trades, swing trades over weekends."""
        r = self.rng.random()
        if r < 0.6:
            return self.rng.randint(5 * MINUTE_MS, 8 * HOUR_MS)
        if r < 0.9:
            return self.rng.randint(8 * HOUR_MS, 3 * DAY_MS)
        return self.rng.randint(3 * DAY_MS, 12 * DAY_MS)

    def _instrument(self) -> Instrument:
        return self.rng.choices(INSTRUMENTS, weights=(40, 25, 20, 15))[0]

    def _volume(self, inst: Instrument) -> int:
        return self.rng.choice((1, 2, 3, 5, 10, 10, 20, 25, 30, 50, inst.max_volume_c))

    def _fee(self, volume_c: int) -> int:
        """A dollar a lot on some deals (exchange or regulatory fees)."""
        return -volume_c if self.rng.random() < 0.1 else 0

    def _reason(self) -> int:
        return self.rng.choice((REASON_CLIENT, REASON_CLIENT, REASON_EXPERT, REASON_SL, REASON_TP))

    def _open(self, inst: Instrument, side: int, volume_c: int, t: int, key: int, trip: int) -> _Holding:
        price = self.market.fill(inst.symbol, side, t)
        commission, fee = -inst.commission_c * volume_c, self._fee(volume_c)
        leg = Leg(trip, volume_c, False, commission_c=commission, fee_c=fee)
        self.drafts.append(
            _Draft(t, side, IN, key, REASON_CLIENT, volume_c, price, commission, 0, 0, fee, inst.symbol, "", (leg,))
        )
        return _Holding(key, trip, inst.symbol, side, volume_c, price, t, t)

    def _swap(self, hold: _Holding, volume_c: int, t: int) -> int:
        inst = BY_SYMBOL[hold.symbol]
        rate = inst.swap_long_c if hold.side == BUY else inst.swap_short_c
        return rate * volume_c * rollovers(hold.open_ms, t)

    def _close(self, hold: _Holding, volume_c: int, t: int, entry: int = OUT, price: float | None = None) -> None:
        """An OUT (or OUT_BY at ``price``) of ``volume_c`` from ``hold``; profit by the formula."""
        inst = BY_SYMBOL[hold.symbol]
        side = _opposite(hold.side)
        price = self.market.fill(hold.symbol, side, t) if price is None else price
        profit = profit_c(hold.symbol, hold.side, hold.price_open, price, volume_c)
        commission, fee, swap = -inst.commission_c * volume_c, self._fee(volume_c), self._swap(hold, volume_c, t)
        leg = Leg(hold.trip, volume_c, True, profit, commission, swap, fee)
        reason = REASON_CLIENT if entry == OUT_BY else self._reason()
        self.drafts.append(
            _Draft(t, side, entry, hold.key, reason, volume_c, price, commission, swap, profit, fee, hold.symbol, "",
                   (leg,))
        )  # fmt: skip
        hold.volume_c -= volume_c

    # ------------------------------------------------------------ hedging
    def _hedging(self, lo: int, hi: int, fridays: list[int]) -> None:
        for friday in fridays:
            self._dst_straddle(friday)
        plans = max(1, self.target * 100 // 270)  # a plan makes about 2.7 deals
        for t in sorted(self._moment(lo, hi) for _ in range(plans)):
            kind = self.rng.random()
            for _ in range(5):  # a plan that would run past the limit is drawn again, shorter
                if kind < 0.6:
                    done = self._plan_single(t)
                elif kind < 0.87:
                    done = self._plan_partials(t)
                else:
                    done = self._plan_close_by(t)
                if done:
                    break

    def _exits(self, t: int, count: int) -> list[int] | None:
        times, at = [], t
        for _ in range(count):
            at = self._snap(at + self._hold_ms())
            times.append(at)
        return times if times[-1] <= self.limit else None

    def _plan_single(self, t: int) -> bool:
        exits = self._exits(t, 1)
        if exits is None:
            return False
        inst = self._instrument()
        hold = self._open(inst, self.rng.choice((BUY, SELL)), self._volume(inst), t, self._key(), self._trip())
        self._close(hold, hold.volume_c, exits[0])
        return True

    def _plan_partials(self, t: int) -> bool:
        count = self.rng.choice((2, 2, 3))
        exits = self._exits(t, count)
        if exits is None:
            return False
        inst = self._instrument()
        volume = max(count, self._volume(inst))
        hold = self._open(inst, self.rng.choice((BUY, SELL)), volume, t, self._key(), self._trip())
        cuts = sorted(self.rng.sample(range(1, volume), count - 1))
        for at, part in zip(exits, _parts(volume, cuts), strict=True):
            self._close(hold, part, at)
        return True

    def _plan_close_by(self, t: int) -> bool:
        """A opened, then the opposite B; A closed by B (A at B's open price, B at its own: B books
        no profit); whatever volume is left open is closed later with an OUT."""
        times = self._exits(t, 3)
        if times is None:
            return False
        t_b, t_by, t_rest = times
        inst = self._instrument()
        side = self.rng.choice((BUY, SELL))
        volume_a = self._volume(inst)
        volume_b = volume_a if self.rng.random() < 0.5 else max(1, volume_a + self.rng.choice((-1, 1)) * volume_a // 2)
        a = self._open(inst, side, volume_a, t, self._key(), self._trip())
        b = self._open(inst, _opposite(side), volume_b, t_b, self._key(), self._trip())
        both = min(volume_a, volume_b)
        self._close(a, both, t_by, OUT_BY, price=b.price_open)
        self._close(b, both, t_by, OUT_BY, price=b.price_open)
        for hold in (a, b):
            if hold.volume_c:
                self._close(hold, hold.volume_c, t_rest)
        return True

    def _dst_straddle(self, friday: int) -> None:
        """A position opened the day before the Friday before a daylight-saving Sunday, partly closed
        that Friday and closed on Monday: its holding time crosses the change of the server clock."""
        inst = BY_SYMBOL["EURUSD"]
        hold = self._open(inst, self.rng.choice((BUY, SELL)), 20, friday - DAY_MS, self._key(), self._trip())
        self._close(hold, 5, friday)
        self._close(hold, 15, friday + 3 * DAY_MS)

    # ------------------------------------------------------------ netting
    def _netting(self, lo: int, hi: int, fridays: list[int]) -> None:
        """One position per symbol: IN from flat; then add, partly close, close or reverse (INOUT).
        Each symbol holds a position from the Friday before a daylight-saving Sunday to Monday."""
        per_symbol = max(4, self.target // len(INSTRUMENTS))
        for inst in INSTRUMENTS:
            drawn = {self._moment(lo, hi) for _ in range(per_symbol)}
            quiet = [t for t in drawn if not any(f <= t <= f + 3 * DAY_MS for f in fridays)]
            hold: _Holding | None = None
            for t in sorted([*quiet, *fridays]):
                hold = self._net_step(inst, hold, t, keep=t in fridays)
            if hold is not None:  # flat before today's midnight
                self._close(hold, hold.volume_c, self.limit - self.rng.randint(1, 20) * MINUTE_MS)

    def _net_step(self, inst: Instrument, hold: _Holding | None, t: int, keep: bool) -> _Holding | None:
        """``keep``: open or add, never close (the position must stay open over the weekend)."""
        if hold is None:
            return self._open(inst, self.rng.choice((BUY, SELL)), self._volume(inst), t, self._key(), self._trip())
        r = self.rng.random()
        if keep or r < 0.15:  # add to the position: a new average open price
            price = self.market.fill(inst.symbol, hold.side, t)
            volume = self._volume(inst)
            commission, fee = -inst.commission_c * volume, self._fee(volume)
            leg = Leg(hold.trip, volume, False, commission_c=commission, fee_c=fee)
            self.drafts.append(
                _Draft(t, hold.side, IN, hold.key, REASON_CLIENT, volume, price, commission, 0, 0, fee, inst.symbol,
                       "", (leg,))
            )  # fmt: skip
            total = hold.volume_c + volume
            hold.price_open = (hold.price_open * hold.volume_c + price * volume) / total
            hold.volume_c = total
            return hold
        if r < 0.35 and hold.volume_c > 1:
            self._close(hold, self.rng.randint(1, hold.volume_c - 1), t)
            return hold
        if r < 0.65:
            self._close(hold, hold.volume_c, t)
            return None
        return self._reverse(inst, hold, t)

    def _reverse(self, inst: Instrument, hold: _Holding, t: int) -> _Holding:
        """INOUT: closes ``hold`` and opens the rest on the other side, same position id; profit and
        swap go to the closed part, commission and fee split by volume."""
        side = _opposite(hold.side)
        closing, rest = hold.volume_c, self._volume(inst)
        volume = closing + rest
        price = self.market.fill(inst.symbol, side, t)
        profit = profit_c(inst.symbol, hold.side, hold.price_open, price, closing)
        swap = self._swap(hold, closing, t)
        fee_rate = 1 if self.rng.random() < 0.1 else 0
        new_trip = self._trip()
        legs = (
            Leg(hold.trip, closing, True, profit, -inst.commission_c * closing, swap, -fee_rate * closing),
            Leg(new_trip, rest, False, 0, -inst.commission_c * rest, 0, -fee_rate * rest),
        )
        self.drafts.append(
            _Draft(t, side, INOUT, hold.key, self._reason(), volume, price, -inst.commission_c * volume, swap, profit,
                   -fee_rate * volume, inst.symbol, "", legs)
        )  # fmt: skip
        return _Holding(hold.key, new_trip, inst.symbol, side, rest, price, t, t)

    # ------------------------------------------------------------ today
    def _today(self) -> None:
        """The last broker day: trades after its midnight, one round trip closed, a few positions left open."""
        lo, hi = self.acc.day_start_ms + 5 * MINUTE_MS, self.acc.end_ms - 5 * MINUTE_MS
        t1, t2, t3, t4 = sorted(self.rng.randint(lo, hi) for _ in range(4))
        gbp, eur, gold = BY_SYMBOL["GBPUSD"], BY_SYMBOL["EURUSD"], BY_SYMBOL["XAUUSD"]
        closed = self._open(gbp, BUY, 30, t1, self._key(), self._trip())
        self._close(closed, 30, t3)
        self.open.append(self._open(eur, SELL, 50, t2, self._key(), self._trip()))
        self.open.append(self._open(gold, BUY, 10, t4, self._key(), self._trip()))

    # ------------------------------------------------------------ money moved
    def _flows(self) -> None:
        """The first deposit; deposits and withdrawals over the months, some minutes either side of a
        broker midnight (winter and summer); credit given and taken back; a deposit just after today's
        midnight and a withdrawal just before it."""
        acc, rng = self.acc, self.rng
        first = rng.randint(5, 20) * 100_000
        self.drafts.append(_Draft(acc.start_ms, BALANCE, profit_c=first, comment="Initial deposit"))
        lo, hi = acc.start_ms + DAY_MS, self.limit
        for _ in range(max(4, (hi - lo) // (20 * DAY_MS))):
            self.drafts.append(_Draft(self._moment(lo, hi), BALANCE, flow="deposit_or_withdrawal"))
        for month_fraction in (0.12, 0.55, 0.62, 0.9):  # winter, summer, summer, late autumn
            day = broker_midnight_at_or_before(self._moment(lo + int((hi - lo) * month_fraction), hi))
            before = day - rng.randint(1, 9) * MINUTE_MS - rng.randint(0, 59_999)
            after = day + rng.randint(1, 9) * MINUTE_MS + rng.randint(0, 59_999)
            self.drafts.append(_Draft(before, BALANCE, flow="withdrawal"))
            self.drafts.append(_Draft(after, BALANCE, flow="deposit"))
        span = hi - lo
        given, taken = self._moment(lo, lo + span // 3), self._moment(lo + span // 2, hi - span // 5)
        amount = rng.randint(10, 30) * 10_000
        self.drafts.append(_Draft(given, CREDIT, profit_c=amount, comment="Credit in"))
        self.drafts.append(_Draft(taken, CREDIT, profit_c=-amount, comment="Credit out"))
        self.drafts.append(_Draft(self._moment(hi - span // 10, hi), CREDIT, profit_c=50_000, comment="Credit in"))
        midnight = acc.day_start_ms
        self.drafts.append(_Draft(midnight - rng.randint(60_000, 240_000), BALANCE, flow="withdrawal"))
        self.drafts.append(_Draft(midnight + rng.randint(60_000, 240_000), BALANCE, flow="deposit"))

    def _amount(self, draft: _Draft, balance_c: int) -> None:
        """A balance deal's amount, decided in time order: withdrawals only from a healthy balance."""
        wants = draft.flow
        if wants == "deposit_or_withdrawal":
            wants = self.rng.choice(("deposit", "withdrawal"))
        if wants == "withdrawal" and balance_c > 4 * LOW_BALANCE_C:
            draft.profit_c = -round(balance_c * self.rng.uniform(0.04, 0.15))
            draft.comment = "Withdrawal"
        else:
            draft.profit_c = self.rng.randint(50, 500) * 1000 + self.rng.randint(0, 99)
            draft.comment = "Deposit"

    # ------------------------------------------------------------ tickets and the fake
    def _finish(self) -> None:
        acc, fake = self.acc, self.acc.fake
        drafts = sorted(enumerate(self.drafts), key=lambda pair: (pair[1].time_ms, pair[0]))
        balance = credit = 0
        ordered: list[_Draft] = []
        for _, draft in drafts:
            money = draft.profit_c + draft.commission_c + draft.swap_c + draft.fee_c
            if draft.flow:
                self._amount(draft, balance)
            elif draft.type in (BUY, SELL) and balance + money < LOW_BALANCE_C:
                top_up = _Draft(draft.time_ms - SECOND_MS, BALANCE, profit_c=TOP_UP_C, comment="Deposit")
                ordered.append(top_up)
                balance += TOP_UP_C
            ordered.append(draft)
            if draft.type == CREDIT:
                credit += draft.profit_c
            else:
                balance += money if not draft.flow else draft.profit_c
        ordered.sort(key=lambda d: d.time_ms)  # a top-up may land before a deal within its second
        order_ticket, deal_ticket = 20_000_000, 50_000_000
        position_ids: dict[int, int] = {}
        for draft in ordered:
            order_ticket += 1
            deal_ticket += 1
            trading = draft.type in (BUY, SELL)
            position_id = position_ids.setdefault(draft.position, order_ticket) if trading else 0
            deal = TrueDeal(
                deal_ticket, order_ticket if trading else 0, draft.time_ms, draft.type, draft.entry, position_id,
                draft.reason, draft.volume_c, draft.price, draft.commission_c, draft.swap_c, draft.profit_c,
                draft.fee_c, draft.symbol, draft.comment, draft.legs,
            )  # fmt: skip
            acc.deals.append(deal)
            fake.add_deal(
                deal.time_utc_ms / 1000, deal.symbol, ticket=deal.ticket, order=deal.order, type=deal.type,
                entry=deal.entry, position_id=deal.position_id, reason=deal.reason, volume=deal.volume_c / 100,
                price=deal.price, commission=deal.commission_c / 100, swap=deal.swap_c / 100,
                profit=deal.profit_c / 100, fee=deal.fee_c / 100, comment=deal.comment,
            )  # fmt: skip
        acc.balance_c, acc.credit_c = balance, credit
        self._positions(position_ids)

    def _positions(self, position_ids: dict[int, int]) -> None:
        acc, fake, end = self.acc, self.acc.fake, self.acc.end_ms
        margin = 0.0
        for hold in self.open:
            inst = BY_SYMBOL[hold.symbol]
            current = self.market.fill(hold.symbol, _opposite(hold.side), end)
            position = OpenPosition(
                position_ids[hold.key], hold.symbol, hold.side, hold.volume_c, hold.price_open, hold.trip_open_ms,
                current, self._swap(hold, hold.volume_c, end),
                profit_c(hold.symbol, hold.side, hold.price_open, current, hold.volume_c),
            )  # fmt: skip
            acc.positions.append(position)
            fake.add_position(
                hold.symbol, time_utc=hold.open_ms / 1000, ticket=position.position_id,
                identifier=position.position_id, type=hold.side, volume=hold.volume_c / 100,
                price_open=hold.price_open, price_current=current, swap=position.swap_c / 100,
                profit=position.profit_c / 100,
            )  # fmt: skip
            notional = inst.contract * hold.volume_c / 100 * (1.0 if hold.symbol == "USDJPY" else current)
            margin += notional / 100  # leverage 1:100
        for inst in INSTRUMENTS:
            fake.set_tick(inst.symbol, self.market.bid(inst.symbol, end), self.market.ask(inst.symbol, end))
        floating_c = sum(p.profit_c + p.swap_c for p in acc.positions)
        equity = acc.equity_c / 100
        margin = round(margin, 2)
        fake.set_account(
            trade_mode=2, leverage=100, margin_mode=MARGIN_HEDGING if acc.hedging else MARGIN_NETTING,
            balance=acc.balance_c / 100, credit=acc.credit_c / 100, profit=floating_c / 100, equity=equity,
            margin=margin, margin_free=round(equity - margin, 2),
            margin_level=round(equity / margin * 100, 2) if margin else 0.0, name="Real-looking Trader",
        )  # fmt: skip


def _parts(volume_c: int, cuts: list[int]) -> list[int]:
    edges = [0, *cuts, volume_c]
    return [b - a for a, b in itertools.pairwise(edges)]
