"""CSV exports as generators of text chunks, read from Redis a chunk at a time.

A million deals or history points stream out in flat memory: deals are paged through the
``deals:by_time`` index by score (never by offset, which Redis would walk), history through
the stream by entry id, and trades are rebuilt while the deals stream by. Every file is UTF-8
with a header row; times are ISO 8601 in UTC (``…Z``) plus the broker's server time beside them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from services.models import Deal, HistoryPoint, Order, Position
from services.store import HISTORY_FIELDS, Store
from services.trades import Trade, TradeBuilder, deal_kind

CHUNK = 1000
FLUSH_CHARS = 64 * 1024
TABLES = ("deals", "trades", "positions", "orders", "equity", "stats")
EPOCH = datetime(1970, 1, 1)
# a spreadsheet runs a cell starting with these as a formula; comments and symbols come from outside
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

DEAL_COLUMNS = (
    "time_utc", "time_server", "ticket", "order", "position_id", "symbol", "kind", "type", "entry", "volume",
    "price", "profit", "commission", "swap", "fee", "magic", "reason", "comment", "external_id",
)  # fmt: skip
TRADE_COLUMNS = (
    "position_id", "symbol", "direction", "volume", "open_time_utc", "open_time_server", "close_time_utc",
    "close_time_server", "open_price", "close_price", "profit", "commission", "swap", "fee", "net", "holding_s",
    "close_reason",
)  # fmt: skip
POSITION_COLUMNS = (
    "time_utc", "time_server", "time_update_utc", "time_update_server", "ticket", "identifier", "symbol", "type",
    "volume", "price_open", "sl", "tp", "price_current", "swap", "profit", "magic", "reason", "comment",
    "external_id",
)  # fmt: skip
ORDER_COLUMNS = (
    "time_setup_utc", "time_setup_server", "time_expiration_server", "ticket", "symbol", "type", "type_time",
    "type_filling", "state", "volume_initial", "volume_current", "price_open", "sl", "tp", "price_current",
    "price_stoplimit", "magic", "position_id", "position_by_id", "reason", "comment", "external_id",
)  # fmt: skip
EQUITY_COLUMNS = ("time_utc", "time_server", *HISTORY_FIELDS)
STATS_COLUMNS = ("statistic", "value")


def iter_deals(
    store: Store, login: int, start_ms: int | None = None, end_ms: int | None = None, chunk: int = CHUNK
) -> Iterator[Deal]:
    """Deals by UTC time, oldest first, ``chunk`` at a time.

    Pages continue from the last score seen; tickets already sent at that same millisecond are
    skipped, so deals sharing a time are neither lost nor repeated.
    """
    index, table = store.keys.deals_by_time(login), store.keys.deals(login)
    low: float | str = "-inf" if start_ms is None else start_ms
    high: float | str = "+inf" if end_ms is None else end_ms
    sent_at_low: set[str] = set()
    while True:
        asked = chunk + len(sent_at_low)
        rows = store.client.zrangebyscore(index, low, high, start=0, num=asked, withscores=True)
        fresh = [(ticket, score) for ticket, score in rows if ticket not in sent_at_low]
        if not fresh:
            return
        for raw in store.client.hmget(table, [ticket for ticket, _ in fresh]):
            if raw is not None:
                yield Deal.from_dict(json.loads(raw))
        last = fresh[-1][1]
        at_last = {ticket for ticket, score in fresh if score == last}
        sent_at_low = sent_at_low | at_last if last == low else at_last
        low = last
        if len(rows) < asked:
            return


def iter_history(
    store: Store, login: int, start_ms: int | None = None, end_ms: int | None = None, chunk: int = CHUNK
) -> Iterator[HistoryPoint]:
    """History points by time, oldest first, ``chunk`` stream entries at a time; incomplete entries are skipped."""
    key = store.keys.history(login)
    low = "-" if start_ms is None else str(start_ms)
    high = "+" if end_ms is None else str(end_ms)
    while True:
        rows = store.client.xrange(key, low, high, count=chunk)
        for entry_id, values in rows:
            try:
                yield HistoryPoint(int(entry_id.split("-")[0]), *(float(values[name]) for name in HISTORY_FIELDS))
            except (KeyError, ValueError):
                continue
        if len(rows) < chunk:
            return
        ms, seq = rows[-1][0].split("-")
        low = f"{ms}-{int(seq) + 1}"


def iter_trades(
    store: Store, login: int, start_ms: int | None, end_ms: int | None, digits: int, chunk: int = CHUNK
) -> Iterator[Trade]:
    """Trades closed in the range; deals are read from the start, since a trade may open before the range."""
    builder = TradeBuilder(digits)
    for deal in iter_deals(store, login, None, end_ms, chunk):
        for trade in builder.feed(deal):
            if start_ms is None or trade.close_time_utc_ms >= start_ms:
                yield trade


def utc_iso(ms: int | None) -> str | None:
    return None if ms is None else (EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds") + "Z"


def server_iso(ms: int | None) -> str | None:
    """MT5 server time has no fixed zone (it follows the broker's daylight saving), so it is written without one."""
    return None if ms is None else (EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_chunks(columns: Sequence[str], rows: Iterable[Sequence[Any]], flush_chars: int = FLUSH_CHARS) -> Iterator[str]:
    """The header and rows as CSV text, about ``flush_chars`` at a time; None becomes an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(value) for value in row])
        if buffer.tell() >= flush_chars:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def deal_row(deal: Deal) -> list[Any]:
    return [
        utc_iso(deal.time_utc_ms), server_iso(deal.time_msc), deal.ticket, deal.order, deal.position_id,
        deal.symbol, deal_kind(deal), deal.type, deal.entry, deal.volume, deal.price, deal.profit,
        deal.commission, deal.swap, deal.fee, deal.magic, deal.reason, deal.comment, deal.external_id,
    ]  # fmt: skip


def trade_row(trade: Trade) -> list[Any]:
    return [
        trade.position_id, trade.symbol, trade.direction, trade.volume, utc_iso(trade.open_time_utc_ms),
        server_iso(trade.open_time_msc), utc_iso(trade.close_time_utc_ms), server_iso(trade.close_time_msc),
        trade.open_price, trade.close_price, trade.profit, trade.commission, trade.swap, trade.fee, trade.net,
        trade.holding_s, trade.close_reason,
    ]  # fmt: skip


def position_row(position: Position) -> list[Any]:
    p = position
    return [
        utc_iso(p.time_utc_ms), server_iso(p.time_msc), utc_iso(p.time_update_utc_ms), server_iso(p.time_update_msc),
        p.ticket, p.identifier, p.symbol, p.type, p.volume, p.price_open, p.sl, p.tp, p.price_current, p.swap,
        p.profit, p.magic, p.reason, p.comment, p.external_id,
    ]  # fmt: skip


def order_row(order: Order) -> list[Any]:
    o = order
    return [
        utc_iso(o.time_setup_utc_ms), server_iso(o.time_setup_msc),
        server_iso(o.time_expiration * 1000) if o.time_expiration else None, o.ticket, o.symbol, o.type,
        o.type_time, o.type_filling, o.state, o.volume_initial, o.volume_current, o.price_open, o.sl, o.tp,
        o.price_current, o.price_stoplimit, o.magic, o.position_id, o.position_by_id, o.reason, o.comment,
        o.external_id,
    ]  # fmt: skip


def _in_range(ms: int, start_ms: int | None, end_ms: int | None) -> bool:
    return (start_ms is None or ms >= start_ms) and (end_ms is None or ms <= end_ms)


def deals_csv(store: Store, login: int, start_ms: int | None, end_ms: int | None) -> Iterator[str]:
    return csv_chunks(DEAL_COLUMNS, map(deal_row, iter_deals(store, login, start_ms, end_ms)))


def trades_csv(store: Store, login: int, start_ms: int | None, end_ms: int | None, digits: int) -> Iterator[str]:
    return csv_chunks(TRADE_COLUMNS, map(trade_row, iter_trades(store, login, start_ms, end_ms, digits)))


def equity_csv(
    store: Store, login: int, start_ms: int | None, end_ms: int | None, server_offset_s: int
) -> Iterator[str]:
    """History has no server time of its own: the current offset is applied to every point."""
    offset_ms = server_offset_s * 1000
    rows = (
        [utc_iso(p.ts), server_iso(p.ts + offset_ms), *(getattr(p, name) for name in HISTORY_FIELDS)]
        for p in iter_history(store, login, start_ms, end_ms)
    )
    return csv_chunks(EQUITY_COLUMNS, rows)


def positions_csv(positions: Iterable[Position], start_ms: int | None, end_ms: int | None) -> Iterator[str]:
    """Open positions opened in the range."""
    return csv_chunks(
        POSITION_COLUMNS, (position_row(p) for p in positions if _in_range(p.time_utc_ms, start_ms, end_ms))
    )


def orders_csv(orders: Iterable[Order], start_ms: int | None, end_ms: int | None) -> Iterator[str]:
    """Pending orders placed in the range."""
    return csv_chunks(ORDER_COLUMNS, (order_row(o) for o in orders if _in_range(o.time_setup_utc_ms, start_ms, end_ms)))


def stats_csv(stats: Mapping[str, Any]) -> Iterator[str]:
    return csv_chunks(STATS_COLUMNS, stats.items())
