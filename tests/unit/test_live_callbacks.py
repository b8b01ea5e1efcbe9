"""The page's message handling, called directly: snapshot rebuilds, appends are capped, gaps resync."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import fakeredis
from dash import no_update

from callbacks.live import apply_batch, parse_message
from layouts import ids
from layouts.figures import LIVE_POINTS
from services.models import HistoryPoint
from services.sources.base import SourceInfo
from services.store import Store

N_KPI = len(ids.KPI_FIELDS)
FIGURE, EXTEND, CHART, SEND = N_KPI, N_KPI + 1, N_KPI + 2, N_KPI + 9
ACCOUNT = {
    "login": 77,
    "balance": 1000.0,
    "equity": 1010.5,
    "profit": 10.5,
    "margin": 20.0,
    "margin_free": 990.5,
    "margin_level": 5052.5,
    "currency": "USD",
    "currency_digits": 2,
    "name": "Trader",
    "server": "Srv",
    "company": "Broker",
    "leverage": 100,
}


def runtime_with_history(points: list[HistoryPoint], server: fakeredis.FakeServer | None = None) -> Any:
    store = Store(fakeredis.FakeRedis(server=server or fakeredis.FakeServer(), decode_responses=True), "p", 1000)
    store.append_history(77, points)
    return SimpleNamespace(store=store, source=SimpleNamespace(info=SourceInfo("demo", "Demo account")))


def account_event(ts: int, equity: float) -> dict[str, Any]:
    return {"type": "account", "account": 77, "ts": ts, "data": {**ACCOUNT, "equity": equity}}


def test_snapshot_builds_the_figure_from_history_plus_later_events() -> None:
    history = [HistoryPoint(1000 + i, 1000.0, 1000.0 + i, 20.0, 5000.0, 0.0) for i in range(3)]
    runtime = runtime_with_history(history)
    snapshot = {
        "type": "snapshot",
        "account": 77,
        "ts": 1003,
        "data": {"account": ACCOUNT, "status": {"mt5": "connected"}},
    }
    out = apply_batch(
        {"seq": 1, "events": [snapshot, account_event(1002, 5.0), account_event(1005, 1020.0)]}, {}, runtime
    )
    figure = out[FIGURE]
    assert list(figure.data[1].y) == [1000.0, 1001.0, 1002.0, 1020.0], "older events are not drawn twice"
    assert out[EXTEND] is no_update
    assert out[CHART] == {"login": 77, "last_ts": 1005, "seq": 1}
    assert out[0] == "$1,000.00" and out[1] == "$1,020.00"
    assert out[SEND] is no_update


def test_account_events_become_one_capped_append() -> None:
    runtime = runtime_with_history([])
    chart = {"login": 77, "last_ts": 2000, "seq": 4}
    out = apply_batch(
        {"seq": 5, "events": [account_event(1999, 1.0), account_event(2001, 1011.0), account_event(2002, 1012.0)]},
        chart,
        runtime,
    )
    assert out[FIGURE] is no_update
    assert out[EXTEND] == [
        {"x": [[2001, 2002], [2001, 2002]], "y": [[1000.0, 1000.0], [1011.0, 1012.0]]},
        [0, 1],
        LIVE_POINTS,
    ]
    assert out[CHART]["last_ts"] == 2002
    assert out[SEND] is no_update


def test_a_sequence_gap_asks_for_a_fresh_snapshot() -> None:
    runtime = runtime_with_history([])
    out = apply_batch(
        {"seq": 9, "events": [account_event(3001, 1.0)]}, {"login": 77, "last_ts": 3000, "seq": 7}, runtime
    )
    assert json.loads(out[SEND]) == {"type": "snapshot"}


def test_status_updates_badges() -> None:
    runtime = runtime_with_history([])
    event = {"type": "status", "account": None, "ts": 1, "data": {"link": "redis", "redis": "down"}}
    out = apply_batch({"seq": 1, "events": [event]}, {}, runtime)
    assert out[-3:-1] == ("Redis: down", "badge badge-bad")


def test_garbage_messages_are_ignored() -> None:
    assert parse_message(None) is None
    assert parse_message({"data": "not json"}) is None
    assert parse_message({"data": "[1]"}) is None
    assert parse_message({"data": '{"type": "batch", "data": {}}'}) == {"type": "batch", "data": {}}


def test_a_page_that_missed_the_first_snapshot_asks_once() -> None:
    runtime = runtime_with_history([])
    first = apply_batch({"seq": 3, "events": [account_event(10, 1.0)]}, {}, runtime)
    assert json.loads(first[SEND]) == {"type": "snapshot"}
    second = apply_batch({"seq": 4, "events": [account_event(11, 1.0)]}, first[CHART], runtime)
    assert second[SEND] is no_update, "the answer is on its way"
    later = apply_batch({"seq": 24, "events": []}, {**second[CHART], "seq": 23}, runtime)
    assert json.loads(later[SEND]) == {"type": "snapshot"}, "asked again when no answer came"


def test_redis_coming_back_asks_for_a_snapshot() -> None:
    runtime = runtime_with_history([])
    event = {"type": "status", "account": None, "ts": 1, "data": {"link": "redis", "redis": "up"}}
    out = apply_batch({"seq": 6, "events": [event]}, {"login": 77, "last_ts": 1, "seq": 5}, runtime)
    assert json.loads(out[SEND]) == {"type": "snapshot"}


def test_snapshot_while_redis_is_down_still_renders() -> None:
    server = fakeredis.FakeServer()
    runtime = runtime_with_history([], server)
    server.connected = False
    snapshot = {"type": "snapshot", "account": 77, "ts": 5, "data": {"account": ACCOUNT, "status": {}}}
    out = apply_batch({"seq": 1, "events": [snapshot, account_event(6, 1001.0)]}, {}, runtime)
    assert list(out[FIGURE].data[1].y) == [1001.0]
