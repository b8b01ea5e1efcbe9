"""The deals CSV against a real redis-server, on RESP3 (hiredis's replies) and RESP2: the exact path's bytes,
a page at a time, in flat memory."""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest
import redis

from services.analytics import csv_export as export
from services.core.models import Deal
from services.storage.store import Store
from tests.conftest import RedisServer

pytestmark = pytest.mark.integration
LOGIN = 5_000_001
NOON_UTC_MS = 1_769_860_800_000


def deal(ticket: int, utc_ms: int, **fields: Any) -> Deal:
    record = {
        "ticket": ticket, "order": ticket, "time": 0, "time_msc": utc_ms + 7_200_000, "type": ticket % 2,
        "entry": ticket % 2, "magic": 0, "position_id": ticket - ticket % 2, "reason": 0, "volume": 0.01 * (ticket % 7),
        "price": 1.08 + ticket / 1e6, "commission": -0.35, "swap": 0.0, "profit": round((ticket % 13 - 6) * 1.7, 2),
        "fee": 0.0, "symbol": ("EURUSD", "XAUUSD")[ticket % 2], "comment": "", "external_id": "",
    }  # fmt: skip
    record.update(fields)
    record["time"] = record["time_msc"] // 1000
    return Deal.from_mt5(record, 7200)


@pytest.mark.parametrize("protocol", [3, 2])
def test_deals_csv_on_a_real_server_is_the_exact_paths_csv(redis_server: RedisServer, protocol: int) -> None:
    client = redis.Redis(port=redis_server.port, decode_responses=True, protocol=protocol)
    client.flushall()
    store = Store(client, "mt5", 100_000)
    deals = [deal(10_000 + k, NOON_UTC_MS + (k // 3) * 250) for k in range(5000)]
    deals += [deal(20_000 + k, NOON_UTC_MS + 60_000) for k in range(30)]  # one millisecond, past a page's tail
    deals += [deal(30_000, NOON_UTC_MS, comment="a, b"), deal(30_001, NOON_UTC_MS, type=2, profit=1000.0)]
    store.add_deals(LOGIN, deals)
    exact = "".join(export.csv_chunks(export.DEAL_COLUMNS, map(export.deal_row, export.iter_deals(store, LOGIN))))
    assert "".join(export.deals_csv(store, LOGIN, None, None)) == exact
    window = (NOON_UTC_MS + 60_000, NOON_UTC_MS + 120_000)
    exact = export.csv_chunks(export.DEAL_COLUMNS, map(export.deal_row, export.iter_deals(store, LOGIN, *window)))
    assert "".join(export.deals_csv(store, LOGIN, *window)) == "".join(exact)


def test_deals_csv_memory_stays_flat_however_many_deals(redis_server: RedisServer) -> None:
    store = Store(redis_server.client(), "mt5", 100_000)
    store.client.flushall()
    peaks = {}
    for login, count in ((1, 4_000), (2, 40_000)):
        store.add_deals(login, [deal(10_000 + k, NOON_UTC_MS + k * 1000) for k in range(count)])
        tracemalloc.start()
        size = sum(len(chunk) for chunk in export.deals_csv(store, login, None, None))
        peaks[login] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert size > count * 100
    assert peaks[2] < peaks[1] * 1.25, f"ten times the deals, peaks {peaks}"
