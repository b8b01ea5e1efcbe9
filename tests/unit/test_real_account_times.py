"""The real-looking account's times through the app: every deal's UTC time, the trades' open and
close times and holding times, and per-day sums, against the ground truth.

The broker's clock is New York + 7 h (UTC+2 in winter, UTC+3 in summer), so a source that converts
the whole history with today's offset puts half a year of records an hour off. The app is read
through its public path only: ``MT5Source.new_deals()`` until it has no more (the history may come
in pages), ``TradeBuilder`` over those deals, and ``build_report`` on a store holding them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

import fakeredis
import pytest

from services.analytics.period import build_report
from services.analytics.today import stored_day_start, today_pl
from services.analytics.trades import Trade, TradeBuilder
from services.core.models import Deal
from services.ingest.sources.mt5 import MT5Source
from services.ingest.streamer import Streamer
from services.storage.store import Store
from tests.fakes.fake_mt5 import FakeMT5, ny_close_offset
from tests.fakes.ground_truth import GroundTruth, broker_midnight
from tests.fakes.real_account import DAY_MS, RealAccount

START = datetime(2025, 1, 6, tzinfo=UTC)
END = datetime(2025, 11, 28, tzinfo=UTC)  # Thursday 19:00 New York, market open
WEEKEND = datetime(2025, 11, 29, 12, tzinfo=UTC)  # Saturday: every tick is stale
CASES = {
    "hedging, market open": (True, False),
    "netting, market open": (False, False),
    "hedging, start while the market is closed": (True, True),
}


@pytest.fixture(params=list(CASES), scope="module")
def case(request: pytest.FixtureRequest) -> tuple[FakeMT5, GroundTruth]:
    return build(*CASES[request.param])


def build(hedging: bool, closed: bool) -> tuple[FakeMT5, GroundTruth]:
    now = END.timestamp()
    fake = FakeMT5(offset_s=ny_close_offset, clock=lambda: now, sleep=lambda s: None)
    account = RealAccount.build(fake, START, END, 5, hedging=hedging, deals_target=800)
    if closed:
        account.market_closed(WEEKEND)
    return fake, GroundTruth(account)


def synced(fake: FakeMT5) -> list[Deal]:
    """Every deal the source hands over, page after page, in the store's order (UTC time, ticket)."""
    source = MT5Source(fake.module, clock=lambda: fake.clock())
    source.connect()
    deals: list[Deal] = []
    for _ in range(10_000):
        page = source.new_deals()
        if not page:
            break
        deals.extend(page)
    return sorted(deals, key=lambda d: (d.time_utc_ms, d.ticket))


def trades_of(deals: list[Deal]) -> list[Trade]:
    builder = TradeBuilder()
    return [trade for deal in deals for trade in builder.feed(deal)]


def test_every_deal_has_its_true_utc_time(case: Any) -> None:
    fake, truth = case
    deals = synced(fake)
    assert sorted(d.ticket for d in deals) == sorted(truth.deal_utc_ms), "every deal once"
    wrong = {d.ticket: (d.time_utc_ms, truth.deal_utc_ms[d.ticket]) for d in deals if
             d.time_utc_ms != truth.deal_utc_ms[d.ticket]}  # fmt: skip
    assert not wrong, f"{len(wrong)} of {len(deals)} deals off, e.g. {list(wrong.items())[:3]}"


def test_trades_have_their_true_open_and_close_times_and_holding(case: Any) -> None:
    fake, truth = case
    app = [(t.position_id, t.open_time_utc_ms, t.close_time_utc_ms, t.holding_s) for t in trades_of(synced(fake))]
    expected = [(t.position_id, t.open_utc_ms, t.close_utc_ms, t.holding_s) for t in truth.trades]
    assert len(app) == len(expected) > 300
    wrong = [(a, e) for a, e in zip(app, expected, strict=True) if a != e]
    assert not wrong, f"{len(wrong)} of {len(app)} trades off, e.g. {wrong[:3]}"


def test_trade_nets_add_up_per_utc_day_and_per_broker_day(case: Any) -> None:
    """UTC days from the trades' UTC close; broker days from their server close (MT5's own clock)."""
    fake, truth = case
    utc_days: dict[date, float] = defaultdict(float)
    broker_days: dict[date, float] = defaultdict(float)
    for trade in trades_of(synced(fake)):
        utc_days[datetime.fromtimestamp(trade.close_time_utc_ms / 1000, UTC).date()] += trade.net
        broker_days[datetime.fromtimestamp(trade.close_time_msc // DAY_MS * 86_400, UTC).date()] += trade.net
    assert {d: round(v, 2) for d, v in sorted(utc_days.items())} == truth.utc_day_sums()
    assert {d: round(v, 2) for d, v in sorted(broker_days.items())} == truth.broker_day_sums()


@pytest.mark.parametrize("name", [name for name, (hedging, _) in CASES.items() if hedging])
def test_average_holding_time_in_the_statistics(name: str) -> None:
    """Hedging only: on a netting account exactly one trip per symbol spans each clock change, so the
    spring hour and the autumn hour cancel in the average (each trade's holding is checked above)."""
    fake, truth = build(*CASES[name])
    store = Store(fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True), "t", 100_000)
    deals = synced(fake)
    login = fake.module.account_info().login
    store.add_deals(login, deals)
    stats = build_report(store, login, None).stats
    assert stats["avg_holding_s"] == pytest.approx(float(truth.stats()["avg_holding_s"]), rel=1e-12)


@pytest.mark.parametrize("name", [name for name, (_, closed) in CASES.items() if not closed])
def test_todays_pl_on_a_fresh_start_equals_the_truth(name: str) -> None:
    """Nothing recorded before the broker's midnight: today's trades, the floating P/L of the positions
    opened today, and the deposit after midnight counted once (as money moved, not as P/L)."""
    fake, truth = build(*CASES[name])
    store = Store(fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True), "t", 100_000)
    source = MT5Source(fake.module, clock=lambda: fake.clock())
    streamer = Streamer(source, store, clock=lambda: fake.clock())
    streamer.step()  # the first poll: the account, and the newest page of its history
    snapshot = streamer.latest()
    assert snapshot is not None
    now_ms = int(fake.clock() * 1000)
    positions = [p.to_dict() for p in snapshot.positions]
    login = snapshot.account.login
    day = stored_day_start(store, login, snapshot.zone, now_ms, snapshot.account.to_dict(), positions)
    assert day["start_ms"] == broker_midnight(now_ms)
    found = today_pl(snapshot.account.equity, day)
    assert found is not None and round(found, 2) == truth.today_pl(now_ms)
