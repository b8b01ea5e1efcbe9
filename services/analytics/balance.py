"""The account's balance over its whole life, rebuilt from the stored deals.

The app records equity only from its first poll, and the terminal keeps no equity history, but
the deals go back to the first deposit. Every deal that moves the balance (trading results,
commissions, swaps, fees, deposits, withdrawals; never credit) is a step; deals sharing a
millisecond make one step. What moves the balance, and the check against the balance the account
reports, are ``services/analytics/trades.py``'s, so the curve and the statistics cannot disagree.

Deals are only ever added, so one curve is kept per store and login with the index size it was
built from: a chart reload with no new deal costs one ZCARD; deals later than everything read
extend the curve; anything else (a history sync filling in the past) rebuilds it.
"""

from __future__ import annotations

import copy
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from sqlalchemy.exc import SQLAlchemyError
from tsdownsample import MinMaxLTTBDownsampler

from services.analytics.csv_export import iter_deals
from services.analytics.trades import BalanceTally, Reconciliation, deal_money, moves_balance
from services.core.models import Deal
from services.storage.archive import Archive
from services.storage.redis_conn import REDIS_ERRORS
from services.storage.series import Window, archive_window, chart_width, load_window
from services.storage.store import Store

_EMPTY_TS = np.zeros(0, dtype=np.int64)
_EMPTY_VALUES = np.zeros(0, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class BalanceCurve:
    """Balance steps (UTC ms ascending and unique, the balance after each) and what they were built from."""

    ts: np.ndarray
    balance: np.ndarray
    tally: BalanceTally  # never fed again once the curve is built: extending copies it
    count: int  # the deal index size this curve stands for (the cache key)
    last_ms: int | None  # the latest deal time read, any kind of deal

    @property
    def deals(self) -> int:
        return self.tally.deals

    @property
    def first_ms(self) -> int | None:
        return int(self.ts[0]) if len(self.ts) else None

    def reconcile(self, balance: float, digits: int) -> Reconciliation:
        return self.tally.result(balance, digits)

    def at(self, ms: int) -> float:
        """The balance standing at ``ms`` (after every step at or before it); 0 before the first deal."""
        index = int(np.searchsorted(self.ts, ms, side="right"))
        return float(self.balance[index - 1]) if index else 0.0

    def count_between(self, start_ms: int | None, end_ms: int | None) -> int:
        """Steps in [start, end]."""
        low = 0 if start_ms is None else int(np.searchsorted(self.ts, start_ms, side="left"))
        high = len(self.ts) if end_ms is None else int(np.searchsorted(self.ts, end_ms, side="right"))
        return max(0, high - low)

    def window(self, start_ms: int | None, end_ms: int | None) -> tuple[np.ndarray, np.ndarray]:
        """The steps in [start, end], led by the balance standing at ``start`` when a step came before it."""
        low = 0 if start_ms is None else int(np.searchsorted(self.ts, start_ms, side="left"))
        high = len(self.ts) if end_ms is None else int(np.searchsorted(self.ts, end_ms, side="right"))
        ts, balance = self.ts[low:high], self.balance[low:high]
        if low and start_ms is not None:
            ts = np.concatenate(([start_ms], ts)).astype(np.int64)
            balance = np.concatenate(([self.balance[low - 1]], balance))
        return ts, balance

    def extended(self, deals: Iterable[Deal], count: int) -> BalanceCurve:
        """This curve plus deals that all come after ``last_ms``."""
        tally = copy.copy(self.tally)
        ts, money, last_ms = _moves(deals, tally, self.last_ms)
        if not len(ts):
            return BalanceCurve(self.ts, self.balance, tally, count, last_ms)
        start = float(self.balance[-1]) if len(self.balance) else 0.0
        new_ts, new_balance = _steps(ts, money, start)
        ts = np.concatenate((self.ts, new_ts))
        return BalanceCurve(ts, np.concatenate((self.balance, new_balance)), tally, count, last_ms)


def build_curve(deals: Iterable[Deal], count: int | None = None) -> BalanceCurve:
    """The curve of deals in any order; ``count`` defaults to the number of deals read."""
    tally = BalanceTally()
    ts, money, last_ms = _moves(deals, tally, None)
    steps_ts, steps_balance = _steps(ts, money, 0.0)
    return BalanceCurve(steps_ts, steps_balance, tally, tally.deals if count is None else count, last_ms)


def _moves(
    deals: Iterable[Deal], tally: BalanceTally, last_ms: int | None
) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Time and money of each balance-moving deal, fed to ``tally`` on the way, and the latest deal time."""
    times: list[int] = []
    amounts: list[float] = []
    for deal in deals:
        tally.feed(deal)
        last_ms = deal.time_utc_ms if last_ms is None else max(last_ms, deal.time_utc_ms)
        amount = deal_money(deal)
        if amount and moves_balance(deal):  # an opening deal without costs leaves the balance as it was
            times.append(deal.time_utc_ms)
            amounts.append(amount)
    return np.array(times, dtype=np.int64), np.array(amounts, dtype=np.float64), last_ms


def _steps(ts: np.ndarray, money: np.ndarray, start: float) -> tuple[np.ndarray, np.ndarray]:
    """Running balance in time order (stable, so same-millisecond deals keep their order); one step per ms."""
    if not len(ts):
        return _EMPTY_TS, _EMPTY_VALUES
    order = np.argsort(ts, kind="stable")
    ts = ts[order]
    balance = np.cumsum(np.concatenate(([start], money[order])))[1:]
    last_of_ms = np.concatenate((ts[1:] != ts[:-1], [True]))
    return ts[last_of_ms], balance[last_of_ms]


_CACHE: weakref.WeakKeyDictionary[Store, dict[int, BalanceCurve]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def balance_curve(store: Store, login: int) -> BalanceCurve:
    """The login's curve, read again only as far as new deals require; raises the store's Redis errors."""
    index = store.keys.deals_by_time(login)
    with _LOCK:
        cached = _CACHE.get(store, {}).get(login)
    count = int(store.client.zcard(index))
    if cached is not None and cached.count == count:
        return cached
    curve = None
    if cached is not None and cached.last_ms is not None and count > cached.count:
        later = int(store.client.zcount(index, f"({cached.last_ms}", "+inf"))
        if cached.count + later == count:  # every new deal is later than all the curve holds
            curve = cached.extended(iter_deals(store, login, start_ms=cached.last_ms + 1), count)
    if curve is None:
        curve = build_curve(iter_deals(store, login), count)
    with _LOCK:
        _CACHE.setdefault(store, {})[login] = curve
    return curve


def archived_curve(archive: Archive, login: int) -> BalanceCurve:
    """The curve from the archive's deals (every deal read: Redis, which the cache follows, is down)."""
    return build_curve(deal for page in archive.deal_pages(login, 5_000) for deal in page)


def balance_only(curve: BalanceCurve, start_ms: int | None, cut_ms: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The balance from deals over [start, cut): the part of a chart before its first recorded point
    (``cut``; the window's end when nothing was recorded in it), downsampled, ending at ``cut`` with
    the balance standing then so it meets the recorded line. Empty when no deal came before the cut.
    """
    first = curve.first_ms
    if first is None or first >= cut_ms or (start_ms is not None and start_ms >= cut_ms):
        return _EMPTY_TS, _EMPTY_VALUES
    ts, balance = downsample_steps(*curve.window(start_ms, cut_ms - 1), width)
    return np.concatenate((ts, [cut_ms])).astype(np.int64), np.concatenate((balance, [curve.at(cut_ms)]))


@dataclass(frozen=True, slots=True)
class WholeLife:
    """A chart's recorded window and, before its first recorded point, the balance from deals."""

    window: Window
    curve: BalanceCurve
    steps_ts: np.ndarray  # the balance-only part (``balance_only``); empty when no deal came before it
    steps_balance: np.ndarray

    @property
    def recorded_from(self) -> int | None:
        return self.window.points[0].ts if self.window.points else None


def whole_life(
    store: Store,
    login: int,
    start_ms: int | None,
    end_ms: int | None,
    width: int,
    now_ms: int | None = None,
    archive: Archive | None = None,
) -> WholeLife:
    """What the page's history charts and their exports draw for a range, so a file shows what the page
    shows: recorded points, and the balance from deals up to the first of them (to the range's end, or
    now when that is sooner, when nothing was recorded in it: the future has no balance yet).
    While Redis cannot answer, both come from the archive (when this process keeps one), else the Redis
    error is raised."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    try:
        window = load_window(store, login, start_ms, end_ms, width, now_ms, archive)
        curve = balance_curve(store, login)
    except REDIS_ERRORS as down:
        if archive is None:
            raise
        try:
            window = archive_window(archive, login, start_ms, end_ms, width, now_ms)
            curve = archived_curve(archive, login)
        except SQLAlchemyError:  # not opened yet, or unreadable: nothing to draw from, say Redis is down
            raise down from None
    cut = window.points[0].ts if window.points else min(now_ms, end_ms if end_ms is not None else now_ms)
    return WholeLife(window, curve, *balance_only(curve, start_ms, cut, chart_width(width)))


def downsample_steps(ts: np.ndarray, balance: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``width`` steps: MinMaxLTTB keeps each bucket's lowest and highest balance, and the ends.

    Drawn as a step line (``hv``), the kept steps still rise and fall where the balance did.
    """
    if len(ts) <= width:
        return ts, balance
    keep = set(MinMaxLTTBDownsampler().downsample(ts, balance, n_out=width).tolist())
    keep.update((0, len(ts) - 1))
    chosen = np.array(sorted(keep), dtype=np.int64)
    return ts[chosen], balance[chosen]
