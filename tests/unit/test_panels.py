"""Pure helpers behind the panels: range windows, zooms, margin-level colours, cash flows."""

from __future__ import annotations

from callbacks.charts import selected_range, zoom_window
from layouts import ids
from layouts.kpis import kpi_section
from services.analytics.today import cash_flows
from services.live.kpis import kpi_texts, level_class
from views.cards import kpi_updates

NOW = 1_795_600_000_000  # 2026-11-25 08:26:40 UTC
ACCOUNT = {"margin": 1000.0, "equity": 5000.0, "margin_free": 4000.0, "margin_level": 500.0,
           "margin_so_call": 100.0, "margin_so_so": 50.0, "margin_so_mode": 0}  # fmt: skip


def test_live_ranges_follow_now_and_today_is_the_broker_day() -> None:
    assert selected_range("1h", None, None, NOW, 7200) == {"choice": "1h", "from_ms": NOW - 3_600_000, "to_ms": None}
    today = selected_range("today", None, None, NOW, 7200)
    assert today["from_ms"] == 1_795_557_600_000, "2026-11-24 22:00 UTC is midnight on a UTC+2 server"
    assert selected_range("all", None, None, NOW, 0) == {"choice": "all", "from_ms": None, "to_ms": None}


def test_custom_dates_are_whole_days_in_the_browser_zone() -> None:
    window = selected_range("custom", "2026-03-28", "2026-03-29", NOW, 0, "Europe/Berlin")
    assert window["from_ms"] == 1_774_652_400_000, "2026-03-28 00:00 in Berlin (UTC+1)"
    assert window["to_ms"] == 1_774_821_600_000 - 1, "the end of 2026-03-29 in Berlin (UTC+2 after the switch)"
    assert selected_range("custom", "2026-03-29", "2026-03-28", NOW, 0)["choice"] == "all", "an inverted range"


def test_zoom_events_give_a_window_a_reset_or_nothing() -> None:
    zoom = zoom_window(
        {"xaxis.range[0]": "2026-11-25 09:00:00", "xaxis.range[1]": "2026-11-25 10:00:00"}, "Europe/Berlin"
    )
    assert zoom == (1_795_593_600_000, 1_795_597_200_000)
    assert zoom_window({"xaxis.autorange": True}, "UTC") is False
    assert zoom_window({"legend.x": 0.3}, "UTC") is None
    assert zoom_window({"xaxis.range": ["nonsense", 3]}, "UTC") is None


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


def test_unreadable_custom_dates_fall_back_to_everything() -> None:
    assert selected_range("custom", "yesterday", "2026-13-45", NOW, 0)["choice"] == "all"


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
