"""The real-looking test account: first that the generator is consistent (checked here with plain
arithmetic, not with its own helpers), then that the app's money figures equal the ground truth.

The app's path is the one the streamer takes: ``MT5Source.new_deals()`` until it has no more,
``Store.add_deals`` on fakeredis, ``build_report``. Times are checked in test_real_account_times.py.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import fakeredis
import pytest

from services.analytics.period import Report, build_report
from services.ingest.sources.mt5 import MT5Source
from services.storage.store import Store
from tests.fakes.fake_mt5 import FakeMT5, ny_close_offset
from tests.fakes.ground_truth import GroundTruth, broker_date, broker_midnight
from tests.fakes.real_account import RealAccount

START = datetime(2025, 1, 6, tzinfo=UTC)  # before the spring change (9 Mar) and the autumn one (2 Nov)
END = datetime(2025, 11, 28, tzinfo=UTC)  # Thursday 19:00 New York: two hours into a broker day
WEEKEND = datetime(2025, 11, 29, 12, tzinfo=UTC)  # Saturday
NY = ZoneInfo("America/New_York")
CONTRACT = {"EURUSD": 100_000, "GBPUSD": 100_000, "USDJPY": 100_000, "XAUUSD": 100}
BUY, SELL, BALANCE, CREDIT = 0, 1, 2, 3
IN, OUT, INOUT, OUT_BY = 0, 1, 2, 3


def make(hedging: bool = True, seed: int = 7, deals_target: int = 800) -> tuple[FakeMT5, RealAccount]:
    now = END.timestamp()
    fake = FakeMT5(offset_s=ny_close_offset, clock=lambda: now, sleep=lambda s: None)
    account = RealAccount.build(fake, START, END, seed, hedging=hedging, deals_target=deals_target)
    assert fake.module.initialize()  # a session for the tests' own calls; the app's connect makes its own
    return fake, account


@pytest.fixture(scope="module")
def hedged() -> tuple[FakeMT5, RealAccount]:
    return make(hedging=True)


@pytest.fixture(scope="module")
def netted() -> tuple[FakeMT5, RealAccount]:
    return make(hedging=False)


@pytest.fixture(params=["hedging", "netting"])
def either(request: pytest.FixtureRequest, hedged: Any, netted: Any) -> tuple[FakeMT5, RealAccount]:
    return hedged if request.param == "hedging" else netted


def server_offset_s(utc_ms: int) -> int:
    """New York + 7 h, from zoneinfo directly."""
    return int(datetime.fromtimestamp(utc_ms / 1000, NY).utcoffset().total_seconds()) + 7 * 3600


def ny_time(utc_ms: int) -> datetime:
    return datetime.fromtimestamp(utc_ms / 1000, NY)


def weekend(utc_ms: int) -> bool:
    moment = ny_time(utc_ms)
    return (
        (moment.weekday() == 4 and moment.hour >= 17)
        or moment.weekday() == 5
        or (moment.weekday() == 6 and moment.hour < 17)
    )


def over_a_weekend(open_ms: int, close_ms: int) -> bool:
    """A Saturday (New York) lies between the two moments."""
    first, last = ny_time(open_ms).date(), ny_time(close_ms).date()
    return any((first + timedelta(days=n)).weekday() == 5 for n in range((last - first).days + 1))


def all_deals(fake: FakeMT5) -> tuple[Any, ...]:
    return fake.module.history_deals_get(0, 2**31 - 1)


def cents(value: float) -> int:
    return round(value * 100)


# ---------------------------------------------------------------- the generator


def test_the_same_seed_gives_the_same_account_and_another_seed_another() -> None:
    _, first = make(seed=3, deals_target=200)
    _, again = make(seed=3, deals_target=200)
    _, other = make(seed=4, deals_target=200)
    assert first.deals == again.deals and first.positions == again.positions
    assert first.deals != other.deals


def test_balance_is_every_balance_moving_deal_and_account_info_agrees(either: Any) -> None:
    fake, acc = either
    records = all_deals(fake)
    assert len(records) == len(acc.deals) > 600
    info = fake.module.account_info()
    balance = sum(cents(d.profit + d.commission + d.swap + d.fee) for d in records if d.type != CREDIT)
    credit = sum(cents(d.profit) for d in records if d.type == CREDIT)
    assert cents(info.balance) == balance and cents(info.credit) == credit == 50_000
    positions = fake.module.positions_get()
    assert len(positions) == len(acc.positions) == 2
    floating = sum(cents(p.profit) + cents(p.swap) for p in positions)
    assert cents(info.profit) == floating and cents(info.equity) == balance + credit + floating
    assert cents(info.margin_free) == cents(info.equity) - cents(info.margin) and info.margin > 0
    running = 0
    for deal in sorted(records, key=lambda d: d.time_msc):
        running += 0 if deal.type == CREDIT else cents(deal.profit + deal.commission + deal.swap + deal.fee)
        assert running > 0, "the balance never goes below zero"


def test_trades_happen_only_while_the_forex_market_is_open(either: Any) -> None:
    _, acc = either
    trading = acc.trading_deals
    assert trading and not [d.ticket for d in trading if weekend(d.time_utc_ms)]
    assert {d.symbol for d in trading} == set(CONTRACT)


def test_the_fake_serves_every_deal_in_server_time_across_both_daylight_saving_changes(either: Any) -> None:
    fake, acc = either
    truth = {d.ticket: d for d in acc.deals}
    offsets = Counter()
    for record in all_deals(fake):
        utc_ms = truth[record.ticket].time_utc_ms
        offset = server_offset_s(utc_ms)
        assert record.time_msc == utc_ms + offset * 1000 and record.time == record.time_msc // 1000
        offsets[offset] += 1
    assert offsets[7200] > 50 and offsets[10800] > 50
    trades = GroundTruth(acc).trades
    crossing = [t for t in trades if server_offset_s(t.open_utc_ms) != server_offset_s(t.close_utc_ms)]
    assert len(crossing) >= 2, "positions held over the spring and the autumn change"
    assert {server_offset_s(t.open_utc_ms) for t in crossing} == {7200, 10800}
    assert sum(1 for t in trades if over_a_weekend(t.open_utc_ms, t.close_utc_ms)) >= 5


def test_hedging_has_partial_closes_and_close_by_pairs(hedged: Any) -> None:
    fake, acc = hedged
    assert fake.module.account_info().margin_mode == 2
    outs = Counter(d.position_id for d in acc.trading_deals if d.entry == OUT)
    assert sum(1 for n in outs.values() if n >= 2) >= 20, "positions closed in several parts"
    by_time: dict[int, list[Any]] = defaultdict(list)
    for deal in acc.trading_deals:
        if deal.entry == OUT_BY:
            by_time[deal.time_utc_ms].append(deal)
    assert len(by_time) >= 10
    for pair in by_time.values():
        a, b = pair
        assert a.position_id != b.position_id and {a.type, b.type} == {BUY, SELL} and a.volume_c == b.volume_c
    assert not [d for d in acc.trading_deals if d.entry == INOUT]


def test_netting_keeps_one_position_per_symbol_and_reverses_it(netted: Any) -> None:
    fake, acc = netted
    assert fake.module.account_info().margin_mode == 0
    assert sum(1 for d in acc.trading_deals if d.entry == INOUT) >= 20
    net: dict[str, int] = defaultdict(int)  # signed volume per symbol
    current: dict[str, int] = {}
    for deal in acc.trading_deals:
        if net[deal.symbol] == 0:
            assert deal.entry == IN and deal.position_id not in current.values(), "a new position from flat"
            current[deal.symbol] = deal.position_id
        assert deal.position_id == current[deal.symbol], "one position per symbol"
        before = net[deal.symbol]
        net[deal.symbol] += deal.volume_c if deal.type == BUY else -deal.volume_c
        if deal.entry == INOUT:
            assert before * net[deal.symbol] < 0, "a reversal flips the side"
    assert {s for s, v in net.items() if v} == {p.symbol for p in acc.positions}


def test_every_close_books_the_documented_profit(either: Any) -> None:
    """(close - open) x contract x lots, sells reversed, USDJPY converted at the close price; a
    close-by closes at the opposite position's open price; netting opens at the average price."""
    _, acc = either
    held: dict[int, tuple[int, int, float]] = {}  # position -> (side, volume, average open price)
    for deal in acc.trading_deals:
        side, volume, price = held.get(deal.position_id, (deal.type, 0, 0.0))
        if deal.type == side:  # opens or adds
            held[deal.position_id] = (
                side,
                volume + deal.volume_c,
                (price * volume + deal.price * deal.volume_c) / (volume + deal.volume_c),
            )
            assert deal.profit_c == 0
            continue
        closing = min(volume, deal.volume_c)
        change = deal.price - price if side == BUY else price - deal.price
        money = change * CONTRACT[deal.symbol] * closing / 100 / (deal.price if deal.symbol == "USDJPY" else 1)
        assert abs(deal.profit_c - money * 100) <= 0.5 + 1e-6, deal
        rest = deal.volume_c - closing
        held[deal.position_id] = (deal.type, rest, deal.price) if rest else (side, volume - closing, price)
    assert sum(d.swap_c != 0 for d in acc.trading_deals) > 50 and sum(d.fee_c != 0 for d in acc.deals) > 10


def test_cash_flows_fall_minutes_either_side_of_the_broker_midnight_in_winter_and_summer(either: Any) -> None:
    _, acc = either
    flows = [d for d in acc.deals if d.type == BALANCE]
    assert flows[0].time_utc_ms == acc.start_ms and flows[0].comment == "Initial deposit"
    assert {d.comment for d in flows} >= {"Deposit", "Withdrawal"}
    near = Counter()
    for deal in flows:
        moment = ny_time(deal.time_utc_ms)
        minutes = moment.hour * 60 + moment.minute - 17 * 60
        if -10 <= minutes < 10:
            near["before" if minutes < 0 else "after", server_offset_s(deal.time_utc_ms)] += 1
    assert all(near[side, offset] >= 1 for side in ("before", "after") for offset in (7200, 10800)), near


def test_credit_is_given_and_taken_back_outside_the_balance(either: Any) -> None:
    fake, acc = either
    credits = [d for d in acc.deals if d.type == CREDIT]
    assert [d.comment for d in credits] == ["Credit in", "Credit out", "Credit in"]
    assert credits[0].profit_c == -credits[1].profit_c > 0
    info = fake.module.account_info()
    assert cents(info.credit) == credits[2].profit_c
    assert cents(info.equity) - cents(info.balance) - cents(info.profit) == credits[2].profit_c


def test_todays_pl_is_todays_trading_and_the_open_positions(either: Any) -> None:
    """Two ways: equity change less money moved since the broker midnight (the truth's), and what
    traded today plus the floating of positions opened today."""
    _, acc = either
    truth = GroundTruth(acc)
    midnight = acc.day_start_ms
    assert ny_time(midnight).hour == 17 and midnight < acc.end_ms
    today = [d for d in acc.deals if d.time_utc_ms >= midnight]
    assert {d.type for d in today} >= {BUY, SELL, BALANCE}, "trades and a deposit after midnight"
    assert any(d.type == BALANCE and midnight - 300_000 < d.time_utc_ms < midnight for d in acc.deals)
    traded = sum(d.money_c for d in today if d.type in (BUY, SELL))
    floating = sum(p.profit_c + p.swap_c for p in acc.positions)
    assert all(p.open_utc_ms > midnight for p in acc.positions)
    assert truth.today_pl(acc.end_ms) == (traded + floating) / 100


def test_market_closed_start_has_a_weekend_clock_and_stale_ticks() -> None:
    fake, acc = make(deals_target=200)
    acc.market_closed(WEEKEND)
    assert fake.clock() == WEEKEND.timestamp()
    friday_close = datetime(2025, 11, 28, 16, 59, tzinfo=NY)
    for symbol in CONTRACT:
        tick = fake.module.symbol_info_tick(symbol)
        assert tick.time == int(friday_close.timestamp()) + 7200 and tick.ask > tick.bid
    with pytest.raises(ValueError, match="weekend"):
        acc.market_closed(END)


def test_ten_thousand_deals_for_the_benchmark() -> None:
    fake, acc = make(deals_target=10_000)
    assert 9_000 <= len(acc.deals) <= 11_000
    info = fake.module.account_info()
    assert cents(info.balance) == sum(d.money_c for d in acc.deals if d.type != CREDIT)


# ---------------------------------------------------------------- the app against the truth


def app_report(fake: FakeMT5) -> Report:
    """The streamer's path: every page of new deals into the store, then the report."""
    source = MT5Source(fake.module, clock=lambda: fake.clock())
    source.connect()
    store = Store(fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True), "t", 100_000)
    account = source.account()
    for _ in range(10_000):
        page = source.new_deals()
        if not page:
            break
        store.add_deals(account.login, page)
    return build_report(store, account.login, account)


@pytest.mark.parametrize(("hedging", "closed"), [(True, False), (False, False), (True, True)])
def test_app_trades_and_statistics_equal_the_truth_to_the_cent(hedging: bool, closed: bool) -> None:
    fake, acc = make(hedging=hedging, seed=11)
    if closed:
        acc.market_closed(WEEKEND)
    truth = GroundTruth(acc)
    report = app_report(fake)

    app = [(t.position_id, t.symbol, t.direction, t.profit, t.commission, t.swap, t.fee, t.net) for t in report.trades]
    expected = [
        (t.position_id, t.symbol, t.direction, t.profit_c / 100, t.commission_c / 100, t.swap_c / 100,
         t.fee_c / 100, t.net) for t in truth.trades
    ]  # fmt: skip
    assert len(app) > 300 and app == expected

    stats, want = report.stats, truth.stats()
    exact = (
        "net_profit", "gross_profit", "gross_loss", "largest_win", "largest_loss", "deposits", "withdrawals",
        "commission", "swap", "fee", "trades", "max_consecutive_wins", "max_consecutive_losses", "long_trades",
        "short_trades",
    )  # fmt: skip
    assert {k: stats[k] for k in exact} == {k: want[k] for k in exact}
    for key in ("win_rate", "profit_factor", "long_win_rate", "short_win_rate"):
        assert stats[key] == pytest.approx(float(want[key]), rel=1e-12), key
    assert abs(stats["expected_payoff"] - float(want["expected_payoff"])) <= 0.005 + 1e-9

    reconciliation = report.reconciliation
    assert reconciliation is not None and reconciliation.ok
    assert reconciliation.expected_balance == reconciliation.balance == truth.balance
    symbols = {row["symbol"]: (row["trades"], row["net"], row["win_rate"]) for row in report.by_symbol}
    assert symbols.keys() == truth.by_symbol().keys()
    for symbol, (count, net, win_rate) in truth.by_symbol().items():
        assert symbols[symbol][:2] == (count, net) and symbols[symbol][2] == pytest.approx(win_rate, rel=1e-12)


def test_the_truths_broker_day_is_the_new_york_date_seven_hours_on() -> None:
    for ny_wall, expected in (
        (datetime(2025, 3, 7, 16, 59, tzinfo=NY), (2025, 3, 7)),
        (datetime(2025, 3, 7, 17, 0, tzinfo=NY), (2025, 3, 8)),
        (datetime(2025, 7, 14, 23, 30, tzinfo=NY), (2025, 7, 15)),
    ):
        ms = round(ny_wall.timestamp() * 1000)
        assert broker_date(ms).timetuple()[:3] == expected
        start = datetime(*expected, tzinfo=NY) - timedelta(hours=7)
        assert broker_midnight(ms) == round(start.timestamp() * 1000)
