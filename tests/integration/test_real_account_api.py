"""The app as a user runs it (``create_app`` with ``MT5_SOURCE=mt5``) on the real-looking account: the REST
answers against the ground truth computed by the test fakes, never by the app.

- ``/deals`` for each UTC day returns exactly that day's deals, on both sides of both clock changes;
- ``/trades`` has every trade with its true open and close times;
- ``/health`` says the whole history is read and which clock was found;
- a start while the market is closed ends with the same answers once the market opens.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.core.secret import Secret
from services.ingest.sources.mt5 import MT5Source
from tests.fakes.fake_mt5 import FakeMT5, ny_close_offset
from tests.fakes.ground_truth import GroundTruth
from tests.fakes.real_account import RealAccount

pytestmark = pytest.mark.integration

START = datetime(2025, 1, 6, tzinfo=UTC)
END = datetime(2025, 11, 27, 15, tzinfo=UTC)  # Thursday, the market open
SATURDAY = datetime(2025, 11, 29, 12, tzinfo=UTC)
LOGIN, PASSWORD = 6_100_200, "real-Pa55!"


def started(make_app: Any, clock: list[float], closed: bool) -> tuple[Any, FakeMT5, GroundTruth]:
    fake = FakeMT5(login=LOGIN, password=PASSWORD, offset_s=ny_close_offset, clock=lambda: clock[0])
    account = RealAccount.build(fake, START, END, 21, deals_target=1200)
    if closed:
        account.market_closed(SATURDAY)
        clock[0] = SATURDAY.timestamp()
    source = MT5Source(fake.module, login=LOGIN, password=Secret(PASSWORD), clock=lambda: clock[0])
    app = make_app({"MT5_SOURCE": "mt5", "MT5_LOGIN": str(LOGIN)}, source=source, start=False)
    return app, fake, GroundTruth(account)


def poll_until_synced(runtime: Any) -> None:
    for _ in range(20):
        runtime.streamer.step()
        sync = runtime.streamer.status().history_sync
        if sync and sync["done"]:
            return
    raise AssertionError(f"history not read: {runtime.streamer.status().history_sync}")


def day_param(day: datetime) -> str:
    return day.strftime("%Y-%m-%d")


def check_against_truth(client: Any, truth: GroundTruth) -> None:
    by_day: dict[str, set[int]] = defaultdict(set)
    for ticket, utc_ms in truth.deal_utc_ms.items():
        by_day[day_param(datetime.fromtimestamp(utc_ms / 1000, UTC))].add(ticket)
    # the days around both US clock changes, and a sample of the rest
    days = [datetime(2025, 3, d, tzinfo=UTC) for d in (7, 9, 10, 11)]
    days += [datetime(2025, 11, d, tzinfo=UTC) for d in (1, 2, 3, 4)]
    days += [START + timedelta(days=7 * k) for k in range(0, 46, 3)]
    for day in days:
        key = day_param(day)
        answer = client.get(f"/deals?from={key}&to={key}").get_json()
        assert {d["ticket"] for d in answer["deals"]} == by_day.get(key, set()), key
    trades = client.get("/trades").get_json()["trades"]
    found = {(t["position_id"], t["open_time_utc_ms"], t["close_time_utc_ms"]) for t in trades}
    expected = {(t.position_id, t.open_utc_ms, t.close_utc_ms) for t in truth.trades}
    assert len(found) == len(trades) == len(expected) > 300
    assert found == expected


def test_every_day_and_every_trade_is_true_in_both_seasons(make_app: Any) -> None:
    clock = [END.timestamp()]
    app, _, truth = started(make_app, clock, closed=False)
    runtime = app.server.extensions["mt5_runtime"]
    poll_until_synced(runtime)
    client = app.server.test_client()
    health = client.get("/health").get_json()["mt5"]
    assert health["broker_clock"]["zone"] == "ny-close" and health["broker_clock"]["basis"] == "measured"
    assert health["history_sync"] == {"read": len(truth.deal_utc_ms), "total": len(truth.deal_utc_ms), "done": True}
    check_against_truth(client, truth)


def test_a_start_on_a_closed_market_ends_true_once_the_market_opens(make_app: Any) -> None:
    clock = [0.0]
    app, fake, truth = started(make_app, clock, closed=True)
    runtime = app.server.extensions["mt5_runtime"]
    poll_until_synced(runtime)
    client = app.server.test_client()
    clock_now = client.get("/health").get_json()["mt5"]["broker_clock"]
    assert clock_now["basis"] in ("history", "assumed")
    check_against_truth(client, truth)  # the week's last tick and the trades already tell New York close
    clock[0] = (SATURDAY + timedelta(days=2)).timestamp()  # Monday: live ticks again
    fake.clock = lambda: clock[0]
    for symbol in list(fake.ticks):
        fake.set_tick(symbol, fake.ticks[symbol]["bid"], fake.ticks[symbol]["ask"])
    clock[0] += 700
    runtime.streamer.step()
    assert client.get("/health").get_json()["mt5"]["broker_clock"]["basis"] == "measured"
    check_against_truth(client, truth)
