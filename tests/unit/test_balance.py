"""The balance curve from deals: steps, reconciliation to the cent, credit left out, UTC days, order, cache."""

from __future__ import annotations

import random
from typing import Any

import fakeredis
import numpy as np
import pytest

from services.analytics.balance import balance_curve, balance_only, build_curve, downsample_steps
from services.analytics.today import day_bounds
from services.core.models import DEAL_ENTRY_IN, DEAL_ENTRY_OUT, DEAL_TYPE_BALANCE, DEAL_TYPE_BUY, DEAL_TYPE_SELL, Deal
from services.core.units import HOUR_MS
from services.storage.store import Store

LOGIN = 4242
OFFSET_S = 7200
T0_MS = 1_780_000_000_000  # 2026-05-28T20:26:40Z
CREDIT, CHARGE, CORRECTION = 3, 4, 5


def deal(ticket: int, utc_ms: int, type_: int, entry: int = DEAL_ENTRY_IN, **money: float) -> Deal:
    time_msc = utc_ms + OFFSET_S * 1000
    record: dict[str, Any] = {
        "ticket": ticket, "order": ticket, "time": time_msc // 1000, "time_msc": time_msc, "type": type_,
        "entry": entry, "magic": 0, "position_id": ticket // 10, "reason": 0, "volume": 0.1, "price": 1.1,
        "commission": 0.0, "swap": 0.0, "profit": 0.0, "fee": 0.0, "symbol": "EURUSD", "comment": "",
        "external_id": "",
    }  # fmt: skip
    record.update(money)
    return Deal.from_mt5(record, OFFSET_S)


def history() -> list[Deal]:
    """A deposit, two round trips with every kind of cost, a charge, a correction and a withdrawal."""
    return [
        deal(1, T0_MS, DEAL_TYPE_BALANCE, profit=5_000.00),
        deal(10, T0_MS + HOUR_MS, DEAL_TYPE_BUY, commission=-3.51),
        deal(11, T0_MS + 2 * HOUR_MS, DEAL_TYPE_SELL, DEAL_ENTRY_OUT, profit=120.37, commission=-3.51, swap=-0.83),
        deal(20, T0_MS + 3 * HOUR_MS, DEAL_TYPE_SELL, commission=-3.51, fee=-0.1),
        deal(21, T0_MS + 4 * HOUR_MS, DEAL_TYPE_BUY, DEAL_ENTRY_OUT, profit=-77.19, commission=-3.51, swap=1.07),
        deal(2, T0_MS + 5 * HOUR_MS, CHARGE, profit=-12.5),
        deal(3, T0_MS + 6 * HOUR_MS, CORRECTION, profit=0.33),
        deal(4, T0_MS + 7 * HOUR_MS, DEAL_TYPE_BALANCE, profit=-1_000.00),
    ]


# 5000 - 3.51 + 120.37 - 3.51 - 0.83 - 3.51 - 0.1 - 77.19 - 3.51 + 1.07 - 12.5 + 0.33 - 1000
EXPECTED_BALANCE = 4_017.11


def test_the_curve_steps_through_every_balance_move_and_ends_on_the_balance_to_the_cent() -> None:
    curve = build_curve(history())
    assert curve.deals == 8 and len(curve.ts) == 8
    assert curve.ts[0] == T0_MS and curve.balance[0] == 5_000.00
    assert round(float(curve.balance[2]), 2) == 5_112.52  # after the first round trip's close
    assert round(float(curve.balance[-1]), 2) == EXPECTED_BALANCE
    check = curve.reconcile(EXPECTED_BALANCE, 2)
    assert check.ok and check.mismatch == 0.0 and check.deals == 8


def test_a_balance_the_deals_do_not_add_up_to_is_reported_with_the_difference() -> None:
    check = build_curve(history()).reconcile(EXPECTED_BALANCE + 0.05, 2)
    assert not check.ok
    assert check.mismatch == 0.05 and check.expected_balance == EXPECTED_BALANCE
    assert "difference +$0.05" in check.warning("USD", 2)


def test_credit_never_moves_the_balance() -> None:
    deals = [*history(), deal(5, T0_MS + 8 * HOUR_MS, CREDIT, profit=2_000.0), deal(6, T0_MS + 9 * HOUR_MS, CREDIT,
             profit=-2_000.0)]  # fmt: skip
    curve = build_curve(deals)
    assert curve.deals == 10 and len(curve.ts) == 8, "credit deals are read, but make no step"
    assert round(float(curve.balance[-1]), 2) == EXPECTED_BALANCE
    assert curve.reconcile(EXPECTED_BALANCE, 2).ok


def test_deposits_around_the_broker_midnight_fall_on_their_utc_times() -> None:
    midnight = day_bounds(OFFSET_S, T0_MS + 12 * HOUR_MS)[0]  # broker midnight, 22:00 UTC
    deals = [deal(1, midnight - 1, DEAL_TYPE_BALANCE, profit=100.0), deal(2, midnight, DEAL_TYPE_BALANCE, profit=50.0)]
    assert deals[1].time_msc % 86_400_000 == 0, "the second deposit is at 00:00:00.000 server time"
    curve = build_curve(deals)
    assert curve.ts.tolist() == [midnight - 1, midnight]
    assert curve.at(midnight - 1) == 100.0 and curve.at(midnight) == 150.0
    ts, balance = curve.window(midnight, None)  # the broker's day: led by the balance it started with
    assert ts.tolist() == [midnight, midnight] and balance.tolist() == [100.0, 150.0]
    ts, balance = curve.window(None, midnight - 1)  # the day before
    assert ts.tolist() == [midnight - 1] and balance.tolist() == [100.0]


def test_unsorted_and_same_millisecond_deals_make_the_same_curve() -> None:
    ordered = history()
    burst = [deal(30 + i, T0_MS + 5 * HOUR_MS, DEAL_TYPE_SELL, DEAL_ENTRY_OUT, profit=1.25) for i in range(4)]
    shuffled = [*ordered, *burst]
    random.Random(3).shuffle(shuffled)
    curve = build_curve(shuffled)
    assert curve.ts.tolist() == sorted(set(curve.ts.tolist())), "ascending, one step per millisecond"
    assert len(curve.ts) == 8, "the burst joins the charge at the same millisecond"
    assert curve.at(T0_MS + 5 * HOUR_MS) == pytest.approx(build_curve(ordered).at(T0_MS + 5 * HOUR_MS) + 5.0)
    assert round(float(curve.balance[-1]), 2) == round(EXPECTED_BALANCE + 5.0, 2)


def test_an_opening_deal_without_costs_is_no_step() -> None:
    curve = build_curve([deal(1, T0_MS, DEAL_TYPE_BALANCE, profit=100.0), deal(10, T0_MS + 1, DEAL_TYPE_BUY)])
    assert curve.ts.tolist() == [T0_MS] and curve.deals == 2


@pytest.fixture
def store() -> Store:
    return Store(fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True), "b", 1_000)


class Counting:
    """Counts the store client's commands by name."""

    def __init__(self, client: Any) -> None:
        self.client, self.calls = client, []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self.client, name)


def test_the_store_curve_is_read_in_chunks_once_and_extended_by_later_deals(store: Store) -> None:
    deposits = [deal(i, T0_MS + i * 1000, DEAL_TYPE_BALANCE, profit=1.0) for i in range(1, 2_501)]
    store.add_deals(LOGIN, deposits)
    counting = Counting(store.client)
    store.client = counting  # type: ignore[assignment]
    curve = balance_curve(store, LOGIN)
    assert curve.deals == 2_500 and float(curve.balance[-1]) == 2_500.0
    assert counting.calls.count("hmget") == 3, "read 1,000 deals at a time"
    counting.calls.clear()
    assert balance_curve(store, LOGIN) is curve
    assert counting.calls == ["zcard"], "nothing new: one ZCARD"
    store.add_deals(LOGIN, [deal(9_000, T0_MS + 3_000_000, DEAL_TYPE_BALANCE, profit=10.0)])
    counting.calls.clear()
    later = balance_curve(store, LOGIN)
    assert later.deals == 2_501 and float(later.balance[-1]) == 2_510.0
    assert counting.calls.count("hmget") == 1, "only the new deal is read"


def test_deals_older_than_the_curve_rebuild_it(store: Store) -> None:
    store.add_deals(LOGIN, history()[4:])
    assert round(balance_curve(store, LOGIN).at(T0_MS + 9 * HOUR_MS), 2) == round(-1_000 + 0.33 - 12.5 - 77.19
                                                                                    - 3.51 + 1.07, 2)  # fmt: skip
    store.add_deals(LOGIN, history()[:4])  # a history sync reaching further back
    curve = balance_curve(store, LOGIN)
    assert curve.deals == 8 and curve.first_ms == T0_MS
    assert round(float(curve.balance[-1]), 2) == EXPECTED_BALANCE


def test_each_store_keeps_its_own_curve(store: Store) -> None:
    other = Store(fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True), "b", 1_000)
    store.add_deals(LOGIN, history())
    other.add_deals(LOGIN, history()[:1])
    assert round(float(balance_curve(store, LOGIN).balance[-1]), 2) == EXPECTED_BALANCE
    assert float(balance_curve(other, LOGIN).balance[-1]) == 5_000.0


def test_downsampling_keeps_the_ends_and_the_extremes_within_the_width() -> None:
    rng = np.random.default_rng(5)
    ts = np.arange(100_000, dtype=np.int64) * 1000 + T0_MS
    balance = 10_000 + np.cumsum(rng.normal(0, 5, len(ts)))
    kept_ts, kept = downsample_steps(ts, balance, 800)
    assert len(kept_ts) <= 802
    assert kept_ts[0] == ts[0] and kept_ts[-1] == ts[-1]
    assert kept.max() == balance.max() and kept.min() == balance.min()
    assert np.all(np.diff(kept_ts) > 0)
    short_ts, short = downsample_steps(ts[:50], balance[:50], 800)
    assert short_ts.tolist() == ts[:50].tolist() and short.tolist() == balance[:50].tolist()


def test_the_balance_only_part_ends_at_the_first_recorded_point() -> None:
    curve = build_curve(history())
    cut = T0_MS + 4 * HOUR_MS + 30 * 60_000  # recording began between the fourth step and the charge
    ts, balance = balance_only(curve, None, cut, 1_000)
    assert ts.tolist() == [T0_MS + i * HOUR_MS for i in range(5)] + [cut]
    assert balance[-1] == balance[-2] == curve.at(cut)
    ts, balance = balance_only(curve, T0_MS + 90 * 60_000, cut, 1_000)  # a range starting mid-history
    assert ts[0] == T0_MS + 90 * 60_000 and balance[0] == curve.at(T0_MS + HOUR_MS)
    assert len(balance_only(curve, None, T0_MS, 1_000)[0]) == 0, "nothing before a cut at the first deal"
    assert len(balance_only(build_curve([]), None, cut, 1_000)[0]) == 0
