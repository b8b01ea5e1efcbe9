"""Pure helpers behind the panels: range windows, zooms, margin-level colours, cash flows."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from dash import no_update

from callbacks.charts import range_outputs, selected_range, zoom_window
from layouts import ids
from layouts.kpis import kpi_section
from services.analytics.today import cash_flows
from services.core.brokertime import fixed, parse_zone
from services.core.timefmt import BROKER, LOCAL, UTC_CLOCK, page_clock
from services.live.kpis import kpi_texts, level_class
from views.cards import kpi_updates

NOW = 1_795_600_000_000  # 2026-11-25 08:26:40 UTC
UTC2 = fixed(7200)
IN_UTC = page_clock(UTC_CLOCK, None, UTC2)
BERLIN = page_clock(LOCAL, "Europe/Berlin", UTC2)
ACCOUNT = {"margin": 1000.0, "equity": 5000.0, "margin_free": 4000.0, "margin_level": 500.0,
           "margin_so_call": 100.0, "margin_so_so": 50.0, "margin_so_mode": 0}  # fmt: skip


def test_live_ranges_follow_now_and_today_is_the_broker_day() -> None:
    assert selected_range("1h", None, None, NOW, UTC2, IN_UTC) == {
        "choice": "1h", "from_ms": NOW - 3_600_000, "to_ms": None
    }  # fmt: skip
    for clock in (IN_UTC, BERLIN):
        today = selected_range("today", None, None, NOW, UTC2, clock)
        assert today["from_ms"] == 1_795_557_600_000, "2026-11-24 22:00 UTC is midnight on a UTC+2 server, any clock"
    assert selected_range("all", None, None, NOW, UTC2, IN_UTC) == {"choice": "all", "from_ms": None, "to_ms": None}


def test_custom_dates_are_whole_days_of_the_pages_clock() -> None:
    window = selected_range("custom", "2026-03-28", "2026-03-29", NOW, UTC2, BERLIN)
    assert window["from_ms"] == 1_774_652_400_000, "2026-03-28 00:00 in Berlin (UTC+1)"
    assert window["to_ms"] == 1_774_821_600_000 - 1, "the end of 2026-03-29 in Berlin (UTC+2 after the switch)"
    ny_close = parse_zone("ny-close")
    broker = selected_range("custom", "2026-03-08", "2026-03-08", NOW, ny_close, page_clock(BROKER, None, ny_close))
    ny = ZoneInfo("America/New_York")
    start = datetime(2026, 3, 7, 17, tzinfo=ny)  # the broker's midnight is 17:00 in New York, the day before
    end = datetime(2026, 3, 8, 17, tzinfo=ny)  # US clocks moved forward that morning: a 23-hour broker day
    assert broker["from_ms"] == start.timestamp() * 1000 and broker["to_ms"] == end.timestamp() * 1000 - 1
    utc = selected_range("custom", "2026-03-08", "2026-03-08", NOW, ny_close, IN_UTC)
    assert utc["from_ms"] == datetime(2026, 3, 8, tzinfo=UTC).timestamp() * 1000
    assert selected_range("custom", "2026-03-29", "2026-03-28", NOW, UTC2, IN_UTC) is None, "an inverted range"


def test_zoom_events_give_a_window_a_reset_or_nothing() -> None:
    zoom = zoom_window({"xaxis.range[0]": "2026-11-25 09:00:00", "xaxis.range[1]": "2026-11-25 10:00:00"}, BERLIN)
    assert zoom == (1_795_593_600_000, 1_795_597_200_000)
    broker = zoom_window(
        {"xaxis.range": ["2026-11-25 09:00:00", "2026-11-25 10:00:00.5"]}, page_clock(BROKER, None, UTC2)
    )
    assert broker == (1_795_590_000_000, 1_795_593_600_500), "the axis in broker time: UTC+2"
    assert zoom_window({"xaxis.autorange": True}, IN_UTC) is False
    assert zoom_window({"legend.x": 0.3}, IN_UTC) is None
    assert zoom_window({"xaxis.range": ["nonsense", 3]}, IN_UTC) is None


def test_margin_level_colour_by_distance_to_the_accounts_own_levels() -> None:
    assert level_class(ACCOUNT) == "kpi level-ok"
    assert level_class({**ACCOUNT, "margin_level": 150.0}) == "kpi level-warn"
    assert level_class({**ACCOUNT, "margin_level": 90.0}) == "kpi level-call"
    assert level_class({**ACCOUNT, "margin_level": 45.0}) == "kpi level-stopout"
    assert level_class({**ACCOUNT, "margin": 0.0, "margin_level": 0.0}) == "kpi level-ok", "no margin used"
    money = {**ACCOUNT, "margin_so_mode": 1, "margin_so_call": 500.0, "margin_so_so": 200.0}
    assert level_class({**money, "margin_free": 450.0}) == "kpi level-call", "money levels compare free margin"


def test_cash_flows_are_deposits_withdrawals_credit_and_bonuses_only() -> None:
    deals = [
        {"type": 2, "profit": 1000.0, "time_utc_ms": 10},
        {"type": 2, "profit": -300.0, "time_utc_ms": 20},
        {"type": 3, "profit": 50.0, "time_utc_ms": 30},
        {"type": 6, "profit": 25.0, "time_utc_ms": 40},
        {"type": 1, "profit": 80.0, "time_utc_ms": 50},
        {"type": 4, "profit": -5.0, "time_utc_ms": 60},
        {"type": 2, "profit": 999.0, "time_utc_ms": 1},
    ]
    assert cash_flows(deals, since_ms=5) == 775.0


def test_unreadable_custom_dates_show_nothing_new() -> None:
    assert selected_range("custom", "yesterday", "2026-13-45", NOW, UTC2, IN_UTC) is None


TODAY = {"choice": "today", "from_ms": 1_795_557_600_000, "to_ms": None}


def test_dates_picked_while_a_preset_is_selected_switch_to_custom_and_apply() -> None:
    selection, button, hint = range_outputs(
        ids.RANGE_DATES, "today", "2026-11-20", "2026-11-21", TODAY, NOW, UTC2, IN_UTC
    )
    start = datetime(2026, 11, 20, tzinfo=UTC).timestamp() * 1000
    assert selection == {"choice": "custom", "from_ms": start, "to_ms": start + 2 * 86_400_000 - 1, "clock": "UTC"}
    assert button == "custom" and hint == ""


def test_custom_without_both_days_keeps_the_range_shown_and_says_what_is_missing() -> None:
    for start, end, missing in ((None, None, "a first and a last day"), ("2026-11-20", None, "the last day too"),
                                (None, "2026-11-21", "the first day too")):  # fmt: skip
        selection, _, hint = range_outputs(ids.RANGE_BUTTONS, "custom", start, end, TODAY, NOW, UTC2, IN_UTC)
        assert selection is no_update, "not everything: the range shown stays"
        assert hint.startswith(f"Custom range: pick {missing} (days in UTC)")
    selection, button, hint = range_outputs(ids.RANGE_DATES, "today", "2026-11-20", None, TODAY, NOW, UTC2, IN_UTC)
    assert (selection, button) == (no_update, "custom") and "the last day too" in hint


def test_a_new_clock_moves_a_custom_range_only() -> None:
    custom = range_outputs(ids.RANGE_BUTTONS, "custom", "2026-11-20", "2026-11-20", TODAY, NOW, UTC2, IN_UTC)[0]
    moved = range_outputs(ids.CLIENT, "custom", "2026-11-20", "2026-11-20", custom, NOW, UTC2, BERLIN)[0]
    assert moved["from_ms"] == custom["from_ms"] - 3_600_000, "the same day, in Berlin (UTC+1)"
    today = {**TODAY, "clock": "UTC"}
    assert range_outputs(ids.CLIENT, "today", None, None, today, NOW, UTC2, IN_UTC) == (no_update, no_update, "")
    redrawn = range_outputs(ids.CLIENT, "today", None, None, today, NOW, UTC2, BERLIN)[0]
    assert redrawn == {**TODAY, "clock": "Europe/Berlin"}, "the same window, drawn again in the new clock"


def test_only_balance_equity_and_margin_cards_show_a_change_since_the_day_start() -> None:
    """Floating P/L and the margin level moved since midnight is noise: no change text, no element for one."""
    account = {**ACCOUNT, "balance": 5100.0, "profit": -100.0, "credit": 0.0, "currency": "USD",
               "currency_digits": 2}  # fmt: skip
    day = {**account, "balance": 5000.0, "equity": 4900.0, "profit": -100.0, "margin": 500.0, "margin_level": 980.0,
           "margin_free": 4400.0, "flows": 0.0}  # fmt: skip
    texts = kpi_texts(account, day)
    assert texts["balance"] == ("$5,100.00", "+$100.00 today")
    assert texts["equity"] == ("$5,000.00", "+$100.00 today")
    assert texts["profit"] == ("-$100.00", None) and texts["margin_level"] == ("500.00 %", None)
    updates = kpi_updates(account, day)
    assert ids.kpi_delta("balance") in updates and ids.kpi_delta("equity") in updates
    assert ids.kpi_delta("profit") not in updates and ids.kpi_delta("margin_level") not in updates
    shown = str(kpi_section().to_plotly_json())
    assert ids.kpi_delta("equity") in shown
    assert ids.kpi_delta("profit") not in shown and ids.kpi_delta("margin_level") not in shown
