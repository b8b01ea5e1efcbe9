"""Big synthetic data in the app's Redis keys: history through ``Store.append_history`` (pipelined
XADD plus the per-minute rollup) in chunks, deals as ``Deal.to_dict`` JSON in bulk.

Generated with numpy random walks, chunk by chunk, so a million rows never sit in memory at once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from services.core.models import HistoryPoint
from services.core.protocol import dumps
from services.storage.store import Store

CHUNK = 20_000
SYMBOLS = (("EURUSD", 1.085), ("GBPUSD", 1.27), ("USDJPY", 151.5), ("XAUUSD", 2350.0), ("US500", 5200.0))
SERVER_OFFSET_MS = 7_200_000


def history_chunks(count: int, end_ms: int, step_ms: int, seed: int = 7) -> Iterator[list[HistoryPoint]]:
    """``count`` points ``step_ms`` apart ending at ``end_ms``: equity wanders, balance steps to it on closes."""
    rng = np.random.default_rng(seed)
    start_ms = end_ms - (count - 1) * step_ms
    balance = equity_now = 10_000.0
    for first in range(0, count, CHUNK):
        size = min(CHUNK, count - first)
        ts = start_ms + (first + np.arange(size, dtype=np.int64)) * step_ms
        equity = equity_now + np.cumsum(rng.normal(0.0, 1.5, size))
        closes = np.where(rng.random(size) < 0.0005, np.arange(size), -1)  # every trade closes: P/L booked
        last_close = np.maximum.accumulate(closes)
        balances = np.where(last_close >= 0, equity[np.maximum(last_close, 0)], balance)
        floating = equity - balances
        margin = 400.0 + 50.0 * np.sin((first + np.arange(size)) / 5_000.0)
        level = equity / margin * 100
        columns = (np.round(column, 2).tolist() for column in (balances, equity, margin, level, floating))
        yield [HistoryPoint(t, *values) for t, *values in zip(ts.tolist(), *columns, strict=True)]
        balance, equity_now = float(balances[-1]), float(equity[-1])


def write_history(store: Store, login: int, count: int, end_ms: int, step_ms: int) -> float:
    """Seconds taken to store ``count`` points (rollup included)."""
    started = time.perf_counter()
    for chunk in history_chunks(count, end_ms, step_ms):
        store.append_history(login, chunk)
    store.flush_rollup(login)
    return time.perf_counter() - started


def deal_chunks(count: int, end_ms: int, seed: int = 7) -> Iterator[list[dict[str, Any]]]:
    """Opening and closing deals in pairs, 30 s apart on average, as the app stores them (``Deal.to_dict``)."""
    rng = np.random.default_rng(seed)
    gap = 30_000
    start_ms = end_ms - count * gap
    for first in range(0, count, CHUNK):
        size = min(CHUNK, count - first)
        index = first + np.arange(size)
        times = (start_ms + index * gap + rng.integers(0, gap // 2, size)).tolist()
        symbols = rng.integers(0, len(SYMBOLS), size).tolist()
        profits = np.round(rng.normal(0.0, 25.0, size), 2).tolist()
        deals = []
        for i, t, s, profit in zip(index.tolist(), times, symbols, profits, strict=True):
            name, price = SYMBOLS[s]
            closing = i % 2 == 1
            deals.append(
                {
                    "ticket": 40_000_001 + i, "order": 50_000_001 + i, "time": (t + SERVER_OFFSET_MS) // 1000,
                    "time_msc": t + SERVER_OFFSET_MS, "type": (i // 2) % 2, "entry": 1 if closing else 0,
                    "magic": 0, "position_id": 50_000_001 + i - (i % 2), "reason": 0, "volume": 0.1,
                    "price": price, "commission": -0.35, "swap": 0.0, "profit": profit if closing else 0.0,
                    "fee": 0.0, "symbol": name, "comment": "", "external_id": "", "time_utc_ms": t,
                }
            )  # fmt: skip
        yield deals


def write_deals(store: Store, login: int, count: int, end_ms: int) -> float:
    """Seconds taken to store ``count`` deals in the app's keys (hash by ticket, by-time index).

    Written a chunk per HSET/ZADD: ``Store.add_deals`` announces new deals one HSETNX at a time,
    which is right for a poll's few deals but would take minutes for a million.
    """
    started = time.perf_counter()
    hash_key, index_key = store.keys.deals(login), store.keys.deals_by_time(login)
    for chunk in deal_chunks(count, end_ms):
        pipe = store.client.pipeline(transaction=False)
        pipe.hset(hash_key, mapping={str(deal["ticket"]): dumps(deal) for deal in chunk})
        pipe.zadd(index_key, {str(deal["ticket"]): deal["time_utc_ms"] for deal in chunk})
        pipe.execute()
    return time.perf_counter() - started
