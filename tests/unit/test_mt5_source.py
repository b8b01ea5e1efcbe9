"""MT5Source against the fake MetaTrader5 module: parsing, deal sync, server time, errors, secrets."""

from __future__ import annotations

import dataclasses
import logging
import sys
import types
from typing import Any

import pytest

from services.core.models import Account
from services.core.secret import Secret
from services.ingest.sources.base import SourceAuthError, SourceCallError, SourceDisconnected, SourceError
from services.ingest.sources.mt5 import MT5Source, load_mt5_module
from tests.fakes.fake_mt5 import FakeMT5

NOW = 1_700_000_000.0  # Tue 2023-11-14 22:13:20 UTC
PASSWORD = "hunter2-Very-Secret"
LOGIN = 5551234
SERVER = "FakeBroker-Live"


def make(offset_s: int = 7200, password: str = PASSWORD, **source_kw: Any) -> tuple[FakeMT5, MT5Source, list[float]]:
    """A fake terminal and a source sharing one settable clock (``clock[0]`` is UTC now)."""
    clock = [NOW]
    fake = FakeMT5(
        login=LOGIN,
        password=PASSWORD,
        server=SERVER,
        offset_s=offset_s,
        clock=lambda: clock[0],
        sleep=lambda s: None,
    )
    kw: dict[str, Any] = {"login": LOGIN, "password": Secret(password), "server": SERVER} | source_kw
    return fake, MT5Source(fake.module, clock=lambda: clock[0], **kw), clock


def connected(**kw: Any) -> tuple[FakeMT5, MT5Source, list[float]]:
    fake, source, clock = make(**kw)
    source.connect()
    return fake, source, clock


def test_connect_passes_only_the_settings_that_are_set() -> None:
    fake, _source, _ = connected()
    name, args, kwargs = fake.call_log[0]
    assert (name, args) == ("initialize", ())
    assert kwargs == {"login": LOGIN, "password": PASSWORD, "server": SERVER, "timeout": 60000}
    fake2, bare, _ = make(login=None, password=None, server=None, path="C:/MT5/terminal64.exe", timeout_ms=5000)
    bare.connect()
    assert fake2.call_log[0] == ("initialize", ("C:/MT5/terminal64.exe",), {"timeout": 5000})


def test_account_matches_account_info_field_for_field() -> None:
    fake, source, _ = connected()
    fake.set_account(balance=1234.56, equity=1300.25, margin_level=512.5, leverage=500, name="Ana")
    got = dataclasses.asdict(source.account())
    expected = fake.module.account_info()._asdict()
    assert {k: got[k] for k in Account.mt5_fields()} == expected
    assert got["balance"] == 1234.56 and got["login"] == LOGIN


def test_terminal_reports_a_lost_broker_link_without_raising() -> None:
    fake, source, _ = connected()
    assert source.terminal().connected is True
    fake.set_connected(False)
    terminal = source.terminal()
    assert terminal.connected is False and terminal.build == 4755


def test_positions_and_orders_carry_utc_times() -> None:
    fake, source, _ = connected()
    assert source.positions() == [] and source.orders() == []
    ticket = fake.add_position("GBPUSD", time_utc=NOW - 3600, volume=0.5)
    fake.add_order("EURUSD", time_utc=NOW - 60)
    [position] = source.positions()
    assert (position.ticket, position.symbol, position.volume) == (ticket, "GBPUSD", 0.5)
    assert position.time_utc_ms == int((NOW - 3600) * 1000)
    assert position.time == int(NOW - 3600) + 7200
    [order] = source.orders()
    assert order.time_setup_utc_ms == int((NOW - 60) * 1000)


def test_new_deals_returns_every_deal_once_including_the_last_hours() -> None:
    fake, source, clock = connected()
    old = fake.add_deal(NOW - 30 * 86400, profit=10.0)
    two_and_half_h = fake.add_deal(NOW - 9000, profit=-3.0)
    ten_min = fake.add_deal(NOW - 600, profit=7.0)
    # The trap the adapter avoids: asking up to "real UTC now" misses the newest deal.
    naive = fake.module.history_deals_get(NOW - 86400, NOW)
    assert ten_min not in [d.ticket for d in naive]

    first = source.new_deals()
    assert [d.ticket for d in first] == [old, two_and_half_h, ten_min]
    assert first[-1].time_utc_ms == int((NOW - 600) * 1000)
    assert source.new_deals() == []
    _, args, _ = fake.call_log[-1]
    assert all(type(a) is int for a in args) and args[1] >= int(NOW) + 7200 + 3600

    clock[0] = NOW + 5
    same_second = fake.add_deal(NOW - 600)  # listed late, same second as the last one seen
    newest = fake.add_deal(NOW + 5)
    assert [d.ticket for d in source.new_deals()] == [same_second, newest]
    clock[0] = NOW + 700  # past the offset re-check too
    later = [fake.add_deal(NOW + 650 + i) for i in range(3)]
    assert [d.ticket for d in source.new_deals()] == later
    assert source.new_deals() == []
    assert source.info.details["deals"] == len(fake.deals) == 8


def test_new_deals_sorted_by_time_msc_then_ticket() -> None:
    fake, source, _ = connected()
    b = fake.add_deal(NOW - 100, ticket=900)
    a = fake.add_deal(NOW - 100, ticket=800)
    c = fake.add_deal(NOW - 200, ticket=950)
    assert [d.ticket for d in source.new_deals()] == [c, a, b]


def test_new_deals_keeps_recent_deals_when_the_offset_is_unmeasured() -> None:
    fake, source, _ = make()
    fake.set_tick("EURUSD", 1.1, 1.1002, time_utc=NOW - 3 * 86400)  # weekend: stale tick
    source.connect()
    details = source.info.details
    assert details["offset_measured"] is False
    assert details["broker_clock"] == {"zone": "ny-close", "basis": "assumed", "misfits": 0}
    recent = fake.add_deal(NOW - 60)
    assert [d.ticket for d in source.new_deals()] == [recent]


def test_deals_between_converts_utc_to_server_time_inclusively() -> None:
    fake, source, _ = connected()
    inside = [fake.add_deal(NOW - 3600), fake.add_deal(NOW - 1800), fake.add_deal(NOW)]
    fake.add_deal(NOW - 3601)
    fake.add_deal(NOW + 1)
    assert [d.ticket for d in source.deals_between(NOW - 3600, NOW)] == inside


def test_malformed_records_are_skipped_with_one_warning_each(caplog: pytest.LogCaptureFixture) -> None:
    fake, source, _ = connected()
    good = fake.add_position("EURUSD")
    fake.add_position("GBPUSD", price_open=None)
    fake.add_position("USDJPY", profit=float("nan"))
    fake.add_deal(NOW - 50)
    fake.inject_malformed("deals", volume=None)
    ok_deal = fake.add_deal(NOW - 40)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert [p.ticket for p in source.positions()] == [good]
        assert [d.ticket for d in source.new_deals()] == [ok_deal]
    warnings = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert len(warnings) == 3
    assert any("price_open" in w for w in warnings) and any("volume" in w for w in warnings)
    assert source.info.details["skipped_records"] == 7


def test_malformed_account_raises_call_error_and_the_source_recovers() -> None:
    fake, source, _ = connected()
    fake.set_account(equity=float("nan"))
    with pytest.raises(SourceCallError, match="equity"):
        source.account()
    fake.set_account(equity=10.0)
    assert source.account().equity == 10.0


def test_dropped_link_raises_disconnected_until_reinitialized() -> None:
    fake, source, _ = connected()
    fake.drop_link()
    with pytest.raises(SourceDisconnected) as err:
        source.account()
    assert err.value.code == -10004 and err.value.call == "account_info"
    with pytest.raises(SourceDisconnected):
        source.new_deals()
    source.disconnect()
    with pytest.raises(SourceDisconnected) as err:
        source.connect()
    assert err.value.code == -10003
    fake.restore_link()
    source.disconnect()
    source.connect()
    assert source.account().login == LOGIN
    assert fake.calls["initialize"] == 3 and fake.calls["shutdown"] == 2


def test_restart_and_timeout_are_link_errors() -> None:
    fake, source, _ = connected()
    fake.restart_terminal()
    with pytest.raises(SourceDisconnected) as err:
        source.positions()
    assert err.value.code == -10001
    source.connect()
    fake.timeout_mode()
    with pytest.raises(SourceDisconnected) as err:
        source.orders()
    assert err.value.code == -10005


def test_wrong_password_is_an_auth_error_that_never_shows_the_password() -> None:
    _fake, source, _ = make(password="wrong-" + PASSWORD)
    with pytest.raises(SourceAuthError) as err:
        source.connect()
    assert err.value.code == -6 and "Authorization failed" in str(err.value)
    for text in (str(err.value), repr(err.value), err.value.message, repr(source.info)):
        assert PASSWORD not in text
    assert source.info.details["last_error"] == [-6, "Terminal: Authorization failed"]


def test_password_is_scrubbed_from_bridge_exceptions() -> None:
    fake, source, _ = make()

    def leaky_initialize(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError(f"remote: mt5.initialize(*{args!r}, **{kwargs!r})")

    fake.module.initialize = leaky_initialize
    with pytest.raises(SourceCallError) as err:
        source.connect()
    assert PASSWORD not in str(err.value) and "********" in str(err.value)
    assert err.value.__cause__ is None and err.value.__context__ is None

    def broken_pipe(*args: Any, **kwargs: Any) -> bool:
        raise EOFError(f"connection closed while sending {kwargs.get('password')}")

    fake.module.initialize = broken_pipe
    with pytest.raises(SourceDisconnected) as err2:
        source.connect()
    assert PASSWORD not in str(err2.value) and err2.value.code == -10004
    assert PASSWORD not in repr(source.info)


def test_offset_is_measured_at_connect_and_rechecked_every_ten_minutes() -> None:
    fake, source, clock = connected()
    assert source.server_offset_s == 7200
    details = source.info.details
    assert details["server_offset_s"] == 7200 and details["offset_measured"] is True
    assert fake.calls["symbol_info_tick"] == 1
    fake.offset_s = 10800  # daylight saving moved the broker clock
    clock[0] = NOW + 599
    source.account()
    assert fake.calls["symbol_info_tick"] == 1 and source.server_offset_s == 7200
    clock[0] = NOW + 600
    source.account()
    assert fake.calls["symbol_info_tick"] == 2 and source.server_offset_s == 10800


def test_stale_tick_keeps_the_previous_offset_and_marks_it_unmeasured() -> None:
    fake, source, clock = connected()
    fake.set_tick("EURUSD", 1.1, 1.1002, time_utc=NOW - 15 * 3600)  # server time: 13 h behind
    clock[0] = NOW + 601
    source.positions()
    assert source.server_offset_s == 7200
    assert source.info.details["offset_measured"] is False
    fake2, fresh, _ = make()
    fake2.set_tick("EURUSD", 1.1, 1.1002, time_utc=NOW - 2 * 86400)
    fresh.connect()
    assert fresh.info.details["offset_measured"] is False
    assert fresh.info.details["broker_clock"]["basis"] == "assumed"  # the forex convention until measured


def test_offset_uses_open_position_symbols_first() -> None:
    fake, source, clock = make(offset_s=-18000, offset_probe_symbols=("NOTASYMBOL",))
    source.connect()
    assert source.info.details["offset_measured"] is False
    fake.set_tick("XAUUSD", 2000.0, 2000.5)
    fake.add_position("XAUUSD")
    source.positions()
    clock[0] = NOW + 600
    source.orders()
    assert source.server_offset_s == -18000 and source.info.details["offset_symbol"] == "XAUUSD"


def test_disconnect_never_raises() -> None:
    fake, source, _ = connected()

    def dead(*args: Any) -> bool:
        raise EOFError("stream closed")

    fake.module.shutdown = dead
    source.disconnect()
    assert source.info.details["session_open"] is False


def test_load_mt5_module(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeMT5()
    monkeypatch.setitem(sys.modules, "MetaTrader5", fake.module)
    assert load_mt5_module("mt5", "127.0.0.1", 18812) is fake.module
    monkeypatch.setitem(sys.modules, "MetaTrader5", None)
    with pytest.raises(SourceError) as err:
        load_mt5_module("mt5", "127.0.0.1", 18812)
    assert err.value.code == -10003 and "pip install MetaTrader5" in err.value.message

    monkeypatch.setitem(sys.modules, "mt5linux", None)
    with pytest.raises(SourceError, match=r"pip install -r requirements-mt5linux\.txt"):
        load_mt5_module("mt5linux", "127.0.0.1", 18812)

    made: list[tuple[str, int]] = []
    client = types.SimpleNamespace(MetaTrader5=lambda host, port: made.append((host, port)))
    monkeypatch.setitem(sys.modules, "mt5linux", client)
    load_mt5_module("mt5linux", "10.0.0.2", 18813)
    assert made == [], "the bridge is reached lazily (tests/unit/test_bridge_client.py), so the app starts first"
    with pytest.raises(SourceError):
        load_mt5_module("demo", "127.0.0.1", 1)
