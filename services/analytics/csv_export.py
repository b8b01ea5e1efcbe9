"""CSV exports as generators of text chunks, read from Redis a chunk at a time.

A million deals or history points stream out in flat memory: deals are paged through the
``deals:by_time`` index by score (never by offset, which Redis would walk), history through
the stream by entry id, and trades are rebuilt while the deals stream by. Every file is UTF-8
with a header row; times are ISO 8601 in UTC (``…Z``) plus the broker's server time beside them (``…_server``), or
another clock's wall time (``…_local``: the clock an export was asked for, ``services/core/timefmt.py``).

The deals file is cut from the stored JSON a page at a time, in bulk (``StoredDeals``), while Redis
reads the next page. Rows it cannot copy exactly go through ``Deal`` and ``csv`` as every other
table does, so the bytes are the same either way.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import math
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.exc import SQLAlchemyError

from services.analytics.stats import NOTES
from services.analytics.trades import Trade, TradeBuilder, deal_kind
from services.core.brokertime import BrokerZone, as_zone
from services.core.formatting import DEAL_ENTRIES, ORDER_TYPES, POSITION_TYPES, code_name
from services.core.models import DEAL_TYPE_BUY, DEAL_TYPE_SELL, Deal, HistoryPoint, Order, Position
from services.core.timefmt import BROKER, Clock
from services.core.units import DAY_MS, EPOCH, MINUTE_MS
from services.storage.archive import Archive
from services.storage.series import archive_part
from services.storage.store import HISTORY_FIELDS, Store

CHUNK = 1000
FLUSH_CHARS = 64 * 1024
TABLES = ("deals", "trades", "positions", "orders", "equity", "stats")
FORMULA_CHARS = ("=", "+", "-", "@")
INVISIBLE = ("Cc", "Cf", "Zs", "Zl", "Zp")  # controls, format characters (BOM, zero width), spaces, separators

DEAL_COLUMNS = (
    "time_utc", "time_server", "ticket", "order", "position_id", "symbol", "kind", "type", "entry", "entry_name",
    "volume", "price", "profit", "commission", "swap", "fee", "magic", "reason", "comment", "external_id",
)  # fmt: skip
TRADE_COLUMNS = (
    "position_id", "symbol", "direction", "volume", "open_time_utc", "open_time_server", "close_time_utc",
    "close_time_server", "open_price", "close_price", "profit", "commission", "swap", "fee", "net", "holding_s",
    "close_reason",
)  # fmt: skip
POSITION_COLUMNS = (
    "time_utc", "time_server", "time_update_utc", "time_update_server", "ticket", "identifier", "symbol", "type",
    "type_name", "volume", "price_open", "sl", "tp", "price_current", "swap", "profit", "magic", "reason", "comment",
    "external_id",
)  # fmt: skip
ORDER_COLUMNS = (
    "time_setup_utc", "time_setup_server", "time_expiration_server", "ticket", "symbol", "type", "type_name",
    "type_time", "type_filling", "state", "volume_initial", "volume_current", "price_open", "sl", "tp", "price_current",
    "price_stoplimit", "magic", "position_id", "position_by_id", "reason", "comment", "external_id",
)  # fmt: skip
EQUITY_COLUMNS = ("time_utc", "time_server", *HISTORY_FIELDS)
STATS_COLUMNS = ("statistic", "value", "note")


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
    store: Store,
    login: int,
    start_ms: int | None = None,
    end_ms: int | None = None,
    chunk: int = CHUNK,
    archive: Archive | None = None,
) -> Iterator[HistoryPoint]:
    """History points by time, oldest first, ``chunk`` at a time: the archive's part (``archive_part``), then
    Redis's; incomplete entries are skipped."""
    part = None if archive is None else archive_part(start_ms, end_ms, store.first_history_ts(login))
    if archive is not None and part is not None:
        with contextlib.suppress(SQLAlchemyError):  # not opened yet, or unreadable: what Redis holds
            yield from archive.iter_history(login, part[0], 2**62 if part[1] is None else part[1], chunk)
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


def other_clock(clock: Clock | None) -> BrokerZone | None:
    """The wall clock of a file's second time column: None for the broker's server time, as MT5 wrote it."""
    return None if clock is None or clock.choice == BROKER else clock.wall


def wall_iso(utc_ms: int, server_ms: int, wall: BrokerZone | None) -> str | None:
    """The second time column: the server time as recorded, or ``wall``'s time of the UTC moment."""
    return server_iso(server_ms if wall is None else wall.to_server_ms(utc_ms))


def columns_for(columns: Sequence[str], clock: Clock | None) -> tuple[str, ...]:
    """A table's columns, its ``…_server`` ones named ``…_local`` when they hold another clock."""
    if other_clock(clock) is None:
        return tuple(columns)
    return tuple(name.removesuffix("_server") + "_local" if name.endswith("_server") else name for name in columns)


def runnable(text: str) -> bool:
    """Whether a spreadsheet could run a text cell (comments and symbols come from outside): it starts with a
    formula character, a compatibility form of one (fullwidth ＝, small ﹢), or an invisible character, which
    spreadsheets skip on their way to a formula (a space, a tab, LF, CR, NBSP, a BOM, NUL)."""
    if not text:
        return False
    first = unicodedata.normalize("NFKC", text[0])
    return first[:1] in FORMULA_CHARS or text[0].isspace() or unicodedata.category(text[0]) in INVISIBLE


def _cell(value: Any) -> Any:
    return "'" + value if isinstance(value, str) and runnable(value) else value


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


def _entry_name(entry: int) -> str:
    """Beside MT5's numeric ``entry``: ``in``, ``out``, ``in/out`` (a reversal), ``out by`` (a close by)."""
    return code_name(DEAL_ENTRIES, entry).lower()


def deal_row(deal: Deal, wall: BrokerZone | None = None) -> list[Any]:
    return [
        utc_iso(deal.time_utc_ms), wall_iso(deal.time_utc_ms, deal.time_msc, wall), deal.ticket, deal.order,
        deal.position_id, deal.symbol, deal_kind(deal), deal.type, deal.entry, _entry_name(deal.entry), deal.volume,
        deal.price, deal.profit,
        deal.commission, deal.swap, deal.fee, deal.magic, deal.reason, deal.comment, deal.external_id,
    ]  # fmt: skip


def trade_row(trade: Trade, wall: BrokerZone | None = None) -> list[Any]:
    return [
        trade.position_id, trade.symbol, trade.direction, trade.volume, utc_iso(trade.open_time_utc_ms),
        wall_iso(trade.open_time_utc_ms, trade.open_time_msc, wall), utc_iso(trade.close_time_utc_ms),
        wall_iso(trade.close_time_utc_ms, trade.close_time_msc, wall),
        trade.open_price, trade.close_price, trade.profit, trade.commission, trade.swap, trade.fee, trade.net,
        trade.holding_s, trade.close_reason,
    ]  # fmt: skip


def _type_name(names: dict[int, str], code: int) -> str:
    """Beside MT5's numeric ``type`` (kept for programs): ``buy``, ``sell``, ``buy limit``, … as people read it."""
    return code_name(names, code).lower()


def position_row(position: Position, wall: BrokerZone | None = None) -> list[Any]:
    p = position
    return [
        utc_iso(p.time_utc_ms), wall_iso(p.time_utc_ms, p.time_msc, wall), utc_iso(p.time_update_utc_ms),
        wall_iso(p.time_update_utc_ms, p.time_update_msc, wall),
        p.ticket, p.identifier, p.symbol, p.type, _type_name(POSITION_TYPES, p.type), p.volume, p.price_open, p.sl,
        p.tp, p.price_current, p.swap, p.profit, p.magic, p.reason, p.comment, p.external_id,
    ]  # fmt: skip


def order_row(order: Order, wall: BrokerZone | None = None, broker: BrokerZone | int = 0) -> list[Any]:
    """``broker``: the clock the expiration (server time only) is read in, when ``wall`` is another."""
    o = order
    expiration_ms = o.time_expiration * 1000
    expiration_utc = as_zone(broker).to_utc_ms(expiration_ms) if wall is not None else expiration_ms
    return [
        utc_iso(o.time_setup_utc_ms), wall_iso(o.time_setup_utc_ms, o.time_setup_msc, wall),
        wall_iso(expiration_utc, expiration_ms, wall) if o.time_expiration else None, o.ticket, o.symbol, o.type,
        _type_name(ORDER_TYPES, o.type), o.type_time, o.type_filling, o.state, o.volume_initial, o.volume_current,
        o.price_open, o.sl, o.tp, o.price_current, o.price_stoplimit, o.magic, o.position_id, o.position_by_id,
        o.reason, o.comment, o.external_id,
    ]  # fmt: skip


def _in_range(ms: int, start_ms: int | None, end_ms: int | None) -> bool:
    return (start_ms is None or ms >= start_ms) and (end_ms is None or ms <= end_ms)


def deals_csv(
    store: Store, login: int, start_ms: int | None, end_ms: int | None, clock: Clock | None = None
) -> Iterator[str]:
    """The header and a page of deals at a time; Redis reads the next page while this one is formatted.

    The header goes out with the first page, so a Redis error is raised by the first ``next()``.
    """
    header = _csv_text([columns_for(DEAL_COLUMNS, clock)])
    scratch = Scratch()
    for page in store.deal_json_pages(login, start_ms, end_ms):
        text = header + STORED_DEALS.csv(page, scratch, other_clock(clock))
        header = ""
        if text:
            yield text
    if header:
        yield header


def trades_csv(
    store: Store, login: int, start_ms: int | None, end_ms: int | None, digits: int, clock: Clock | None = None
) -> Iterator[str]:
    wall = other_clock(clock)
    trades = iter_trades(store, login, start_ms, end_ms, digits)
    return csv_chunks(columns_for(TRADE_COLUMNS, clock), (trade_row(trade, wall) for trade in trades))


def equity_csv(
    store: Store,
    login: int,
    start_ms: int | None,
    end_ms: int | None,
    broker: BrokerZone | int,
    archive: Archive | None = None,
    clock: Clock | None = None,
) -> Iterator[str]:
    """History has no server time of its own: the broker clock's offset (or ``clock``'s) at each point is applied."""
    zone = other_clock(clock) or as_zone(broker)
    rows = (
        [utc_iso(p.ts), server_iso(zone.to_server_ms(p.ts)), *(getattr(p, name) for name in HISTORY_FIELDS)]
        for p in iter_history(store, login, start_ms, end_ms, archive=archive)
    )
    return csv_chunks(columns_for(EQUITY_COLUMNS, clock), rows)


def positions_csv(
    positions: Iterable[Position], start_ms: int | None, end_ms: int | None, clock: Clock | None = None
) -> Iterator[str]:
    """Open positions opened in the range."""
    wall = other_clock(clock)
    rows = (position_row(p, wall) for p in positions if _in_range(p.time_utc_ms, start_ms, end_ms))
    return csv_chunks(columns_for(POSITION_COLUMNS, clock), rows)


def orders_csv(
    orders: Iterable[Order],
    start_ms: int | None,
    end_ms: int | None,
    clock: Clock | None = None,
    broker: BrokerZone | int = 0,
) -> Iterator[str]:
    """Pending orders placed in the range; ``broker`` reads their expiration (server time only) for ``clock``."""
    wall = other_clock(clock)
    rows = (order_row(o, wall, broker) for o in orders if _in_range(o.time_setup_utc_ms, start_ms, end_ms))
    return csv_chunks(columns_for(ORDER_COLUMNS, clock), rows)


def stats_csv(stats: Mapping[str, Any]) -> Iterator[str]:
    """One row per statistic, its note saying why an empty value is unknown (the ``notes`` of ``/stats``)."""
    notes = stats.get(NOTES, {})
    return csv_chunks(STATS_COLUMNS, ((key, value, notes.get(key)) for key, value in stats.items() if key != NOTES))


def _csv_text(rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([_cell(value) for value in row] for row in rows)
    return buffer.getvalue()


class Scratch:
    """Arrays kept from page to page of one export, by name, grown when a page needs more.

    A page's temporaries come to megabytes. Allocated afresh, glibc hands them back to the kernel at
    every free (the freed heap top passes its trim threshold), and every page pays the page faults
    again: about a second per million deals.
    """

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def __call__(self, name: str, shape: int | tuple[int, ...], dtype: Any = np.int64) -> np.ndarray:
        size = math.prod(shape) if isinstance(shape, tuple) else shape
        array = self._arrays.get(name)
        if array is None or array.size < size:
            array = self._arrays[name] = np.empty(size + size // 4, dtype)
        return array[:size].reshape(shape)


class StoredDeals:
    """Deals CSV rows cut straight out of the JSON the store wrote, a page at a time, in bulk with numpy.

    ``Store.add_deals`` writes ``dumps(Deal.to_dict())`` of a validated deal: compact ASCII JSON, keys in
    field order, every value already of its field's type, and ``json.dumps`` writes an int or a float
    exactly as ``csv`` does (``repr``). So a page is joined into one buffer and cut at its quotes: in a
    row without a backslash every ``"`` opens or closes a key or a string, so a row of that layout has
    a fixed number of them and each value sits at a fixed place between them. The text between the
    values must be the expected keys, byte for byte, and each number must start and end like one; the CSV is
    then gathered from the value bytes, the page's dates and constant tables of clock times. A row that
    is anything else, or whose CSV needs more than copying (a comma to quote, a cell a spreadsheet
    would run, a balance operation), is written by the exact per-deal path, in its place.
    """

    def __init__(self) -> None:
        stored = Deal.stored_fields()
        names = list(stored)
        quoted = [stored[name] is str for name in names]
        count = self.count = len(names)
        self.numbers = [j for j in range(count) if not quoted[j]]
        self.number_ends = [count + j for j in self.numbers]
        self.strings = [j for j in range(count) if quoted[j]]
        key_open: list[int] = []
        value_open: dict[int, int] = {}
        quotes = 0
        for j in range(count):
            key_open.append(quotes)
            quotes += 2
            if quoted[j]:
                value_open[j] = quotes
                quotes += 2
        self.quotes = quotes
        end = quotes  # the byte after the row: one more column of cuts, after the quotes
        # each value's first byte and the byte after it, as (column of the cuts, offset)
        first = [(value_open[j], 1) if quoted[j] else (key_open[j] + 1, 2) for j in range(count)]
        after = [
            (value_open[j] + 1, 0) if quoted[j] else (key_open[j + 1], -1) if j + 1 < count else (end, -1)
            for j in range(count)
        ]
        self.value_col = np.array([c for c, _ in first + after])
        self.value_add = np.array([a for _, a in first + after])
        # each key, after its opening quote, as 8-byte words (the last one masked) to compare with the row's
        self.key_open_col, self.key_close_col = np.array(key_open), np.array(key_open) + 1
        self.key_span = np.array([len(name) + 1 for name in names])
        words = [
            (key_open[j], at, name[at : at + 8].encode("ascii"))
            for j, name in enumerate(names)
            for at in range(0, len(name), 8)
        ]
        self.word_col = np.array([col for col, _, _ in words])
        self.word_add = np.array([1 + at for _, at, _ in words])
        self.word_mask = np.array([_word(b"\xff" * len(part)) for _, _, part in words], dtype=np.uint64)
        self.word_expected = np.array([_word(part) for _, _, part in words], dtype=np.uint64)
        self.extras = {name: 2 * count + k for k, name in enumerate(_EXTRAS)}
        self.type_field, self.time_fields = names.index("type"), (names.index("time_utc_ms"), names.index("time_msc"))
        self.entry_field = names.index("entry")
        self.separators: list[tuple[int, bytes]] = []
        self.segments = self._segments(names)

    def _segments(self, names: list[str]) -> np.ndarray:
        """Each CSV segment of a row as rows of a table over the per-row numbers (first bytes, ends, extras):
        it starts at ``n[a] + b`` and is ``n[c] - n[d] + e`` bytes long. A value's segment ends with its
        separator, written over the JSON's byte(s) after it where they differ (``self.separators``)."""
        count, extras = self.count, self.extras
        zero = extras["zero"]
        segments: list[tuple[int, int, int, int, int]] = []
        for column in DEAL_COLUMNS:
            if column in ("time_utc", "time_server"):
                zone = "utc" if column == "time_utc" else "server"
                segments += [(extras[f"{part}_{zone}"], 0, zero, zero, width) for part, width in _CLOCK_WIDTHS[zone]]
            elif column in ("kind", "entry_name"):
                name = "kind" if column == "kind" else "entry"
                segments.append((extras[f"{name}_at"], 0, extras[f"{name}_length"], zero, 0))
            else:
                j = names.index(column)
                separator = b"\r\n" if column == DEAL_COLUMNS[-1] else b","
                if j in self.strings or j + 1 == count or separator != b",":  # else the JSON's own comma follows
                    self.separators.append((j, separator))
                segments.append((j, 0, count + j, j, len(separator)))
        return np.array(segments).T

    def csv(self, page: bytes, scratch: Scratch, wall: BrokerZone | None = None) -> str:
        """The CSV rows (no header) of a page of stored deal JSON, one per line, in order; ``wall``: the clock
        of the second time column (None: the server time as stored).

        Tables are by field, then by row: a field's positions are then one contiguous run, so picking
        fields copies runs, where picking from rows of a few dozen numbers copies number by number.
        """
        if not page:
            return ""
        if not page.isascii():
            return _slow_rows(page.split(b"\n"), wall)
        buf = scratch("page", len(page) + _PADDING.size, np.uint8)
        buf[: len(page)] = np.frombuffer(page, np.uint8)
        buf[len(page) :] = _PADDING
        ends = np.flatnonzero(np.equal(buf, ord("\n"), out=scratch("bytes", buf.size, bool)))  # where each row ends
        n = ends.size
        is_quote = np.equal(buf, ord('"'), out=scratch("bytes", buf.size, bool))
        quotes = np.flatnonzero(is_quote)
        per_row = np.diff(np.searchsorted(quotes, ends), prepend=0)
        cut = per_row == self.quotes
        if b"\\" in page:
            cut &= np.diff(np.searchsorted(np.flatnonzero(buf == ord("\\")), ends), prepend=0) == 0
        rows = np.flatnonzero(cut)
        if rows.size < n:
            quotes = quotes[np.repeat(cut, per_row)]
        cuts = scratch("cuts", (self.quotes + 1, rows.size))
        cuts[: self.quotes] = quotes.reshape(-1, self.quotes).T
        cuts[self.quotes] = ends[rows]
        numbers = scratch("numbers", (2 * self.count + len(_EXTRAS), rows.size))
        np.take(cuts, self.value_col, axis=0, out=numbers[: 2 * self.count], mode="clip")
        numbers[: 2 * self.count] += self.value_add[:, None]
        words = np.ndarray((buf.size - 7,), dtype="<u8", buffer=buf, strides=(1,))  # the 8 bytes from each byte on
        ok = self._keys_ok(words, cuts, scratch) & self._values_ok(buf, numbers, scratch)
        (utc, utc_ok), (server, server_ok) = (
            _epoch_ms(words, numbers[j], numbers[self.count + j]) for j in self.time_fields
        )
        ok &= utc_ok & server_ok
        commas = np.count_nonzero(np.equal(buf, ord(","), out=is_quote))
        if commas != (self.count - 1) * n or not ok.all() or rows.size < n:
            # a row that passed has the layout's commas, and more only inside its strings
            per_row = np.diff(np.searchsorted(np.flatnonzero(buf == ord(",")), ends), prepend=0)
            ok &= per_row[rows] == self.count - 1
        kept = rows[ok]
        if not kept.size:
            return _slow_rows(page.split(b"\n"), wall)
        if kept.size < rows.size:
            numbers, utc, server = numbers[:, ok], utc[ok], server[ok]
        if wall is not None:
            server = wall.to_server_array(utc)
        out, row_lengths = self._gather(buf, numbers, utc, server, scratch)
        if kept.size == n:
            return out
        return _splice(page.split(b"\n"), kept, out, row_lengths, wall)

    def _keys_ok(self, words: np.ndarray, cuts: np.ndarray, scratch: Scratch) -> np.ndarray:
        """Every key of a row is the field's name, in field order: its length, then 8 bytes at a time."""
        rows = cuts.shape[1]
        opening = np.take(cuts, self.key_open_col, axis=0, out=scratch("key_open", (self.count, rows)), mode="clip")
        closing = np.take(cuts, self.key_close_col, axis=0, out=scratch("key_close", (self.count, rows)), mode="clip")
        ok = (np.subtract(closing, opening, out=closing) == self.key_span[:, None]).all(axis=0)
        at = np.take(cuts, self.word_col, axis=0, out=scratch("word_at", (self.word_col.size, rows)), mode="clip")
        at += self.word_add[:, None]
        got = words[np.minimum(at, words.size - 1, out=at)]  # not take(): it would copy the strided view whole
        got &= self.word_mask[:, None]
        return ok & (got == self.word_expected[:, None]).all(axis=0)

    def _values_ok(self, buf: np.ndarray, numbers: np.ndarray, scratch: Scratch) -> np.ndarray:
        """Numbers that start and end like one (not null, no white space), strings a spreadsheet will not
        run, a buy or a sell, an entry of one digit that has a name."""
        shape = (len(self.numbers), numbers.shape[1])
        last = np.take(numbers, self.number_ends, axis=0, out=scratch("number_ends", shape), mode="clip")
        last -= 1
        ok = _DIGIT[buf[last]].all(axis=0)
        first = np.take(numbers, self.numbers, axis=0, out=scratch("number_firsts", shape), mode="clip")
        ok &= _NUMBER_START[buf[first]].all(axis=0)
        first, after = numbers[self.strings], numbers[[self.count + j for j in self.strings]]
        ok &= ~((after > first) & _FORMULA_START[buf[first]]).any(axis=0)
        kind_first, kind_after = numbers[self.type_field], numbers[self.count + self.type_field]
        type_byte = buf[kind_first]
        ok &= (kind_after - kind_first == 1) & ((type_byte == _BUY_BYTE) | (type_byte == _SELL_BYTE))
        entry_first, entry_after = numbers[self.entry_field], numbers[self.count + self.entry_field]
        return ok & (entry_after - entry_first == 1) & _ENTRY_DIGIT[buf[entry_first]]

    def _gather(
        self, buf: np.ndarray, numbers: np.ndarray, utc_ms: np.ndarray, server_ms: np.ndarray, scratch: Scratch
    ) -> tuple[str, np.ndarray]:
        """The CSV text of the checked rows and each row's length, copied byte by byte from the JSON (with
        each value's separator written after it), the page's dates and the tables of clock times and kinds."""
        rows = numbers.shape[1]
        days, day_of = np.unique(np.concatenate([utc_ms // DAY_MS, server_ms // DAY_MS]), return_inverse=True)
        dates = "".join((EPOCH + timedelta(days=day)).date().isoformat() + "T" for day in days.tolist())
        clock_at = buf.size + len(dates)
        source = scratch("source", clock_at + _CLOCK.size, np.uint8)
        source[: buf.size] = buf
        source[buf.size : clock_at] = np.frombuffer(dates.encode("ascii"), np.uint8)
        source[clock_at:] = _CLOCK
        for field, separator in self.separators:
            at = numbers[self.count + field]
            for k, byte in enumerate(separator):
                source[at + k] = byte
        extras = self.extras
        numbers[extras["zero"]] = 0
        for zone, ms, day in (("utc", utc_ms, day_of[:rows]), ("server", server_ms, day_of[rows:])):
            minute, of_minute = np.divmod(ms % DAY_MS, MINUTE_MS)
            second, milli = np.divmod(of_minute, 1000)
            (_, date_width), (_, minute_width), (_, second_width), (millis, milli_width) = _CLOCK_WIDTHS[zone]
            numbers[extras[f"date_{zone}"]] = buf.size + day * date_width
            numbers[extras[f"minute_{zone}"]] = clock_at + _CLOCK_AT["minutes"] + minute * minute_width
            numbers[extras[f"second_{zone}"]] = clock_at + _CLOCK_AT["seconds"] + second * second_width
            numbers[extras[f"{millis}_{zone}"]] = clock_at + _CLOCK_AT[f"millis_{zone}"] + milli * milli_width
        sell = buf[numbers[self.type_field]] == _SELL_BYTE
        numbers[extras["kind_at"]] = clock_at + np.where(sell, _CLOCK_AT["sell"], _CLOCK_AT["buy"])
        numbers[extras["kind_length"]] = np.where(sell, len(_CLOCK_PARTS["sell"]), len(_CLOCK_PARTS["buy"]))
        entry = buf[numbers[self.entry_field]] - ord("0")
        numbers[extras["entry_at"]] = clock_at + _ENTRY_AT[entry]
        numbers[extras["entry_length"]] = _ENTRY_LENGTH[entry]
        start_col, start_add, length_col, minus_col, length_add = self.segments
        shape = (start_col.size, rows)
        by_field = np.take(numbers, start_col, axis=0, out=scratch("by_field", shape), mode="clip")
        by_field += start_add[:, None]
        seg_start = scratch("seg_start", (rows, start_col.size))
        seg_start[:] = by_field.T  # segments in output order: row by row
        np.take(numbers, length_col, axis=0, out=by_field, mode="clip")
        by_field -= np.take(numbers, minus_col, axis=0, out=scratch("seg_minus", shape), mode="clip")
        by_field += length_add[:, None]
        seg_length = scratch("seg_length", (rows, start_col.size))
        seg_length[:] = by_field.T
        # the source index of every output byte: one on from the last inside a segment, a jump at each start
        starts, lengths = seg_start.ravel(), seg_length.ravel()
        output_at = np.cumsum(lengths, out=scratch("output_at", lengths.size))
        index = scratch("index", int(output_at[-1]))
        output_at -= lengths
        jump = scratch("jump", lengths.size)
        jump[0] = starts[0]
        np.subtract(starts[1:], starts[:-1], out=jump[1:])
        jump[1:] -= lengths[:-1]
        jump[1:] += 1
        index.fill(1)
        index[output_at] = jump
        np.cumsum(index, out=index)
        out = np.take(source, index, out=scratch("out", index.size, np.uint8), mode="clip")
        return str(out.data, "ascii"), seg_length.sum(axis=1)


def _word(part: bytes) -> int:
    return int.from_bytes(part + bytes(8 - len(part)), "little")


# ends the last row; then a word read at any byte of a row stays inside
_PADDING = np.frombuffer(b"\n" + bytes(8), np.uint8)
# the constant tables a row's CSV is gathered from, after the page's JSON and dates: clock times and kinds
_CLOCK_PARTS = {
    "minutes": "".join(f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60)),
    "seconds": "".join(f"{s:02d}." for s in range(60)),
    "millis_utc": "".join(f"{ms:03d}Z," for ms in range(1000)),
    "millis_server": "".join(f"{ms:03d}," for ms in range(1000)),
    "buy": "buy,",
    "sell": "sell,",
    **{f"entry_{code}": f"{_entry_name(code)}," for code in DEAL_ENTRIES},
}
_CLOCK_AT = dict(zip(_CLOCK_PARTS, itertools.accumulate(map(len, _CLOCK_PARTS.values()), initial=0), strict=False))
_CLOCK = np.frombuffer("".join(_CLOCK_PARTS.values()).encode("ascii"), np.uint8)
_ENTRY_AT = np.array([_CLOCK_AT[f"entry_{code}"] for code in DEAL_ENTRIES])  # by the entry's digit
_ENTRY_LENGTH = np.array([len(_CLOCK_PARTS[f"entry_{code}"]) for code in DEAL_ENTRIES])
_ENTRY_DIGIT = np.zeros(256, bool)  # the entries the tables above name
_ENTRY_DIGIT[[ord(str(code)) for code in DEAL_ENTRIES]] = True
# a time cell: ``YYYY-MM-DDT`` from the page's dates, then ``HH:MM:``, ``SS.`` and ``mmm`` with its separator
_CLOCK_WIDTHS = {
    zone: (("date", 11), ("minute", 6), ("second", 3), ("millis", 4 + len(tail)))
    for zone, tail in (("utc", "Z"), ("server", ""))
}
# per-row numbers computed for the gather, after each field's first byte and end
_EXTRAS = (
    "zero", "kind_at", "kind_length", "entry_at", "entry_length",
    *(f"{part}_{zone}" for zone in ("utc", "server") for part, _ in _CLOCK_WIDTHS[zone]),
)  # fmt: skip
_BUY_BYTE, _SELL_BYTE = ord(str(DEAL_TYPE_BUY)), ord(str(DEAL_TYPE_SELL))
_NUMBER_START = np.zeros(256, bool)
_NUMBER_START[list(b"-0123456789")] = True
_DIGIT = np.zeros(256, bool)
_DIGIT[list(b"0123456789")] = True
_FORMULA_START = np.zeros(256, bool)  # first bytes of a stored string that the exact path must write
_FORMULA_START[[byte for byte in range(128) if runnable(chr(byte))]] = True
_MAX_MS = int((datetime(9999, 12, 31, 23, 59, 59, 999000) - EPOCH) / timedelta(milliseconds=1))
_ZEROS, _ALL = np.uint64(0x3030303030303030), np.uint64(0xFFFFFFFFFFFFFFFF)
_HIGH_NIBBLES, _SIXES = np.uint64(0xF0F0F0F0F0F0F0F0), np.uint64(0x0606060606060606)


def _epoch_ms(words: np.ndarray, first: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The unsigned integers at ``first:after`` of each row, and whether each is a time a datetime holds.

    Up to 16 digits, read as the two 8-byte words that end the number; the bytes before it become
    ``0``, and each word is converted eight digits at a time (SWAR, as simdjson does).
    """
    length = after - first
    low = _zero_padded(words[np.clip(after - 8, 0, words.size - 1)], 8 - np.minimum(length, 8))
    high = _zero_padded(words[np.clip(after - 16, 0, words.size - 1)], 8 - np.clip(length - 8, 0, 8))
    ok = (length >= 1) & (length <= 16) & _all_digits(low) & _all_digits(high)
    values = (_eight_digits(high) * np.uint64(100_000_000) + _eight_digits(low)).astype(np.int64)
    return values, ok & (values <= _MAX_MS)


def _zero_padded(word: np.ndarray, pad: np.ndarray) -> np.ndarray:
    """``word`` with its first ``pad`` bytes (0 to 8; the low ones, little-endian) replaced by ``0``."""
    keep = np.where(pad < 8, _ALL << (np.minimum(pad, 7).astype(np.uint64) * np.uint64(8)), np.uint64(0))
    return (word & keep) | (_ZEROS & ~keep)


def _all_digits(word: np.ndarray) -> np.ndarray:
    """Every byte is ``0`` to ``9``: high nibble 3, and a low nibble that adding 6 does not carry out of."""
    return ((word & _HIGH_NIBBLES) == _ZEROS) & (((word + _SIXES) & _HIGH_NIBBLES) == _ZEROS)


def _eight_digits(word: np.ndarray) -> np.ndarray:
    """Eight ASCII digits, the first the most significant, as a number: pairs, then fours, then eight."""
    word = ((word & np.uint64(0x0F0F0F0F0F0F0F0F)) * np.uint64(2561)) >> np.uint64(8)
    word = ((word & np.uint64(0x00FF00FF00FF00FF)) * np.uint64(6553601)) >> np.uint64(16)
    return ((word & np.uint64(0x0000FFFF0000FFFF)) * np.uint64(42949672960001)) >> np.uint64(32)


def _slow_rows(raws: Iterable[bytes], wall: BrokerZone | None = None) -> str:
    return _csv_text(deal_row(Deal.from_dict(json.loads(raw)), wall) for raw in raws)


def _splice(raws: list[bytes], kept: np.ndarray, out: str, row_lengths: np.ndarray, wall: BrokerZone | None) -> str:
    """The rows ``kept`` of ``raws``, written in ``out``, with every other row written the exact way, in order."""
    others = np.flatnonzero(np.isin(np.arange(len(raws)), kept, invert=True))
    kept_before = (others - np.arange(others.size)).tolist()  # how many rows of ``out`` come before each other row
    ends = np.concatenate([[0], np.cumsum(row_lengths)]).tolist()
    parts: list[str] = []
    position = 0
    for row, before in zip(others.tolist(), kept_before, strict=True):
        parts += [out[position : ends[before]], _slow_rows([raws[row]], wall)]
        position = ends[before]
    parts.append(out[position:])
    return "".join(parts)


STORED_DEALS = StoredDeals()
