"""The fake MetaTrader5 module behaves as docs/metatrader5-api.md says the real one does."""

from __future__ import annotations

import math
import pickle
from datetime import UTC, datetime

import pytest

from tests.fakes.fake_mt5 import FakeMT5

NOW = 1_700_000_000.0  # Tue 2023-11-14 22:13:20 UTC


def started(**kwargs: object) -> FakeMT5:
    fake = FakeMT5(clock=lambda: NOW, sleep=lambda s: None, **kwargs)  # type: ignore[arg-type]
    assert fake.module.initialize() is True
    return fake


def test_result_types_are_plain_tuples_with_asdict_and_no_fields() -> None:
    fake = started()
    info = fake.module.account_info()
    assert isinstance(info, tuple) and type(info) is fake.module.AccountInfo
    assert len(info) == 28 and info[0] == 12345678 and info.login == 12345678
    assert not hasattr(info, "_fields") and not hasattr(info, "_replace")
    as_dict = info._asdict()
    assert type(as_dict) is dict
    assert list(as_dict)[:3] == ["login", "trade_mode", "leverage"]
    assert list(as_dict)[-4:] == ["name", "server", "currency", "company"]
    assert repr(info).startswith("AccountInfo(login=12345678, trade_mode=0, leverage=100,")
    login, *_rest, company = info
    assert (login, company) == (12345678, "Fake Broker Ltd")
    with pytest.raises(AttributeError):
        info.balance = 1.0  # type: ignore[misc]
    with pytest.raises(pickle.PicklingError):
        pickle.dumps(info)


def test_result_type_field_counts_and_order() -> None:
    fake = started()
    fake.add_position()
    fake.add_order()
    fake.add_deal(NOW - 60)
    m = fake.module
    records = {
        "TerminalInfo": m.terminal_info(),
        "TradePosition": m.positions_get()[0],
        "TradeOrder": m.orders_get()[0],
        "TradeDeal": m.history_deals_get(0, NOW * 2)[0],
        "Tick": m.symbol_info_tick("EURUSD"),
    }
    sizes = {name: len(rec._asdict()) for name, rec in records.items()}
    assert sizes == {"TerminalInfo": 22, "TradePosition": 19, "TradeOrder": 24, "TradeDeal": 18, "Tick": 8}
    assert list(records["TradeDeal"]._asdict())[:4] == ["ticket", "order", "time", "time_msc"]
    assert list(records["TradeDeal"]._asdict())[14] == "fee"
    assert "tradeapi_disabled" in records["TerminalInfo"]._asdict()
    assert all(type(rec).__name__ == name for name, rec in records.items())


def test_calls_before_initialize_and_after_shutdown_fail_with_no_ipc() -> None:
    fake = FakeMT5()
    m = fake.module
    assert m.account_info() is None
    assert m.last_error() == (-10004, "No IPC connection")
    assert m.positions_get() is None and m.version() is None
    assert m.initialize() is True
    assert m.account_info() is not None and m.last_error() == (1, "Success")
    assert m.shutdown() is True
    assert m.terminal_info() is None and m.last_error() == (-10004, "No IPC connection")


def test_every_call_resets_last_error_to_success() -> None:
    m = started().module
    assert m.symbol_info_tick("NOPE") is None
    assert m.last_error() == (-4, "Terminal: Not found")
    assert m.positions_total() == 0
    assert m.last_error() == (1, "Success")


def test_python_level_type_errors() -> None:
    m = started().module
    with pytest.raises(TypeError, match=r"account_info\(\) takes no arguments \(1 given\)"):
        m.account_info(1)
    with pytest.raises(TypeError, match="no keyword arguments"):
        m.symbol_info_tick(symbol="EURUSD")
    with pytest.raises(TypeError, match="no keyword arguments"):
        m.history_deals_total(0, d_to=1)
    with pytest.raises(TypeError):
        m.last_error(0)


def test_positions_get_is_keyword_only_and_validates() -> None:
    fake = started()
    m = fake.module
    assert m.positions_get() == ()
    assert m.positions_get("EURUSD") is None
    assert m.last_error() == (-2, "Unnamed arguments not allowed")
    assert m.orders_get("EURUSD") is None and m.last_error()[0] == -2
    eur = fake.add_position("EURUSD")
    fake.add_position("GBPUSD")
    fake.add_position("XAUUSD")
    assert [p.ticket for p in m.positions_get(ticket=eur)] == [eur]
    assert [p.symbol for p in m.positions_get(symbol="GBPUSD")] == ["GBPUSD"]
    assert sorted(p.symbol for p in m.positions_get(group="*USD,!XAU*")) == ["EURUSD", "GBPUSD"]
    assert m.positions_get(ticket=-1) is None
    assert m.last_error() == (-2, 'Invalid "ticket" argument')
    assert m.positions_get(symbol="X" * 31) is None and m.last_error() == (-2, 'Invalid "symbol" argument')


def test_deals_are_stored_in_server_time_and_ranges_are_inclusive() -> None:
    fake = started()
    m = fake.module
    ticket = fake.add_deal(NOW - 3600, profit=12.5)
    deal = m.history_deals_get(0, NOW * 2)[0]
    assert deal.ticket == ticket
    assert deal.time == int(NOW - 3600) + 7200 and deal.time_msc == deal.time * 1000
    assert [d.ticket for d in m.history_deals_get(deal.time, deal.time)] == [ticket]
    assert m.history_deals_get(deal.time + 1, deal.time + 10) == ()
    assert m.history_deals_get(deal.time - 10, deal.time - 1) == ()
    assert m.history_deals_total(deal.time, deal.time) == 1
    # The offset trap: "to = real UTC now" is earlier than the server clock.
    recent = fake.add_deal(NOW - 600)
    assert recent not in [d.ticket for d in m.history_deals_get(NOW - 86400, NOW)]
    assert recent in [d.ticket for d in m.history_deals_get(NOW - 86400, NOW + 86400)]


def test_dates_accept_datetimes_converted_with_timestamp() -> None:
    fake = started()
    m = fake.module
    fake.add_deal(NOW - 7200)
    server_s = int(NOW - 7200) + 7200
    aware = datetime.fromtimestamp(server_s, UTC)
    assert len(m.history_deals_get(aware, aware)) == 1
    naive_local = datetime.fromtimestamp(server_s)  # host local time, as the package assumes
    assert len(m.history_deals_get(naive_local, naive_local)) == 1
    assert m.history_deals_get(None, None) is None
    assert m.last_error() == (-2, "Invalid arguments")
    assert m.history_deals_get(0) is None and m.last_error() == (-2, "Invalid arguments")


def test_history_by_ticket_and_position() -> None:
    fake = started()
    m = fake.module
    fake.add_deal(NOW - 100, order=555, position_id=777)
    fake.add_deal(NOW - 50, order=556, position_id=777, entry=1)
    assert [d.order for d in m.history_deals_get(ticket=555)] == [555]
    assert sorted(d.order for d in m.history_deals_get(position=777)) == [555, 556]
    assert [o.ticket for o in m.history_orders_get(ticket=556)] == [556]
    assert m.history_deals_get(ticket=999) is None
    assert m.last_error() == (-4, "Terminal: Not found")


def test_authorization_and_argument_errors_of_initialize() -> None:
    fake = FakeMT5(password="right")
    m = fake.module
    assert m.initialize(login=12345678, password="wrong") is False
    assert m.last_error() == (-6, "Terminal: Authorization failed")
    assert m.initialize(login=1, password="right") is False and m.last_error()[0] == -6
    assert m.initialize("a", "b") is False and m.last_error() == (-2, "Invalid arguments")
    assert m.initialize(login=12345678, password="right", server="FakeBroker-Demo") is True
    assert m.login(12345678, password="wrong") is False and m.last_error()[0] == -6
    assert fake.calls["initialize"] == 4


def test_drop_link_needs_restore_then_initialize() -> None:
    fake = started()
    m = fake.module
    fake.drop_link()
    assert m.account_info() is None and m.last_error() == (-10004, "No IPC connection")
    assert m.initialize() is False and m.last_error()[0] == -10003
    fake.restore_link()
    assert m.account_info() is None and m.last_error()[0] == -10004
    assert m.shutdown() is True
    assert m.initialize() is True
    assert m.account_info() is not None
    assert fake.calls["initialize"] == 3


def test_terminal_restart_fails_with_send_error_until_reinitialized() -> None:
    fake = started()
    fake.restart_terminal()
    assert fake.module.positions_get() is None
    assert fake.module.last_error() == (-10001, "IPC send failed")
    assert fake.module.initialize() is True and fake.module.positions_get() == ()


def test_hang_and_timeout_mode() -> None:
    slept: list[float] = []
    fake = FakeMT5(clock=lambda: NOW, sleep=slept.append)
    m = fake.module
    assert m.initialize(timeout=5000) is True
    fake.hang(2.0)
    assert m.account_info() is not None and slept == [2.0]
    fake.hang(30.0)
    assert m.account_info() is None and m.last_error() == (-10005, "IPC timeout")
    assert slept == [2.0, 5.0]
    fake.timeout_mode()
    assert m.initialize() is False and m.last_error() == (-10005, "IPC timeout")
    assert slept == [2.0, 5.0]
    fake.unhang()
    assert m.initialize() is True and m.account_info() is not None


def test_malformed_records_and_disconnected_broker() -> None:
    fake = started()
    fake.add_deal(NOW - 10)
    fake.inject_malformed("deals", profit=math.nan)
    fake.add_position(price_open=None)
    fake.set_connected(False)
    m = fake.module
    assert math.isnan(m.history_deals_get(0, NOW * 2)[0].profit)
    assert m.positions_get()[0].price_open is None
    assert m.terminal_info().connected is False


def test_ticks_are_server_time_and_constants_match_the_doc() -> None:
    fake = started()
    m = fake.module
    tick = m.symbol_info_tick("EURUSD")
    assert tick.time == int(NOW) + 7200 and tick.time_msc == round((NOW + 7200) * 1000)
    assert (m.DEAL_TYPE_BUY, m.DEAL_TYPE_BALANCE, m.DEAL_TYPE_SELL_CANCELED, m.DEAL_DIVIDEND, m.DEAL_TAX) == (
        0,
        2,
        14,
        15,
        17,
    )
    assert (m.DEAL_ENTRY_OUT_BY, m.DEAL_REASON_SO, m.POSITION_TYPE_SELL, m.ORDER_TYPE_CLOSE_BY) == (
        3,
        6,
        1,
        8,
    )
    assert (m.ACCOUNT_TRADE_MODE_REAL, m.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING) == (2, 2)
    assert (m.RES_E_AUTH_FAILED, m.RES_E_INTERNAL_FAIL_CONNECT, m.RES_E_INTERNAL_FAIL_TIMEOUT) == (
        -6,
        -10004,
        -10005,
    )
    assert m.TIMEFRAME_H1 == 0x4001 and not hasattr(m, "SYMBOL_FILLING_FOK")
    assert m.version()[0] == 500
