"""Broker server time: each record converted with the offset of its own time, the rule detected, history in pages.

Expected UTC times come from the fake terminal's own clock (``zoneinfo`` on America/New_York in
the test module), never from the app's conversion.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import fakeredis
import pytest

from services.analytics.today import day_bounds, stored_day_start, today_pl
from services.core.brokertime import (
    BrokerTimeError,
    Evidence,
    Observation,
    detect,
    fixed,
    in_weekend,
    parse_zone,
    weekday_trades,
)
from services.core.settings import SettingsError, load_settings
from services.ingest.sources.mt5 import HISTORY_PAGE, MT5Source
from services.ingest.streamer import Streamer
from services.storage.store import Store
from tests.fakes.fake_mt5 import FakeMT5, ny_close_offset, zone_offset


def utc_s(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()


WINTER = utc_s(2025, 1, 15, 12)  # Wednesday, New York on EST: the broker on UTC+2
SUMMER = utc_s(2025, 7, 16, 12)  # Wednesday, EDT: UTC+3
GAP = utc_s(2025, 3, 19, 12)  # Wednesday between the US (9 March) and EU (30 March) changes
SATURDAY = utc_s(2025, 11, 29, 12)  # the market is closed


def make(clock: list[float], offset: Any, **kw: Any) -> tuple[FakeMT5, MT5Source]:
    fake = FakeMT5(offset_s=offset, clock=lambda: clock[0], sleep=lambda s: None)
    return fake, MT5Source(fake.module, clock=lambda: clock[0], **kw)


def drain(source: MT5Source) -> list[Any]:
    deals: list[Any] = []
    while True:
        page = source.new_deals()
        sync = source.history_sync
        deals += page
        if not page and sync and sync["done"]:
            return deals


def weekday_times(rng: random.Random, start: float, end: float, count: int) -> list[float]:
    """Random UTC moments inside the forex week (the test's own calendar, not the app's)."""
    found: list[float] = []
    while len(found) < count:
        moment = rng.uniform(start, end)
        ny = datetime.fromtimestamp(moment, UTC).astimezone(parse_zone("America/New_York")._zone)
        closed = ny.weekday() == 5 or (ny.weekday() == 4 and ny.hour >= 17) or (ny.weekday() == 6 and ny.hour < 17)
        if not closed:
            found.append(round(moment, 3))
    return found


def test_zones_follow_their_daylight_saving_rules() -> None:
    ny = parse_zone("New York close")
    athens = parse_zone("Europe/Athens")
    for moment in (WINTER, GAP, SUMMER, utc_s(2025, 11, 2, 6), utc_s(2025, 11, 2, 7)):
        ms = int(moment * 1000)
        assert ny.offset_s_at(ms) == ny_close_offset(moment)
        assert athens.offset_s_at(ms) == zone_offset("Europe/Athens")(moment)
        if moment != utc_s(2025, 11, 2, 6):  # the repeated hour (Sunday morning, market closed) reads as its first
            assert ny.to_utc_ms(ny.to_server_ms(ms)) == ms
    assert ny.offset_s_at(int(GAP * 1000)) == 10800 and athens.offset_s_at(int(GAP * 1000)) == 7200
    # the broker's midnight is 17:00 in New York, summer and winter
    assert ny.day_start_ms(int(WINTER * 1000)) == int(utc_s(2025, 1, 14, 22) * 1000)
    assert ny.day_start_ms(int(SUMMER * 1000)) == int(utc_s(2025, 7, 15, 21) * 1000)
    assert day_bounds(ny, int(utc_s(2025, 3, 9, 12) * 1000)) == (
        int(utc_s(2025, 3, 8, 22) * 1000),
        int(utc_s(2025, 3, 9, 21) * 1000),
    )  # the change's own day lasts 23 h
    assert [parse_zone(t).spec for t in ("UTC+2", "+03:00", "GMT-5", "utc")] == [
        "UTC+02:00",
        "UTC+03:00",
        "UTC-05:00",
        "UTC+00:00",
    ]


@pytest.mark.parametrize("text", ["", "Mars/Olympus", "../../etc/passwd", "UTC+15", "+2:75", "x" * 500])
def test_a_bad_zone_is_refused_and_the_setting_named(text: str) -> None:
    with pytest.raises(BrokerTimeError):
        parse_zone(text)
    if text:
        with pytest.raises(SettingsError, match="BROKER_TZ"):
            load_settings({"BROKER_TZ": text}, dotenv_path=None)
    assert load_settings({"BROKER_TZ": "new-york-close"}, dotenv_path=None).broker_tz == "ny-close"
    assert load_settings({}, dotenv_path=None).broker_tz == "auto"


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (ny_close_offset, "ny-close"),
        (zone_offset("Europe/Athens"), "Europe/Athens"),
        (lambda t: 0, "UTC+00:00"),
        (lambda t: 10800, "UTC+03:00"),
    ],
)
def test_the_rule_is_found_from_the_trades_of_a_year(offset: Any, expected: str) -> None:
    rng = random.Random(3)
    times = weekday_times(rng, utc_s(2025, 1, 6), utc_s(2025, 12, 19), 1500)
    evidence = Evidence(tuple(int((t + offset(t)) * 1000) for t in times))
    assert detect([], evidence).to_dict() == {"zone": expected, "basis": "history", "misfits": 0}
    # one live measurement narrows the field; the history still decides between rules that agree today
    now = utc_s(2025, 7, 1, 12)
    assert detect([Observation(int(now * 1000), offset(now))], evidence).zone.spec == expected


def test_crypto_weekend_trades_are_not_evidence() -> None:
    saturday_noon = int((SATURDAY + 7200) * 1000)
    pairs = [("BTCUSD", saturday_noon), ("BTCUSD", saturday_noon - 86400_000 * 3), ("EURUSD", 5)]
    assert weekday_trades(pairs) == (5,)


def test_the_weeks_last_tick_read_on_a_closed_market_tells_the_offset() -> None:
    close = int(utc_s(2025, 11, 28, 22) * 1000)  # Friday 17:00 New York (EST)
    last_tick = close - 30_000
    for offset, expected in ((0, "UTC+00:00"), (7200, "ny-close"), (10800, "UTC+03:00")):
        choice = detect([], Evidence((), last_tick + offset * 1000, close))
        assert (choice.zone.spec, choice.basis) == (expected, "history")


def test_deals_across_both_changes_get_the_utc_time_of_their_own_season() -> None:
    clock = [utc_s(2025, 11, 26, 15)]
    fake, source = make(clock, ny_close_offset)
    truth = {}
    for moment in (WINTER, GAP, SUMMER, utc_s(2025, 10, 31, 20), utc_s(2025, 11, 4, 1)):
        truth[fake.add_deal(moment, profit=1.0)] = int(moment * 1000)
    position = fake.add_position("EURUSD", time_utc=SUMMER)  # opened in summer, read in winter
    source.connect()
    assert source.info.details["broker_clock"]["basis"] == "measured"
    assert {d.ticket: d.time_utc_ms for d in drain(source)} == truth
    [held] = source.positions()
    assert held.ticket == position and held.time_utc_ms == int(SUMMER * 1000)


def test_history_is_read_newest_first_in_pages_with_progress() -> None:
    clock = [utc_s(2025, 11, 26, 15)]
    fake, source = make(clock, ny_close_offset)
    rng = random.Random(5)
    times = weekday_times(rng, utc_s(2025, 1, 6), utc_s(2025, 11, 25), 2 * HISTORY_PAGE + 1234)
    for moment in times:
        fake.add_deal(moment, profit=1.0)
    source.connect()
    pages, progress = [], []
    while True:
        page = source.new_deals()
        progress.append(source.history_sync)
        if not page:
            break
        pages.append(page)
    assert len(pages) >= 3 and all(len(page) <= HISTORY_PAGE for page in pages)
    assert min(d.time_msc for d in pages[0]) > max(d.time_msc for d in pages[-1])  # the newest first
    tickets = [d.ticket for page in pages for d in page]
    assert sorted(tickets) == sorted(d.ticket for d in fake.deals)
    assert progress[0] == {"read": len(pages[0]), "total": len(times), "done": False}
    assert progress[-1] == {"read": len(times), "total": len(times), "done": True}
    later = fake.add_deal(clock[0] + 5)
    clock[0] += 10
    assert [d.ticket for d in source.new_deals()] == [later]  # then only what is new


def streamer_on(fake: FakeMT5, source: MT5Source, clock: list[float], store: Store) -> Streamer:
    return Streamer(source, store, clock=lambda: clock[0], poll_interval_s=0.25)


def stored_times(store: Store, login: int) -> dict[int, int]:
    return {d.ticket: d.time_utc_ms for d in store.deals(login)}


def test_a_start_on_a_closed_market_is_corrected_for_good_once_the_clock_is_known() -> None:
    """A broker on plain UTC, started on a Saturday with nothing else to go by: the forex convention is
    assumed, and on Monday's first fresh tick every stored deal is re-timed, in Redis too."""
    clock = [SATURDAY]
    fake, source = make(clock, lambda t: 0)
    fake.set_tick("EURUSD", 1.1, 1.1002, time_utc=utc_s(2025, 11, 28, 15))  # a stale tick, hours before the close
    truth = {fake.add_deal(t, profit=1.0): int(t * 1000) for t in (WINTER, SUMMER, utc_s(2025, 11, 27, 9))}
    store = Store(fakeredis.FakeRedis(decode_responses=True), "t", 1000)
    streamer = streamer_on(fake, source, clock, store)
    for _ in range(3):
        streamer.step()
    login = fake.account["login"]
    assert source.broker_clock.basis in ("assumed", "history")
    assert store.broker_tz(login) == source.zone.spec
    clock[0] = utc_s(2025, 12, 1, 9)  # Monday, the market open
    fake.set_tick("EURUSD", 1.1, 1.1002)  # live again
    for _ in range(2):
        clock[0] += 700  # past the offset re-check
        streamer.step()
    assert (source.zone.spec, source.broker_clock.basis) == ("UTC+00:00", "measured")
    assert stored_times(store, login) == truth
    assert store.broker_tz(login) == "UTC+00:00"
    assert streamer.status().broker_tz == "UTC+00:00"
    assert streamer.latest().broker_tz == "UTC+00:00"


def test_a_restart_keeps_the_clock_the_last_run_learned() -> None:
    clock = [utc_s(2025, 7, 16, 10)]
    athens = zone_offset("Europe/Athens")
    fake, source = make(clock, athens)
    truth = {fake.add_deal(t, profit=1.0): int(t * 1000) for t in (utc_s(2025, 7, 11, 20, 30), SUMMER - 3600)}
    store = Store(fakeredis.FakeRedis(decode_responses=True), "t", 1000)
    streamer_on(fake, source, clock, store).step()
    login = fake.account["login"]
    assert store.broker_tz(login) == source.zone.spec
    stored = store.broker_tz(login)
    # Saturday, the market closed: nothing measured, and too few trades to decide
    clock[0] = SATURDAY
    fake.set_tick("EURUSD", 1.1, 1.1002, time_utc=None)
    fake.ticks["EURUSD"]["time_utc"] = utc_s(2025, 11, 28, 21, 59)
    _, again = make(clock, athens)
    again._mt5 = fake.module
    streamer = streamer_on(fake, again, clock, store)
    for _ in range(3):
        streamer.step()
    assert again.zone.spec == stored
    assert stored_times(store, login) == truth


def test_a_set_zone_wins_over_every_measurement() -> None:
    clock = [WINTER]
    _, source = make(clock, 7200, broker_tz="Europe/Athens")
    source.connect()
    assert source.broker_clock.to_dict() == {"zone": "Europe/Athens", "basis": "setting", "misfits": 0}


def day_of(streamer: Streamer, store: Store, clock: list[float]) -> dict[str, Any]:
    snapshot = streamer.latest()
    assert snapshot is not None
    positions = [p.to_dict() for p in snapshot.positions]
    login = snapshot.account.login
    return stored_day_start(store, login, snapshot.zone, int(clock[0] * 1000), snapshot.account.to_dict(), positions)


def test_todays_pl_on_a_fresh_start_counts_a_deposit_after_midnight_once() -> None:
    """Nothing recorded before the broker's midnight: the first point comes after a deposit."""
    clock = [utc_s(2025, 11, 26, 9)]  # Wednesday; the broker's day began at 22:00 UTC
    fake, source = make(clock, ny_close_offset)
    fake.add_balance(utc_s(2025, 11, 1, 10), 10_000.0)
    midnight = utc_s(2025, 11, 25, 22)
    fake.add_deal(midnight + 600, profit=0.0, type=0, entry=0, position_id=77, order=77)
    fake.add_deal(midnight + 1800, profit=120.0, type=1, entry=1, position_id=77, commission=-5.0)
    fake.add_balance(midnight + 3600, 1_000.0)
    fake.set_account(balance=11_115.0, equity=11_115.0)
    store = Store(fakeredis.FakeRedis(decode_responses=True), "t", 1000)
    streamer = streamer_on(fake, source, clock, store)
    streamer.step()
    login = fake.account["login"]
    assert store.history(login, end_ms=int(midnight * 1000)) == []
    day = day_of(streamer, store, clock)
    assert today_pl(11_115.0, day) == pytest.approx(115.0)  # the trade's 120 less 5 commission
    assert day["balance"] == pytest.approx(10_000.0)
    fake.add_balance(clock[0] + 60, -500.0)  # a withdrawal after the first point is taken out too
    fake.set_account(balance=10_615.0, equity=10_640.0)
    clock[0] += 120
    streamer.step()
    day = day_of(streamer, store, clock)
    assert today_pl(10_640.0, day) == pytest.approx(140.0)  # the withdrawal is no loss; 25 floating is


def test_weekend_calendar() -> None:
    friday_close = int(utc_s(2025, 7, 18, 21) * 1000)  # 17:00 EDT
    assert list(in_weekend([friday_close - 1, friday_close, friday_close + 2 * 86_400_000 - 1])) == [
        False,
        True,
        True,
    ]
    assert not in_weekend([friday_close + 2 * 86_400_000])[0]
    assert fixed(7200) == parse_zone("UTC+2")
