"""BridgeClient against a real rpyc classic server (the one mt5linux runs), in this process, over the fake."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from rpyc.core import SlaveService
from rpyc.core.netref import BaseNetref
from rpyc.utils.server import ThreadedServer

from services.ingest.sources.base import SourceUnreachable
from services.ingest.sources.bridge import BridgeClient
from services.ingest.sources.mt5 import load_mt5_module
from tests.fakes.fake_mt5 import FakeMT5
from tests.helpers import wait_until

T0 = 1_700_000_000.0
LOGIN, PASSWORD, SERVER = 424242, "rpyc-Secret-1", "FakeBroker-Rpyc"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeMT5:
    """A terminal with deposits, trades on two symbols, positions and orders, importable as MetaTrader5."""
    fake = FakeMT5(login=LOGIN, password=PASSWORD, server=SERVER)
    fake.add_balance(T0, 5000.0)
    for i in range(1, 40):
        fake.add_deal(T0 + 60 * i, "EURUSD" if i % 3 else "GBPJPY", type=i % 2, profit=i * 0.5, comment=f"c{i}")
    fake.add_position("EURUSD", profit=3.5)
    fake.add_position("GBPJPY", volume=0.2)
    fake.add_order("EURUSD")
    fake.set_tick("EURUSD", 1.1, 1.1002, time_utc=T0 + 3600)
    monkeypatch.setitem(sys.modules, "MetaTrader5", fake.module)
    return fake


@pytest.fixture
def port(fake: FakeMT5) -> Iterator[int]:
    server = ThreadedServer(SlaveService, hostname="127.0.0.1", port=0, reuse_addr=True)
    thread = threading.Thread(target=server.start, daemon=True)
    thread.start()
    wait_until(lambda: server.active, 10, "the rpyc server listens")
    yield server.port
    wait_until(lambda: not server.clients, 10, "the client closed its connections")  # else close() races them
    server.close()
    thread.join(5)


@pytest.fixture
def bridge(port: int) -> Iterator[Any]:
    client = load_mt5_module("mt5linux", "127.0.0.1", port)
    assert isinstance(client, BridgeClient)
    assert client.initialize(login=LOGIN, password=PASSWORD, server=SERVER) is True
    yield client
    client.shutdown()


def same(local: Any, direct: Any) -> None:
    """The bridge's record is a local object equal, field for field and in order, to the package's own."""
    assert not isinstance(local, BaseNetref), "records arrive by value, not as rpyc proxies"
    assert type(local).__name__ == type(direct).__name__
    assert list(local._asdict().items()) == list(direct._asdict().items())
    assert all(getattr(local, name) == value for name, value in direct._asdict().items())
    assert tuple(local) == tuple(direct)


def same_all(local: Any, direct: Any) -> None:
    assert type(local) is tuple and len(local) == len(direct) > 0
    for mine, theirs in zip(local, direct, strict=True):
        same(mine, theirs)


def test_records_cross_in_bulk_and_match_the_package_field_for_field(fake: FakeMT5, bridge: Any) -> None:
    direct = fake.module
    same(bridge.account_info(), direct.account_info())
    same(bridge.terminal_info(), direct.terminal_info())
    same(bridge.symbol_info_tick("EURUSD"), direct.symbol_info_tick("EURUSD"))
    same_all(bridge.positions_get(), direct.positions_get())
    same_all(bridge.orders_get(), direct.orders_get())
    end = int(T0) + 10 * 86_400
    same_all(bridge.history_deals_get(0, end), direct.history_deals_get(0, end))
    same_all(bridge.history_orders_get(0, end), direct.history_orders_get(0, end))
    assert len(bridge.history_deals_get(0, end)) == 40
    assert bridge.history_deals_total(0, end) == direct.history_deals_total(0, end) == 40  # int arguments, as the app
    assert bridge.history_orders_total(0, end) == direct.history_orders_total(0, end)


def test_keywords_and_datetimes_keep_their_meaning(fake: FakeMT5, bridge: Any) -> None:
    direct = fake.module
    server_t0 = T0 + fake.offset_s  # history ranges are in server time
    aware_from = datetime.fromtimestamp(server_t0 + 600, UTC)
    aware_to = datetime.fromtimestamp(server_t0 + 1800, timezone(timedelta(hours=3)))
    naive_to = datetime.fromtimestamp(server_t0 + 1800)  # host local time, as the package reads it
    for args in ((aware_from, aware_to), (aware_from, naive_to), (int(server_t0), server_t0 + 1200.5)):
        same_all(bridge.history_deals_get(*args, group="*JPY*"), direct.history_deals_get(*args, group="*JPY*"))
        same_all(bridge.history_orders_get(*args), direct.history_orders_get(*args))
    deal = fake.deals[7]
    same_all(bridge.history_deals_get(ticket=deal.order), direct.history_deals_get(ticket=deal.order))
    same_all(bridge.history_deals_get(position=deal.position_id), direct.history_deals_get(position=deal.position_id))
    ticket = fake.positions[1].ticket
    same_all(bridge.positions_get(ticket=ticket), direct.positions_get(ticket=ticket))
    same_all(bridge.positions_get(group="EUR*"), direct.positions_get(group="EUR*"))
    assert bridge.orders_get(symbol="XAUUSD") == ()


def test_a_failed_call_is_none_and_last_error_still_says_why(bridge: Any) -> None:
    assert bridge.history_deals_get(ticket=999) is None
    assert bridge.last_error() == (-4, "Terminal: Not found")
    assert bridge.positions_get("EURUSD") is None, "positional arguments are refused, as by the package"
    assert bridge.last_error() == (-2, "Unnamed arguments not allowed")
    assert bridge.symbol_info_tick("NOPE") is None
    assert bridge.last_error()[0] == -4
    with pytest.raises(TypeError, match="takes no arguments"):
        bridge.account_info(1)


def test_shutdown_drops_the_connection_and_the_next_call_opens_a_new_one(fake: FakeMT5, bridge: Any) -> None:
    assert bridge.shutdown() is True
    assert fake.initialized is False
    assert bridge.account_info() is None, "a new connection, but no session before initialize()"
    assert bridge.last_error() == (-10004, "No IPC connection")
    assert bridge.initialize(login=LOGIN, password=PASSWORD, server=SERVER) is True
    assert bridge.account_info().login == LOGIN


def test_a_refused_connection_is_unreachable_and_names_the_server_command() -> None:
    refused = load_mt5_module("mt5linux", "127.0.0.1", 1)
    with pytest.raises(SourceUnreachable) as err:
        refused.initialize()
    assert err.value.code == -10003
    assert "-m mt5linux --host 127.0.0.1 -p 1" in err.value.message
    assert "requirements-mt5linux.txt" in err.value.message
