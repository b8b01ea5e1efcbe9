"""An account whose deals are months older than the app's first poll opens on its whole life:
the charts from the first deposit (balance from deals, then recorded equity), and the statistics,
deal grid and exports over every deal by default."""

from __future__ import annotations

import csv
import io
import time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from api.analytics import EXPORT_POINTS
from callbacks.analytics import range_bounds
from callbacks.charts import chart_outputs, selected_range
from callbacks.tables import deals_response
from layouts import ids
from layouts.charts import range_selector
from services.analytics.csv_export import deals_csv, trades_csv, utc_iso
from services.analytics.period import build_report
from services.core.secret import Secret
from services.core.timefmt import client_clock
from services.ingest.sources.mt5 import MT5Source
from tests.fakes.fake_mt5 import FakeMT5, ny_close_offset
from tests.fakes.old_account import TRADE_DAYS, OldAccount, fill_old_account
from tests.helpers import plotted, wall_ms, wall_text

LOGIN = 777
TZ = "Europe/Berlin"
BERLIN = ZoneInfo(TZ)
CLIENT = {"tz": TZ, "width": 900}


@pytest.fixture
def old_app(make_app: Any) -> tuple[Any, OldAccount]:
    fake = FakeMT5(login=LOGIN, password="pw-777", offset_s=ny_close_offset)
    account = fill_old_account(fake, time.time())
    # its daily trades run through weekends, which says nothing of the clock: it is set
    source = MT5Source(fake.module, login=LOGIN, password=Secret("pw-777"), broker_tz="ny-close")
    app = make_app({"MT5_SOURCE": "mt5", "MT5_LOGIN": str(LOGIN)}, source=source, start=False)
    runtime = app.server.extensions["mt5_runtime"]
    for _ in range(3):  # connect, then polls: every deal stored, recorded points from now on
        runtime.streamer.step()
    assert runtime.store.deal_count(LOGIN) == account.deals
    first_recorded = runtime.store.first_history_ts(LOGIN)
    assert first_recorded is not None and first_recorded > account.last_deal_s * 1000
    return app, account


@pytest.fixture
def old(old_app: tuple[Any, OldAccount]) -> tuple[Any, OldAccount]:
    app, account = old_app
    return app.server.extensions["mt5_runtime"], account


def default_selection(runtime: Any) -> dict[str, Any]:
    """What the page's range store holds at load: the range buttons' default value, chosen."""
    buttons = range_selector().children[0]
    assert buttons.id == ids.RANGE_BUTTONS
    broker = runtime.broker_zone()
    return selected_range(buttons.value, None, None, int(time.time() * 1000), broker, client_clock(CLIENT, broker))


def traces(figure: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {trace["name"]: trace for trace in figure["data"]}


def test_the_page_opens_on_all(old: tuple[Any, OldAccount]) -> None:
    assert default_selection(old[0]) == {"choice": "all", "from_ms": None, "to_ms": None}


def test_the_balance_chart_starts_at_the_first_deposit_and_shows_what_was_recorded(old: tuple[Any, OldAccount]) -> None:
    runtime, account = old
    equity, _, drawdown, state, note = chart_outputs(runtime, default_selection(runtime), CLIENT, "light")
    shown = traces(equity)
    assert list(shown) == ["Balance", "Equity", "Balance (from deals)"], (
        "recorded traces first: live appends extend 0, 1"
    )
    deals, recorded = shown["Balance (from deals)"], shown["Balance"]
    first_ms = round(account.first_deal_s * 1000)
    assert deals["x"][0] == wall_ms(first_ms, BERLIN), "the curve starts at the first deposit"
    assert deals["y"][0] == 10_000.0 and deals["line"]["dash"] == "dot"
    assert recorded["x"] and min(recorded["x"]) == deals["x"][-1], "the deals part meets the first recorded point"
    assert deals["y"][-1] == account.balance == recorded["y"][0]
    assert min(x for trace in equity["data"] for x in trace["x"]) == deals["x"][0], "the x range covers the first deal"
    first_recorded = runtime.store.first_history_ts(LOGIN)
    since = wall_text(first_recorded, BERLIN)[:16]
    band = equity["layout"]["shapes"][0]
    assert (band["x0"], band["x1"]) == (deals["x"][0], deals["x"][-1])
    assert equity["layout"]["annotations"][0]["text"] == f"balance from deals<br>recorded from {since}"
    steps = 1 + 2 * TRADE_DAYS + 1  # deposit, every open (commission) and close, the withdrawal; not the credit
    assert note.startswith(f"{steps:,} balance steps from {account.deals:,} deals · equity recorded from {since} · ")
    assert "the deals add up to" not in note, "the curve reconciles with the account's balance"
    assert [t["name"] for t in drawdown["data"]] == ["Drawdown", "Drawdown (balance from deals)"]
    assert "balance from deals" in drawdown["layout"]["title"]["text"]
    assert min(drawdown["data"][1]["y"]) < 0
    assert state["last_ts"] == runtime.store.last_history_ts(LOGIN) and state["live"] is True


def test_a_range_before_the_first_poll_is_drawn_from_deals_alone(old: tuple[Any, OldAccount]) -> None:
    runtime, account = old
    start, end = (
        round(account.first_deal_s * 1000) + 10 * 86_400_000,
        round(account.first_deal_s * 1000) + 20 * 86_400_000,
    )
    equity, *_, note = chart_outputs(runtime, {"choice": "custom", "from_ms": start, "to_ms": end}, CLIENT, "light")
    shown = traces(equity)
    assert shown["Balance"]["x"] == [] and shown["Equity"]["x"] == []
    assert shown["Balance (from deals)"]["x"][0] == wall_ms(start, BERLIN)
    assert shown["Balance (from deals)"]["x"][-1] == wall_ms(end, BERLIN)
    assert "no equity recorded in this range" in note


def test_a_balance_the_deals_miss_is_named_in_the_note(old: tuple[Any, OldAccount]) -> None:
    runtime, account = old
    runtime.store.client.delete(runtime.store.keys.deals(LOGIN), runtime.store.keys.deals_by_time(LOGIN))
    _, _, _, _, note = chart_outputs(runtime, None, CLIENT, "light")
    assert note.endswith(f" · the deals add up to $0.00, the account reports ${account.balance:,.2f}")


def test_statistics_grid_and_exports_cover_every_deal_by_default(old: tuple[Any, OldAccount]) -> None:
    runtime, account = old
    selection = default_selection(runtime)
    start, end = range_bounds(selection)
    report = build_report(runtime.store, LOGIN, runtime.streamer.latest().account, start_ms=start, end_ms=end)
    assert len(report.trades) == TRADE_DAYS and report.reconciliation.ok
    assert report.stats["trades"] == TRADE_DAYS
    grid = deals_response(runtime, LOGIN, {"startRow": 0, "endRow": 100}, selection, CLIENT)
    assert grid["rowCount"] == account.deals
    rows = list(csv.DictReader(io.StringIO("".join(deals_csv(runtime.store, LOGIN, start, end)))))
    assert len(rows) == account.deals
    trades = list(csv.DictReader(io.StringIO("".join(trades_csv(runtime.store, LOGIN, start, end, 2)))))
    assert len(trades) == TRADE_DAYS


def named(traces: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {trace["name"]: trace for trace in traces}


def drawn(figure: dict[str, Any]) -> list[tuple[str, list[Any], list[Any]]]:
    return [(trace["name"], trace["x"], trace["y"]) for trace in figure["data"]]


def assert_whole_life(equity: list[dict[str, Any]], drawdown: list[dict[str, Any]], account: OldAccount) -> None:
    """The balance from deals from the first deposit (UTC ms in a file), then the recorded traces after it."""
    shown = named(equity)
    assert list(shown) == ["Balance", "Equity", "Balance (from deals)"]
    deals, recorded = shown["Balance (from deals)"], shown["Balance"]
    assert deals["x"][0] == round(account.first_deal_s * 1000) and deals["y"][0] == 10_000.0
    assert deals["line"]["dash"] == "dot" and "dash" not in recorded["line"]
    assert recorded["x"] and min(recorded["x"] + shown["Equity"]["x"]) == deals["x"][-1] > deals["x"][0]
    assert deals["y"][-1] == account.balance == recorded["y"][0]
    assert [t["name"] for t in drawdown] == ["Drawdown", "Drawdown (balance from deals)"]
    assert drawdown[1]["x"][0] == deals["x"][0] and min(drawdown[1]["y"]) < 0


def test_chart_exports_draw_the_whole_life_as_the_page_does(old_app: tuple[Any, OldAccount]) -> None:
    app, account = old_app
    client = app.server.test_client()
    (equity,) = plotted(client.get("/export/chart/equity.html").get_data(as_text=True))
    (drawdown,) = plotted(client.get("/export/chart/drawdown.html").get_data(as_text=True))
    assert_whole_life(equity, drawdown, account)
    runtime = app.server.extensions["mt5_runtime"]
    page = chart_outputs(runtime, None, {"tz": "UTC", "width": EXPORT_POINTS}, "light")
    assert drawn({"data": equity}) == drawn(page[0]) and drawn({"data": drawdown}) == drawn(page[2])


def test_a_chart_export_of_a_range_before_the_first_poll_is_the_balance_from_deals(
    old_app: tuple[Any, OldAccount],
) -> None:
    app, account = old_app
    start = round(account.first_deal_s * 1000) + 10 * 86_400_000
    end = start + 10 * 86_400_000
    query = {"from": utc_iso(start), "to": utc_iso(end)}
    page = app.server.test_client().get("/export/chart/equity.html", query_string=query).get_data(as_text=True)
    (equity,) = plotted(page)
    shown = named(equity)
    assert shown["Balance"]["x"] == [] and shown["Equity"]["x"] == []
    assert (shown["Balance (from deals)"]["x"][0], shown["Balance (from deals)"]["x"][-1]) == (start, end)


def test_the_report_draws_the_whole_life(old_app: tuple[Any, OldAccount]) -> None:
    app, account = old_app
    equity, margin, drawdown, *_ = plotted(app.server.test_client().get("/export/report.html").get_data(as_text=True))
    assert [t["name"] for t in margin] == ["Margin", "Margin level"], "the charts in the page's order"
    assert_whole_life(equity, drawdown, account)
