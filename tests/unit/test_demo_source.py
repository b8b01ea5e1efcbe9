"""The demo source must look like a real MT5 account: consistent money, server-time records, determinism."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable

import pytest

from services.core.units import DAY_S
from services.ingest.sources.base import SourceDisconnected
from services.ingest.sources.demo import SYMBOLS, DemoSource

T0 = 1_732_500_000.0  # Mon 2024-11-25 02:00 UTC, 04:00 server time
OFFSET = 7200
DAY = DAY_S


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(seed: int = 7, **kwargs: object) -> tuple[DemoSource, FakeClock]:
    clock = FakeClock()
    source = DemoSource(seed=seed, clock=clock, server_offset_s=OFFSET, **kwargs)  # type: ignore[arg-type]
    source.connect()
    return source, clock


def state(source: DemoSource) -> tuple[object, ...]:
    return (source.account(), source.positions(), source.orders(), source.deals_between(0, 4e9))


def test_same_seed_and_clock_readings_give_identical_state() -> None:
    a, clock_a = make()
    b, clock_b = make()
    for step in (0.0, 0.25, 0.25, 61.0, 3600.0):
        clock_a.now += step
        clock_b.now += step
        assert state(a) == state(b)
    c, _ = make(seed=8)
    assert state(c) != state(make()[0])


def test_accounting_identities_hold_after_days_of_trading() -> None:
    source, clock = make()
    source.fast_forward(5 * DAY)
    for _ in range(20):
        clock.now += 600
        acc, positions = source.account(), source.positions()
        assert positions, "the demo trader always keeps a position open"
        floating = sum(p.profit + p.swap for p in positions)
        assert acc.equity == pytest.approx(acc.balance + floating, abs=1e-6)
        assert acc.profit == pytest.approx(floating, abs=1e-6)
        assert acc.margin_free == pytest.approx(acc.equity - acc.margin, abs=1e-6)
        assert acc.margin > 0
        assert acc.margin_level == pytest.approx(acc.equity / acc.margin * 100, abs=0.01)
        deals = source.deals_between(0, 4e9)
        booked = sum(d.profit + d.commission + d.swap + d.fee for d in deals)
        assert acc.balance == pytest.approx(booked, abs=1e-6)
        assert deals[0].type == 2 and deals[0].comment == "Deposit" and deals[0].profit == 10_000.0


def test_account_fields_are_complete_and_demo_shaped() -> None:
    source, _ = make()
    acc = source.account()
    assert len(dataclasses.fields(acc)) == 28
    assert (acc.trade_mode, acc.margin_mode, acc.currency_digits) == (0, 2, 2)
    assert (acc.margin_so_call, acc.margin_so_so) == (50.0, 30.0)
    assert (acc.name, acc.server, acc.company, acc.currency) == (
        "Demo Trader",
        "Demo-Server",
        "MT5 Dashboard Demo",
        "USD",
    )
    assert source.info.kind == "demo" and source.info.details == {"seed": 7, "login": 5_000_001}
    assert source.terminal().connected and source.terminal().build == 4755


def test_fast_forward_week_produces_clean_deal_history() -> None:
    source, _ = make()
    source.new_deals()
    source.fast_forward(7 * DAY, step_s=900)  # coarse steps: many events share a step
    deals = source.new_deals()
    assert {d.entry for d in deals} == {0, 1}
    assert {4, 5} <= {d.reason for d in deals}, "SL and TP hits happen over a week"
    assert any(d.swap != 0 for d in deals if d.entry == 1), "swap accrues on positions held overnight"
    assert all(d.commission < 0 for d in deals if d.symbol in ("EURUSD", "GBPUSD", "XAUUSD"))
    all_deals = source.deals_between(0, 4e9)
    tickets = [d.ticket for d in all_deals]
    assert len(tickets) == len(set(tickets))
    times = [d.time_msc for d in all_deals]
    assert times == sorted(times)
    opened = {d.position_id for d in all_deals if d.entry == 0 and d.type in (0, 1)}
    closed = [d.position_id for d in all_deals if d.entry == 1]
    assert len(closed) == len(set(closed)) and set(closed) <= opened
    assert opened - set(closed) == {p.ticket for p in source.positions()}


def test_pending_orders_are_placed_and_well_formed() -> None:
    source, clock = make()
    seen = []
    for _ in range(7 * 24):
        clock.now += 3600
        seen += source.orders()
    assert seen
    for order in seen:
        assert order.type in (2, 3, 4, 5) and order.state == 1
        assert order.time_expiration > order.time_setup
        assert order.time_setup_msc - order.time_setup_utc_ms == OFFSET * 1000


def test_record_times_are_server_time() -> None:
    source, clock = make()
    deals = source.new_deals()
    assert deals[0].time_utc_ms == (T0 - 3 * DAY) * 1000, "default history starts three days back"
    for deal in deals:
        assert deal.time_msc - deal.time_utc_ms == OFFSET * 1000
        assert deal.time == deal.time_msc // 1000
    for pos in source.positions():
        assert pos.time_msc - pos.time_utc_ms == OFFSET * 1000
        assert pos.time_utc_ms <= clock.now * 1000
    assert deals[-1].time_utc_ms <= clock.now * 1000


@pytest.mark.parametrize(
    ("rollover_utc", "nights"),
    [
        (T0 + 44 * 3600, 1),  # 00:00 Wednesday server time: Tuesday's night
        (T0 + 68 * 3600, 3),  # 00:00 Thursday: Wednesday's night carries the weekend
        (T0 + 116 * 3600, 1),  # 00:00 Saturday: Friday's night
        (T0 + 140 * 3600, 0),  # 00:00 Sunday: no rollover on the weekend
    ],
)
def test_swap_is_charged_at_server_midnight(rollover_utc: float, nights: int) -> None:
    source, clock = make(start_utc_s=rollover_utc - 3 * 3600)
    clock.now = rollover_utc - 1
    before = {p.ticket: p for p in source.positions()}
    clock.now = rollover_utc + 1
    after = {p.ticket: p for p in source.positions()}
    held = before.keys() & after.keys()
    assert held
    specs = {spec.name: spec for spec in SYMBOLS}
    for ticket in held:
        spec, pos = specs[after[ticket].symbol], after[ticket]
        rate = spec.swap_long if pos.type == 0 else spec.swap_short
        assert pos.swap - before[ticket].swap == pytest.approx(round(rate * pos.volume * nights, 2), abs=1e-9)


def test_equity_moves_at_every_250ms_poll() -> None:
    source, clock = make()
    equities = []
    for _ in range(2400):  # ten minutes of polls
        clock.now += 0.25
        equities.append(source.account().equity)
    assert all(a != b for a, b in itertools.pairwise(equities))


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.account(),
        lambda s: s.positions(),
        lambda s: s.orders(),
        lambda s: s.new_deals(),
        lambda s: s.deals_between(0, 4e9),
        lambda s: s.terminal(),
    ],
)
def test_calls_before_connect_raise_no_ipc_connection(call: Callable[[DemoSource], object]) -> None:
    source = DemoSource(clock=FakeClock())
    with pytest.raises(SourceDisconnected) as err:
        call(source)
    assert err.value.code == -10004 and err.value.message == "No IPC connection"


def test_dropped_link_fails_until_restored_and_reconnected() -> None:
    source, _ = make()
    source.account()
    source.drop_link()
    with pytest.raises(SourceDisconnected) as err:
        source.account()
    assert err.value.code == -10004
    with pytest.raises(SourceDisconnected):
        source.connect()
    source.restore_link()
    with pytest.raises(SourceDisconnected):
        source.positions()
    source.connect()
    assert source.account().login == 5_000_001


def test_new_deals_is_incremental() -> None:
    source, clock = make()
    first = source.new_deals()
    assert first == source.deals_between(0, 4e9) and len(first) > 10
    assert source.new_deals() == []
    clock.now += 12 * 3600
    second = source.new_deals()
    assert second and min(d.ticket for d in second) > max(d.ticket for d in first)
    assert first + second == source.deals_between(0, 4e9)
    source.disconnect()
    source.connect()
    assert source.new_deals() == first + second, "a new session starts from the full history"


def test_deals_between_is_inclusive_in_utc() -> None:
    source, _ = make()
    deals = source.new_deals()
    mid = deals[len(deals) // 2]
    exact = source.deals_between(mid.time_utc_ms / 1000, mid.time_utc_ms / 1000)
    assert mid in exact and all(d.time_utc_ms == mid.time_utc_ms for d in exact)
    assert source.deals_between(0, deals[0].time_utc_ms / 1000 - 0.001) == []


def test_shock_against_positions_drives_equity_down_to_stop_out() -> None:
    source, clock = make()
    before = source.account()
    pos = max(source.positions(), key=lambda p: p.volume)
    source.shock(pos.symbol, -3.0 if pos.type == 0 else 3.0)
    assert source.account().equity < before.equity
    net: dict[str, float] = {}
    for p in source.positions():
        net[p.symbol] = net.get(p.symbol, 0.0) + (p.volume if p.type == 0 else -p.volume)
    for symbol, volume in net.items():  # a crash against the account's net exposure in every symbol
        source.shock(symbol, -60.0 if volume > 0 else 150.0)
    clock.now += 1
    source.account()
    assert any(d.reason == 6 for d in source.new_deals()), "stop-out closes positions below 30% margin level"


def test_backfill_hands_over_the_simulated_past_once() -> None:
    now = 1_780_000_000.0
    source = DemoSource(seed=5, clock=lambda: now, start_utc_s=now - 6 * 3600)
    source.connect()
    past = source.backfill()
    assert len(past) == 6 * 60
    assert [p.ts for p in past] == sorted(p.ts for p in past)
    assert past[-1].ts == int(now * 1000)
    assert all(abs(p.equity - (p.balance + p.profit)) < 0.011 for p in past)
    assert past[-1].balance == source.account().balance
    assert source.backfill() == []
