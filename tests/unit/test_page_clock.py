"""The page's one clock on the real-looking account: broker time, the browser's zone, or UTC.

The broker runs New York + 7 h; the account's history crosses both US clock changes (9 March and 2 November
2025), and the browser's zone here, Europe/Berlin, changes on other days (30 March, 26 October). Deposits at
23:30 broker time on the trading days either side of each US change must land on the right day and hour in each
clock, in the deal grid, the CSV export and the drawdowns' texts; the hour and weekday breakdowns must count every
trade where its close falls in the chosen clock. The truth comes from ``zoneinfo`` and the generator's own trades.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import fakeredis
import pytest

from services.analytics.csv_export import deals_csv
from services.analytics.period import build_report
from services.analytics.stats import trades_frame
from services.core.brokertime import BrokerZone
from services.core.models import Deal
from services.core.timefmt import BROKER, LOCAL, UTC_CLOCK, Clock, page_clock
from services.ingest.sources.mt5 import MT5Source
from services.storage.store import Store
from tests.fakes.fake_mt5 import FakeMT5, ny_close_offset
from tests.fakes.ground_truth import GroundTruth
from tests.fakes.real_account import RealAccount
from views.grids import with_times

START = datetime(2025, 1, 6, tzinfo=UTC)
END = datetime(2025, 11, 28, tzinfo=UTC)  # Thursday 19:00 New York, market open
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = "Europe/Berlin"
# Trading days either side of the US clock changes (Sunday 9 March and Sunday 2 November 2025)
MARKED_DAYS = (date(2025, 3, 7), date(2025, 3, 10), date(2025, 10, 31), date(2025, 11, 3))
BROKER_WALL = time(23, 30)


class NewYorkPlusSeven(tzinfo):
    """The broker's clock as the forex convention states it, from ``zoneinfo`` alone: New York + 7 h."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        wall = (dt or datetime(2025, 1, 1)).replace(tzinfo=None) - timedelta(hours=7)
        return wall.replace(tzinfo=NEW_YORK).utcoffset() + timedelta(hours=7)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def fromutc(self, dt: datetime) -> datetime:
        ny = dt.replace(tzinfo=UTC).astimezone(NEW_YORK).replace(tzinfo=None)
        return (ny + timedelta(hours=7)).replace(tzinfo=self)


TRUE_ZONES: dict[str, tzinfo] = {BROKER: NewYorkPlusSeven(), LOCAL: ZoneInfo(BERLIN), UTC_CLOCK: UTC}


def broker_utc_ms(day: date, wall: time) -> int:
    """UTC ms of a broker wall time: New York wall time 7 h earlier, as zoneinfo reads it."""
    ny = (datetime.combine(day, wall) - timedelta(hours=7)).replace(tzinfo=NEW_YORK)
    return round(ny.timestamp() * 1000)


def true_wall(utc_ms: int, choice: str) -> datetime:
    return datetime.fromtimestamp(utc_ms / 1000, TRUE_ZONES[choice])


@pytest.fixture(scope="module")
def synced() -> tuple[list[Deal], BrokerZone, GroundTruth, dict[int, int]]:
    """The account's deals through the app's source (its broker clock detected), the zone it found, the
    truth, and the marked deposits by ticket (their UTC ms)."""
    now = END.timestamp()
    fake = FakeMT5(offset_s=ny_close_offset, clock=lambda: now, sleep=lambda s: None)
    account = RealAccount.build(fake, START, END, 5, hedging=True, deals_target=400)
    marked = {}
    for day in MARKED_DAYS:
        utc_ms = broker_utc_ms(day, BROKER_WALL)
        marked[fake.add_balance(utc_ms / 1000, 10.0, comment="marked")] = utc_ms
    source = MT5Source(fake.module, clock=lambda: fake.clock())
    source.connect()
    deals: list[Deal] = []
    while page := source.new_deals():
        deals.extend(page)
    return sorted(deals, key=lambda d: (d.time_utc_ms, d.ticket)), source.zone, GroundTruth(account), marked


def clocks(broker: BrokerZone) -> dict[str, Clock]:
    return {choice: page_clock(choice, BERLIN, broker) for choice in TRUE_ZONES}


def test_the_marked_deposits_are_at_2330_broker_time_on_their_own_day(synced: Any) -> None:
    deals, broker, _, marked = synced
    assert broker.spec == "ny-close", "the source found the broker's clock from the history"
    for deal in (d for d in deals if d.ticket in marked):
        assert deal.time_utc_ms == marked[deal.ticket]
        assert true_wall(deal.time_utc_ms, BROKER).time() == BROKER_WALL


@pytest.mark.parametrize("choice", list(TRUE_ZONES))
def test_a_deal_at_2330_broker_time_lands_on_its_day_and_hour_in_each_clock(synced: Any, choice: str) -> None:
    deals, broker, _, marked = synced
    clock = clocks(broker)[choice]
    rows = with_times([d.to_dict() for d in deals if d.ticket in marked], "time_utc_ms", clock, broker)
    for row in rows:
        truth = true_wall(row["time_utc_ms"], choice)
        assert row["time_local"] == truth.strftime("%Y-%m-%d %H:%M:%S"), f"{choice}: deal {row['ticket']}"
    hours = sorted({true_wall(ms, choice).strftime("%m-%d %H:%M") for ms in marked.values()})
    expected = {  # worked out by hand: UTC+2 in winter, UTC+3 in summer; Berlin UTC+1/UTC+2 on EU dates
        BROKER: ["03-07 23:30", "03-10 23:30", "10-31 23:30", "11-03 23:30"],
        LOCAL: ["03-07 22:30", "03-10 21:30", "10-31 21:30", "11-03 22:30"],
        UTC_CLOCK: ["03-07 21:30", "03-10 20:30", "10-31 20:30", "11-03 21:30"],
    }
    assert hours == expected[choice]


@pytest.mark.parametrize("choice", list(TRUE_ZONES))
def test_the_deals_csv_has_utc_and_the_chosen_clock(synced: Any, choice: str) -> None:
    deals, broker, _, _ = synced
    store = Store(fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True), "t", 100_000)
    store.add_deals(1, deals)
    rows = list(csv.DictReader(io.StringIO("".join(deals_csv(store, 1, None, None, clocks(broker)[choice])))))
    second = "time_server" if choice == BROKER else "time_local"
    assert list(rows[0])[:2] == ["time_utc", second]
    assert len(rows) == len(deals)
    for row in rows:
        utc_ms = round(datetime.fromisoformat(row["time_utc"]).timestamp() * 1000)
        assert row[second] == true_wall(utc_ms, choice).isoformat(timespec="milliseconds")[:23], row["ticket"]


@pytest.mark.parametrize("choice", list(TRUE_ZONES))
def test_hour_and_weekday_breakdowns_count_each_close_in_the_chosen_clock(synced: Any, choice: str) -> None:
    deals, broker, truth, _ = synced
    store = Store(fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True), "t", 100_000)
    store.add_deals(1, deals)
    report = build_report(store, 1, None, clock=clocks(broker)[choice])
    closes = [true_wall(t.close_utc_ms, choice) for t in truth.trades]
    by_hour, by_weekday = Counter(c.hour for c in closes), Counter(c.weekday() for c in closes)
    assert {row["hour"]: row["trades"] for row in report.by_hour} == {h: by_hour[h] for h in range(24)}
    assert {row["weekday"]: row["trades"] for row in report.by_weekday} == {d: by_weekday[d] for d in range(7)}
    nets: dict[int, int] = Counter()
    for trade, close in zip(truth.trades, closes, strict=True):
        nets[close.hour] += trade.net_c
    assert {row["hour"]: round(row["net"] * 100) for row in report.by_hour} == {h: nets[h] for h in range(24)}
    assert report.clock.startswith({BROKER: "broker time (UTC+", LOCAL: f"{BERLIN} (UTC+", UTC_CLOCK: "UTC"}[choice])


def test_without_a_clock_the_breakdowns_stay_in_broker_time(synced: Any) -> None:
    """The API's ``/stats`` and older callers: the hours MT5 itself shows."""
    deals, broker, _, _ = synced
    store = Store(fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True), "t", 100_000)
    store.add_deals(1, deals)
    plain, chosen = build_report(store, 1, None), build_report(store, 1, None, clock=clocks(broker)[BROKER])
    assert plain.by_hour == chosen.by_hour and plain.by_weekday == chosen.by_weekday
    assert len(trades_frame(plain.trades)) > 100


def test_the_custom_days_and_the_typed_replay_moment_are_the_clocks(synced: Any) -> None:
    _, broker, _, _ = synced
    for choice, clock in clocks(broker).items():
        for day in MARKED_DAYS:
            start, end = clock.day_bounds(day.isoformat(), day.isoformat())
            first = datetime.combine(day, time(0)).replace(tzinfo=TRUE_ZONES[choice])
            assert start == round(first.timestamp() * 1000), f"{choice} {day}"
            next_day = datetime.combine(day + timedelta(days=1), time(0)).replace(tzinfo=TRUE_ZONES[choice])
            assert end == round(next_day.timestamp() * 1000) - 1
            typed = clock.utc_ms(f"{day.isoformat()} 23:30")
            assert typed == round(
                datetime.combine(day, BROKER_WALL).replace(tzinfo=TRUE_ZONES[choice]).timestamp() * 1000
            )
