"""The overview's combined equity: the accounts' equity summed per currency over the last day, from the stored
history, and kept live by appending each minute as it ends. The truth is worked out here from the points the
test wrote, with plain Python: an account's equity at a minute's end is its last point before it."""

from __future__ import annotations

import types
from typing import Any

import fakeredis
import pytest
import redis

from layouts import ids
from services.core.models import HistoryPoint
from services.fleet.equity import POINTS, SETTLE_MS, STEP_MS, combined_equity, grid, grid_end, plans
from services.fleet.overview import account_line
from services.ingest.monitor import assess
from services.storage.store import Store
from views.overview import OverviewRenderer

T0 = 1_764_000_000_000 // 60_000 * 60_000  # a minute's start
MIN = 60_000
CURRENCIES = {101: "USD", 102: "USD", 201: "EUR"}


def written() -> tuple[Store, dict[int, list[tuple[int, float]]]]:
    """Three accounts as collectors write them: 101 every 20 s, 102 from later on every 45 s, 201 once three hours
    before and then quiet until 12 minutes in (its value is held across the gap)."""
    store = Store(fakeredis.FakeRedis(decode_responses=True), "mt5", 1_000_000)
    points = {
        101: [(T0 - 10 * MIN + k * 20_000, 1000 + 1.5 * k) for k in range(120)],
        102: [(T0 + 5 * MIN + k * 45_000, 2000 - 0.25 * k) for k in range(33)],
        201: [(T0 - 180 * MIN, 500.0), (T0 + 12 * MIN, 512.5), (T0 + 29 * MIN + 30_000, 499.75)],
    }
    for login, series in points.items():
        store.append_history(login, [HistoryPoint(ts, eq, eq, 0.0, 0.0, 0.0) for ts, eq in series])
    return store, points


def truth(points: dict[int, list[tuple[int, float]]], logins: list[int], rates: dict[int, float], at: int) -> Any:
    values = [rates[login] * max(p for p in points[login] if p[0] < at)[1] for login in logins
              if any(p[0] < at for p in points[login])]  # fmt: skip
    return round(sum(values), 2) if values else None


def lines(store: Store) -> list[Any]:
    health = {login: assess(login, {"mt5": "connected", "last_poll_ms": T0}, T0, 250) for login in CURRENCIES}
    return [
        account_line(login, {"account": {"currency": currency, "equity": 1.0}}, health[login])
        for login, currency in CURRENCIES.items()
    ]


def test_equity_is_summed_per_currency_and_never_across_currencies_without_a_rate() -> None:
    store, points = written()
    end = grid_end(T0 + 30 * MIN + SETTLE_MS)
    assert end == T0 + 30 * MIN and grid_end(T0 + 30 * MIN + SETTLE_MS - 1) == T0 + 29 * MIN, "a minute settles"
    times = grid(end - POINTS * STEP_MS, end)
    assert len(times) == POINTS == 1440 and times[-1] == end

    apart = combined_equity(store, plans(lines(store), None, {}), times)
    assert [c.plan.label for c in apart.curves] == ["EUR", "USD"], "one curve per currency"
    eur, usd = apart.curves
    assert eur.equity == [truth(points, [201], {201: 1.0}, t) for t in times]
    assert usd.equity == [truth(points, [101, 102], {101: 1.0, 102: 1.0}, t) for t in times]
    assert usd.equity[times.index(T0 - 10 * MIN)] is None and usd.equity[-1] is not None
    assert usd.accounts[times.index(T0)] == 1 and usd.accounts[-1] == 2, "102 counts from its first point"
    assert eur.equity[times.index(T0 + 5 * MIN)] == 500.0, "a quiet account is held at its last equity"

    together = combined_equity(store, plans(lines(store), "USD", {"EUR": 1.1}), times)
    (whole,) = together.curves
    assert whole.plan.label == "All in USD" and whole.plan.currency == "USD"
    rates = {101: 1.0, 102: 1.0, 201: 1.1}
    assert whole.equity == [truth(points, [101, 102, 201], rates, t) for t in times]
    without = plans(lines(store), "USD", {})
    assert [(p.label, [m.login for m in p.members]) for p in without] == [("All in USD", [101, 102]), ("EUR", [201])]


def test_an_old_minute_entry_without_its_close_reads_its_later_extreme() -> None:
    store = Store(fakeredis.FakeRedis(decode_responses=True), "mt5", 1_000)
    entry = {"low_ts": str(T0 + 5_000), "low": "90.0", "high_ts": str(T0 + 50_000), "high": "110.0",
             "balance": "100.0", "margin": "0.0", "margin_level": "0.0", "profit": "0.0"}  # fmt: skip
    store.client.xadd(store.keys.rollup(7), entry, id=f"{T0}-0")
    assert store.equity_closes([7], T0, T0 + MIN) == {7: [(T0 + MIN - 1, 110.0)]}


def runtime(store: Store, report_currency: str | None = None) -> Any:
    settings = types.SimpleNamespace(report_currency=report_currency, fx_rates=(("EUR", 1.1),))
    return types.SimpleNamespace(store=store, settings=settings, account_lines=lambda: lines(store))


def figure_of(update: dict[str, Any]) -> dict[str, Any]:
    return update[ids.OVERVIEW_EQUITY]["figure"].to_plotly_json()


def test_the_overview_appends_each_minute_as_it_ends_and_a_joining_page_gets_what_the_others_hold() -> None:
    store, points = written()
    now = [T0 + 30 * MIN + SETTLE_MS]
    view = OverviewRenderer(runtime(store, "USD"), "dark", clock=lambda: now[0] / 1000)
    rates = {101: 1.0, 102: 1.0, 201: 1.1}

    whole = view.full(reload=True).set[ids.OVERVIEW_EQUITY]
    assert whole["style"] == {"height": f"{whole['figure'].layout.height}px"}, "the graph as tall as its figure"
    first = figure_of(view.full(reload=True).set)
    (trace,) = first["data"]
    assert trace["name"] == "All in USD" and len(trace["x"]) == POINTS and trace["x"][-1] == T0 + 30 * MIN
    assert trace["y"][-1] == truth(points, [101, 102, 201], rates, T0 + 30 * MIN)
    assert first["layout"]["yaxis"]["title"]["text"] == "Equity (USD)"
    now[0] += 300
    drawn = view.tick()
    assert drawn is None, "nothing said and no page holds a curve the renderer knows of yet"
    signal = view.event(types.SimpleNamespace(kind="account"))
    assert signal is not None and "figure" in signal.set[ids.OVERVIEW_EQUITY], "every page gets it whole once"

    store.append_history(101, [HistoryPoint(T0 + 30 * MIN + 20_000, 1300.0, 1300.0, 0, 0, 0)])
    points[101].append((T0 + 30 * MIN + 20_000, 1300.0))
    now[0] = T0 + 31 * MIN + SETTLE_MS - 1
    assert view.tick() is None, "the minute has not settled yet"
    now[0] += 1
    appended = view.tick()
    assert appended is not None, "a new minute moves the curve on even when no account said anything"
    data, traces, keep = appended.set[ids.OVERVIEW_EQUITY]["extendData"]
    assert traces == [0] and keep == {"x": [POINTS], "y": [POINTS]}, "each trace keeps one day"
    assert data == {"x": [[T0 + 31 * MIN]], "y": [[truth(points, [101, 102, 201], rates, T0 + 31 * MIN)]]}
    assert data["y"][0][0] == pytest.approx(1300 + 2000 - 0.25 * 32 + 1.1 * 499.75, abs=0.006), "to the cent"
    now[0] += 250
    assert view.tick() is None, "nothing new until the next minute ends"

    now[0] = T0 + 32 * MIN + SETTLE_MS
    read = store.equity_closes
    store.equity_closes = lambda *a, **k: (_ for _ in ()).throw(redis.ConnectionError("down"))  # type: ignore[method-assign]
    assert ids.OVERVIEW_EQUITY not in view.tick().set, "Redis did not answer: the minute waits"
    store.equity_closes = read  # type: ignore[method-assign]
    joined = figure_of(view.full(reload=True).set)
    assert joined["data"][0]["x"][-1] == T0 + 31 * MIN, "the minute the others hold, so the next append fits"
    now[0] += 250
    later = view.tick()
    assert later is not None and later.set[ids.OVERVIEW_EQUITY]["extendData"][0]["x"] == [[T0 + 32 * MIN]]
