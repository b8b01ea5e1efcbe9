"""Every account side by side: the collector monitor, today's P/L, totals per currency, the per-account routes."""

from __future__ import annotations

import json
from typing import Any

import fakeredis
import pytest

from services.core.settings import SettingsError, load_settings
from services.core.units import DAY_MS
from services.fleet.overview import Overview, account_line, combined, currency_totals
from services.ingest.monitor import AccountsMonitor, assess
from services.storage.store import Store
from tests.helpers import wait_until


def store() -> Store:
    return Store(fakeredis.FakeRedis(decode_responses=True), "mt5", 1000)


def test_an_account_is_stale_after_twice_its_own_poll_interval() -> None:
    status = {"mt5": "connected", "last_poll_ms": 10_000, "poll_interval_ms": 1_200}
    assert not assess(1, status, 12_450, 1000).stale, "2 x 1.2 s + the grace of a poll"
    assert assess(1, status, 12_451, 1000).stale
    assert assess(1, {**status, "poll_interval_ms": None}, 12_050, 1000).stale is False, "default interval"
    assert assess(1, {**status, "poll_interval_ms": None}, 12_051, 1000).stale
    assert assess(1, {**status, "poll_interval_ms": 200}, 12_000, 1000).stale is False, "2 s at least"
    assert assess(1, {**status, "poll_interval_ms": 200}, 12_001, 1000).stale
    assert assess(1, None, 10_000, 250).state == "stale", "never polled"
    assert assess(1, {**status, "mt5": "reconnecting"}, 10_100, 250).state == "reconnecting"


def test_the_monitor_tells_the_pages_only_when_a_state_flips() -> None:
    s = store()
    now = [100.0]
    told: list[list[dict[str, Any]]] = []
    monitor = AccountsMonitor(s, default_interval_ms=250, configured=lambda: [9], notify=told.append,
                              clock=lambda: now[0])  # fmt: skip
    s.client.sadd(s.keys.accounts(), 7)
    s.save_status(7, {"mt5": "connected", "last_poll_ms": 100_000, "poll_interval_ms": 250})
    assert monitor.check() is True and [row["login"] for row in told[-1]] == [7, 9]
    assert [row["state"] for row in told[-1]] == ["live", "stale"], "a configured account that never polled"
    now[0] = 100.2
    s.save_status(7, {"mt5": "connected", "last_poll_ms": 100_200, "poll_interval_ms": 250})
    assert monitor.check() is False and len(told) == 1, "a new poll is no news"
    now[0] = 102.2
    assert monitor.check() is False, "2 s of silence is not yet stale, however short the interval"
    now[0] = 102.3
    assert monitor.check() is True and told[-1][0]["state"] == "stale"
    assert monitor.period_s() == pytest.approx(0.1), "a quarter of 250 ms, but at least 0.1 s"
    s.client.set(s.keys.status(7), "{torn")
    assert monitor.check() is False, "an unreadable status is a stale account, not a stopped monitor"


def test_the_monitor_thread_runs_and_stops() -> None:
    s = store()
    s.client.sadd(s.keys.accounts(), 7)
    told: list[Any] = []
    monitor = AccountsMonitor(s, default_interval_ms=100, notify=told.append)
    monitor.start()
    try:
        wait_until(lambda: told, 2, "a first report")
        s.save_status(7, {"mt5": "connected", "last_poll_ms": int(__import__("time").time() * 1000) + 5000})
        wait_until(lambda: len(told) >= 2 and told[-1][0]["state"] == "live", 2, "the account goes live")
    finally:
        monitor.stop()


def line(login: int, currency: str, equity: float, today_equity: float | None = None, stale: bool = False) -> Any:
    snapshot = {"account": {"currency": currency, "currency_digits": 2, "balance": equity - 10, "equity": equity,
                            "profit": 10.0, "margin": 0.0, "margin_level": 0.0, "name": f"n{login}"}}  # fmt: skip
    day = None if today_equity is None else {"equity": today_equity, "flows": 0.0}
    health = assess(login, None if stale else {"mt5": "connected", "last_poll_ms": 1000}, 1000, 250)
    return account_line(login, snapshot, health, day=day)


def test_totals_stay_within_a_currency_unless_a_rate_is_configured() -> None:
    lines = [line(1, "USD", 1000, 990), line(2, "EUR", 500, 510), line(3, "USD", 2000, None, stale=True)]
    assert lines[0].today == 10 and lines[1].today == -10 and lines[2].today is None
    totals = currency_totals(lines, {"EUR": 1.1})
    assert [(t.currency, t.accounts, t.stale, t.equity, t.today) for t in totals] == [
        ("EUR", 1, 0, 500, -10), ("USD", 2, 1, 3000, 10)]  # fmt: skip
    assert combined(totals, None) is None, "no report currency: nothing is added across currencies"
    total = combined(totals, "USD")
    assert total is not None and total.equity == pytest.approx(3550) and total.today == pytest.approx(-1)
    assert total.included == ("EUR", "USD") and total.missing == ()
    partial = combined(currency_totals(lines, {}), "USD")
    assert partial is not None and partial.equity == 3000 and partial.missing == ("EUR",), "no rate: left out"


def test_todays_bars_are_green_for_a_profit_and_red_for_a_loss_whatever_the_currency() -> None:
    """The bars were coloured by currency: a EUR profit could be drawn red. Now by sign, in both themes."""
    from layouts.figures import SIGN_COLORS
    from layouts.overview import pl_figure
    from views.overview import bar_update

    lines = [line(1, "USD", 1000, 1010), line(2, "EUR", 510, 500), line(3, "JPY", 9000, None)]
    assert [ln.today for ln in lines] == [-10, 10, None]
    for theme in ("light", "dark"):
        colors = SIGN_COLORS[theme]
        gains, losses = pl_figure(lines, theme).data
        assert (gains.marker.color, losses.marker.color) == (colors["gain"], colors["loss"])
        assert list(gains.y) == [None, 10, None] and list(losses.y) == [-10, None, None], "each bar on its sign"
        assert list(gains.x) == list(losses.x) == ["n1 (USD)", "n2 (EUR)", "n3 (JPY)"], "the currency of each bar"
        assert "%{x}" in gains.hovertemplate and gains.texttemplate == "%{y:+,.2f}", "the amount on the bar"
    assert SIGN_COLORS["light"]["gain"] != SIGN_COLORS["dark"]["gain"], "a green that reads on a dark card"
    turned = [line(1, "USD", 1020, 1010), *lines[1:]]
    update, traces, keep = bar_update(turned)
    assert traces == [0, 1] and keep == {"y": [3, 3]}, "the bars' heights replaced in place, nothing else"
    assert update["y"] == [[10, 10, None], [None, None, None]], "the loss turned profit moves to the green trace"


def test_today_is_read_again_on_new_deals_only() -> None:
    s = store()
    snapshot = {"account": {"currency": "USD", "equity": 1100.0, "balance": 1100.0}, "server_offset_s": 0}
    s.client.set(s.keys.snapshot(5), json.dumps(snapshot))
    s.client.sadd(s.keys.accounts(), 5)
    from services.core.models import HistoryPoint

    s.append_history(5, [HistoryPoint(ts=10 * DAY_MS - 1000, balance=1000, equity=1000, margin=0, margin_level=0,
                                      profit=0)])  # fmt: skip
    overview = Overview(s, clock=lambda: 10 * DAY_MS / 1000 + 60)
    health = {5: assess(5, {"mt5": "connected", "last_poll_ms": 10 * DAY_MS}, 10 * DAY_MS, 250)}
    assert overview.lines(health)[0].today == pytest.approx(100)


def test_currency_settings_name_the_variable() -> None:
    settings = load_settings({"REPORT_CURRENCY": "usd", "FX_RATES": "EUR=1.08, gbp=1.27"}, dotenv_path=None)
    assert settings.report_currency == "USD" and settings.fx_rates == (("EUR", 1.08), ("GBP", 1.27))
    for env, variable in (({"FX_RATES": "EUR=1.1"}, "FX_RATES"), ({"REPORT_CURRENCY": "US D"}, "REPORT_CURRENCY"),
                          ({"REPORT_CURRENCY": "USD", "FX_RATES": "EUR=-1"}, "FX_RATES"),
                          ({"REPORT_CURRENCY": "USD", "FX_RATES": "EUR=1,EUR=2"}, "FX_RATES"),
                          ({"DEMO_CURRENCY": "XAU"}, "DEMO_CURRENCY")):  # fmt: skip
        with pytest.raises(SettingsError) as raised:
            load_settings(env, dotenv_path=None)
        assert raised.value.variable == variable


@pytest.fixture
def two_accounts(make_app: Any) -> Any:
    """The app's own demo account, and a second one whose collector wrote to the same Redis."""
    from services.ingest.sources.demo import DemoSource

    app = make_app({"MT5_SOURCE": "demo", "MT5_LOGIN": "8001"})
    runtime = app.server.extensions["mt5_runtime"]
    other = DemoSource(seed=3, login=8002, currency="EUR")
    other.connect()
    from services.core.models import Snapshot

    snap = Snapshot(other.account(), tuple(other.positions()), tuple(other.orders()), 1_000, other.server_offset_s)
    runtime.store.save_snapshot(snap)
    runtime.store.save_status(8002, {"mt5": "connected", "last_poll_ms": 1_000, "poll_interval_ms": 250})
    wait_until(lambda: runtime.streamer.latest() is not None, 10, "the app's own first poll")
    return app


def test_every_account_route_answers_for_any_account(two_accounts: Any) -> None:
    client = two_accounts.server.test_client()
    assert client.get("/accounts/8002/account").get_json()["currency"] == "EUR"
    assert client.get("/accounts/8001/account").get_json()["login"] == 8001
    assert client.get("/account").get_json()["login"] == 8001, "the single-account routes keep the default"
    positions = client.get("/accounts/8002/positions")
    assert positions.status_code == 200 and isinstance(positions.get_json(), list)
    for path in ("/orders", "/deals", "/stats", "/trades", "/alerts", "/rules", "/export/positions.csv"):
        assert client.get("/accounts/8002" + path).status_code == 200, path
    missing = client.get("/accounts/9999/account")
    assert missing.status_code == 404 and "9999" in missing.get_json()["error"]
    assert client.get("/accounts/abc/account").status_code == 404
    rows = wait_until(lambda: (r := client.get("/accounts").get_json()) and len(r["accounts"]) == 2
                      and not r["accounts"][0]["stale"] and r, 10, "both accounts, the app's own polled")  # fmt: skip
    by_login = {row["login"]: row for row in rows["accounts"]}
    assert by_login[8002]["stale"], "8002 wrote one status long ago"
    assert {t["currency"] for t in rows["currencies"]} == {"USD", "EUR"} and rows["combined"] is None
    assert client.get("/accounts/8002").get_json()["currency"] == "EUR"
    health = client.get("/health").get_json()
    assert {row["login"] for row in health["accounts"]} == {8001, 8002} and health["accounts"][1]["state"] == "stale"


def test_an_unreadable_stored_snapshot_is_a_502_not_a_crash(two_accounts: Any) -> None:
    runtime = two_accounts.server.extensions["mt5_runtime"]
    runtime.store.client.set(runtime.store.keys.snapshot(8002), json.dumps({"account": {"login": "x"}}))
    response = two_accounts.server.test_client().get("/accounts/8002/account")
    assert response.status_code == 502 and "8002" in response.get_json()["error"]


class CountingDict(dict):
    """Counts the passes of a worker loop that walks it once per pass."""

    passes = 0

    def values(self):  # type: ignore[override]
        CountingDict.passes += 1
        return super().values()


def test_the_worker_loops_sleep_between_passes() -> None:
    """A loop that waits on its own 'running' flag never sleeps: it burnt a whole core before."""
    import time

    from services.ingest.supervisor import Supervisor

    supervisor = Supervisor([], lambda spec: [])
    supervisor._collectors = CountingDict()
    supervisor.start()
    time.sleep(1.0)
    supervisor.stop()
    assert 2 <= CountingDict.passes <= 50, "about one pass per 0.2 s"

    s = store()
    checks = []
    read = s.statuses
    s.statuses = lambda logins: checks.append(1) or read(logins)  # type: ignore[method-assign]
    monitor = AccountsMonitor(s, default_interval_ms=400)
    monitor.start()
    time.sleep(1.0)
    monitor.stop()
    assert 2 <= len(checks) <= 100, "about one pass per 0.1 s"


def evaluate_once(engine: Any, snapshot: Any) -> None:
    """A collector's engine without an archive: its worker reads Redis's copy, then writes the readings."""
    engine.evaluate(snapshot)
    engine.worker.run_once()
    engine.evaluate(snapshot)
    engine.worker.run_once()


def test_rules_of_a_collectors_account_show_its_live_readings(two_accounts: Any) -> None:
    """The collector evaluates its account's rules; the dashboard shows the readings it saved to Redis."""
    from services.core.models import Snapshot
    from services.risk.engine import AlertEngine
    from services.risk.rules import DEFAULT_RULES

    runtime = two_accounts.server.extensions["mt5_runtime"]
    client = two_accounts.server.test_client()
    assert client.get("/accounts/8002/rules").get_json()["status"] == [], "nothing evaluated it yet"
    collector_engine = AlertEngine(runtime.store, DEFAULT_RULES)
    stored = Snapshot.from_dict(runtime.store.snapshot(8002))
    evaluate_once(collector_engine, stored)
    status = client.get("/accounts/8002/rules").get_json()["status"]
    assert [row["id"] for row in status] == [rule.id for rule in DEFAULT_RULES.rules]
    assert all(row["state"] in ("ok", "warning", "breached") for row in status)


def test_the_overview_is_rendered_once_per_theme_at_most_four_times_a_second(two_accounts: Any) -> None:
    from api.ws import view_option
    from layouts import ids
    from services.core.protocol import Message, event
    from views.overview import OverviewKind, OverviewRenderer

    runtime = two_accounts.server.extensions["mt5_runtime"]
    wait_until(lambda: len(runtime.account_lines()) == 2, 10, "both accounts seen by the monitor")
    kind = OverviewKind(runtime)
    viewer = kind.viewer(None, {"theme": "dark"})
    assert viewer.key() == "dark" and kind.viewer(None, {"theme": "pink"}).key() == "light"
    clock = [1_000.0]
    view = OverviewRenderer(runtime, viewer.key(), clock=lambda: clock[0])
    full = view.full(reload=True)
    assert (
        full.full
        and "figure" in full.set[ids.OVERVIEW_CHART]
        and "2 accounts" in full.set[ids.OVERVIEW_SUMMARY]["children"]
    )
    account = Message.of_event(event("account", 8002, 1, {"login": 8002, "equity": 1.5}))
    first = view.event(account)
    assert first is not None and "figure" in first.set[ids.OVERVIEW_CHART], "the first drawing for every page"
    assert view.event(account) is None, "not again within 250 ms"
    assert view.event(Message.of_event(event("positions", 8002, 1, []))) is None, "grids change no line"
    clock[0] += 0.25
    bars = view.tick()
    assert bars is not None and set(bars.set[ids.OVERVIEW_CHART]) == {"extendData"}, "only the bars' heights move"
    assert viewer.change({ids.THEME: "light"}) == "key" and viewer.key() == "light"
    with pytest.raises(ValueError, match="view: expected one of page, overview"):
        view_option({"view": "everything"})


def test_a_stranger_cannot_probe_which_accounts_exist(make_app: Any) -> None:
    app = make_app({"MT5_SOURCE": "demo", "APP_AUTH": "basic", "APP_USERS": "me:long-password"}, start=False)
    client = app.server.test_client()
    for path in ("/accounts/5000001/account", "/accounts/1/account", "/accounts/1/rules", "/overview/", "/accounts"):
        assert client.get(path).status_code == 401, path


def test_a_collectors_account_page_shows_its_own_readings_and_no_other_accounts_alerts(two_accounts: Any) -> None:
    from layouts import ids
    from services.core.models import Snapshot
    from services.risk.engine import AlertEngine
    from services.risk.rules import DEFAULT_RULES
    from views.alerts import AlertsView

    runtime = two_accounts.server.extensions["mt5_runtime"]
    local = two_accounts.server.extensions["mt5_risk"].alerts
    wait_until(lambda: local.live_status()["rules"], 10, "the app's own account evaluated")
    assert local.recent(0, 8002) == [], "alerts in memory are the evaluated account's only"
    evaluate_once(AlertEngine(runtime.store, DEFAULT_RULES), Snapshot.from_dict(runtime.store.snapshot(8002)))
    updates = AlertsView(local, 8002).changes([], 10**13)
    assert ids.RULES_ROWS in updates, "the panel is drawn from the collector's readings"
