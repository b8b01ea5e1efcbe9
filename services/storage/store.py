"""The Redis key schema and every read and write the app makes to it.

Keys carry the account login so several accounts can share one Redis:

- ``<prefix>:<login>:events``   pub/sub channel, one JSON event per message
- ``<prefix>:<login>:snapshot`` string, the latest full state (JSON)
- ``<prefix>:<login>:status``   string, the streamer's status (JSON), written at every poll
- ``<prefix>:<login>:history``  stream, account history, ``MAXLEN ~ HISTORY_MAX_POINTS``
- ``<prefix>:<login>:history:1m`` stream, one entry per minute: equity low and high (with their times)
  and the minute's last balance, equity (its close), margin, margin level and profit, so long ranges
  open without reading every raw point
- ``<prefix>:<login>:deals``    hash, deal ticket -> deal JSON (kept forever)
- ``<prefix>:<login>:deals:by_time`` sorted set, ticket scored by UTC epoch ms
- ``<prefix>:<login>:broker_tz`` string, the broker clock (``BrokerZone.spec``) the deals' UTC times were made with
- ``<prefix>:<login>:claim``    string, set by the process that writes the account; its absence means Redis lost
  the account's keys (a restart without persistence, a flush)
- ``<prefix>:accounts``         set of the logins seen
- ``<prefix>:<login>:leader``   string, the process that polls MT5 for this account (expires in 10 s)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import redis

try:
    import hiredis
except ImportError:  # redis-py packs and parses in Python then
    hiredis = None

from services.core.brokertime import BrokerZone
from services.core.models import Deal, HistoryPoint, Snapshot
from services.core.protocol import Event, dumps
from services.core.units import MINUTE_MS
from services.storage.redis_conn import RedisGate

HISTORY_FIELDS = ("balance", "equity", "margin", "margin_level", "profit")
_TAIL = 16  # index scores read at a page's end, to find the last one and the tickets that share it


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str

    def account(self, login: object, *parts: str) -> str:
        """An account's key: ``<prefix>:<login>:<part>:…``, the one shape every per-account key has."""
        return ":".join((self.prefix, str(login), *parts))

    def events(self, login: int) -> str:
        return self.account(login, "events")

    def events_pattern(self) -> str:
        return f"{self.prefix}:*:events"

    def login_of_events(self, channel: str) -> int | None:
        """The account whose events a channel carries, as ``events`` names it (None for any other channel)."""
        head, _, tail = channel.rpartition(":")
        prefix, _, login = head.rpartition(":")
        if tail != "events" or prefix != self.prefix or not (login.isascii() and login.isdigit()):
            return None
        return int(login)

    def snapshot(self, login: int) -> str:
        return self.account(login, "snapshot")

    def status(self, login: int) -> str:
        return self.account(login, "status")

    def history(self, login: int) -> str:
        return self.account(login, "history")

    def rollup(self, login: int) -> str:
        return self.account(login, "history", "1m")

    def deals(self, login: int) -> str:
        return self.account(login, "deals")

    def deals_by_time(self, login: int) -> str:
        return self.account(login, "deals", "by_time")

    def broker_tz(self, login: int) -> str:
        return self.account(login, "broker_tz")

    def claim(self, login: int) -> str:
        return self.account(login, "claim")

    def accounts(self) -> str:
        return f"{self.prefix}:accounts"

    def leader(self, account: object) -> str:
        return self.account(account, "leader")


class Store:
    """Thin, typed access to the key schema; raises redis errors for the caller to handle."""

    def __init__(
        self, client: redis.Redis, prefix: str, history_max_points: int, gate: RedisGate | None = None
    ) -> None:
        self.client = client
        self.gate = gate or RedisGate()
        self.keys = Keys(prefix)
        self.history_max_points = history_max_points
        self._buckets: dict[int, _Bucket] = {}
        self._newest: dict[int, int] = {}  # the history stream's top id per login, so appends skip a round trip

    def publish(self, login: int, message: Event) -> int:
        return int(self.client.publish(self.keys.events(login), dumps(message)))

    def save_snapshot(self, snapshot: Snapshot) -> None:
        login = snapshot.account.login
        pipe = self.client.pipeline(transaction=False)
        pipe.set(self.keys.snapshot(login), dumps(snapshot.to_dict()))
        pipe.sadd(self.keys.accounts(), login)
        pipe.execute()

    def save_status(self, login: int, status: dict[str, Any]) -> None:
        """Written at every poll, so a dashboard elsewhere sees a collector stop within two polls."""
        self.client.set(self.keys.status(login), dumps(status))

    def statuses(self, logins: Iterable[int]) -> dict[int, dict[str, Any]]:
        logins = list(logins)
        values = self.client.mget([self.keys.status(login) for login in logins]) if logins else []
        found = {}
        for login, raw in zip(logins, values, strict=True):
            try:
                status = json.loads(raw) if raw is not None else None
            except ValueError:
                status = None  # a foreign or torn value: the account shows as stale, the others unaffected
            if isinstance(status, dict):
                found[login] = status
        return found

    def snapshot(self, login: int) -> dict[str, Any] | None:
        raw = self.client.get(self.keys.snapshot(login))
        return None if raw is None else json.loads(raw)

    def snapshots(self, logins: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Several accounts' snapshots in one round trip; an unreadable one is left out."""
        logins = list(logins)
        values = self.client.mget([self.keys.snapshot(login) for login in logins]) if logins else []
        found = {}
        for login, raw in zip(logins, values, strict=True):
            try:
                snapshot = json.loads(raw) if raw is not None else None
            except ValueError:
                snapshot = None
            if isinstance(snapshot, dict) and isinstance(snapshot.get("account"), dict):
                found[login] = snapshot
        return found

    def deal_counts(self, logins: Iterable[int]) -> dict[int, int]:
        logins = list(logins)
        pipe = self.client.pipeline(transaction=False)
        for login in logins:
            pipe.zcard(self.keys.deals_by_time(login))
        return dict(zip(logins, (int(n) for n in pipe.execute()), strict=True))

    def has_account(self, login: int) -> bool:
        return bool(self.client.sismember(self.keys.accounts(), login))

    def accounts(self) -> list[int]:
        return sorted(int(x) for x in self.client.smembers(self.keys.accounts()))

    def append_history(self, login: int, points: Iterable[HistoryPoint], _retried: bool = False) -> None:
        """XADD with the point's own time as the entry id, so history is queried by time.

        Stream ids must grow; a point older than the stream's newest entry (a clock step
        back, another writer on the same login) is filed at that newest time instead of
        jamming every later write with an error. Completed minutes go to the rollup stream.
        """
        key = self.keys.history(login)
        points = list(points)
        if _retried or login not in self._newest:  # read once; a raced writer shows as an error and a re-read
            self._newest[login] = self.last_history_ts(login) or 0
        newest = self._newest[login]
        pipe = self.client.pipeline(transaction=True)  # all or nothing, so a retry never doubles a point
        for point in points:
            newest = max(newest, point.ts)
            fields = {name: repr(getattr(point, name)) for name in HISTORY_FIELDS}
            pipe.xadd(key, fields, id=f"{newest}-*", maxlen=self.history_max_points, approximate=True)
        try:
            pipe.execute()
        except redis.ResponseError:
            if _retried:
                raise
            self.append_history(login, points, _retried=True)  # another writer got ahead between read and write
            return
        self._newest[login] = newest
        rollup = self.client.pipeline(transaction=False)
        for point in points:
            self._roll(rollup, login, point)
        rollup.execute()

    def _roll(self, pipe: Any, login: int, point: HistoryPoint) -> None:
        minute = point.ts - point.ts % MINUTE_MS
        bucket = self._buckets.get(login)
        if bucket is not None and bucket.minute != minute:
            self._write_bucket(pipe, login, bucket)
            bucket = None
        if bucket is None:
            self._buckets[login] = _Bucket(minute, point, point, point)
        else:
            bucket.add(point)

    def _write_bucket(self, pipe: Any, login: int, bucket: _Bucket) -> None:
        pipe.xadd(
            self.keys.rollup(login),
            bucket.fields(),
            id=f"{bucket.minute}-*",
            maxlen=max(1_000, self.history_max_points // 60),
            approximate=True,
        )

    def flush_rollup(self, login: int) -> None:
        """Write the current, unfinished minute (at shutdown) so the rollup reaches the last point."""
        bucket = self._buckets.pop(login, None)
        if bucket is not None:
            pipe = self.client.pipeline(transaction=False)
            self._write_bucket(pipe, login, bucket)
            pipe.execute()

    def rollup_points(self, login: int, start_ms: int | None = None, end_ms: int | None = None) -> list[HistoryPoint]:
        """Two points per minute (the equity low and high, in time order) over [start, end]."""
        low = "-" if start_ms is None else str(start_ms - start_ms % MINUTE_MS)
        high = "+" if end_ms is None else str(end_ms)
        points: list[HistoryPoint] = []
        for _, values in self.client.xrange(self.keys.rollup(login), low, high):
            points.extend(_Bucket.points(values))
        return [p for p in points if (start_ms is None or p.ts >= start_ms) and (end_ms is None or p.ts <= end_ms)]

    def equity_closes(
        self, logins: Iterable[int], start_ms: int, end_ms: int, raw_cap: int = 10_000
    ) -> dict[int, list[tuple[int, float]]]:
        """Each account's equity as ``(time, equity)``, oldest first, enough to know it at any time in
        [start, end]: the last minute close before ``start_ms``, the rollup's closes of the minutes that start in
        [start, end), then the raw points after the last of them up to ``end_ms`` (the minute in progress, not
        rolled up yet), at most the newest ``raw_cap``. Two round trips for all the accounts."""
        logins = list(logins)
        pipe = self.client.pipeline(transaction=False)
        for login in logins:
            pipe.xrevrange(self.keys.rollup(login), str(start_ms - 1), "-", count=1)
            pipe.xrange(self.keys.rollup(login), str(start_ms), str(end_ms - 1))
        replies = pipe.execute()
        found: dict[int, list[tuple[int, float]]] = {}
        for k, login in enumerate(logins):
            entries = [*replies[2 * k], *replies[2 * k + 1]]
            closes = [_Bucket.close(int(entry_id.split("-")[0]), values) for entry_id, values in entries]
            found[login] = [close for close in closes if close is not None]
        for login in logins:
            rolled = str(found[login][-1][0] + 1) if found[login] else "-"  # the first minute not rolled up
            pipe.xrevrange(self.keys.history(login), str(end_ms), rolled, count=raw_cap)
        for login, rows in zip(logins, pipe.execute(), strict=True):
            points = (_point(entry_id, values) for entry_id, values in reversed(rows))
            found[login].extend((p.ts, p.equity) for p in points if p is not None)
        return found

    def first_history_ts(self, login: int) -> int | None:
        rows = self.client.xrange(self.keys.history(login), "-", "+", count=1)
        return int(rows[0][0].split("-")[0]) if rows else None

    def history(
        self, login: int, start_ms: int | None = None, end_ms: int | None = None, count: int | None = None
    ) -> list[HistoryPoint]:
        """Points in [start, end]; with ``count`` and no start, the latest ``count`` points."""
        key = self.keys.history(login)
        low = "-" if start_ms is None else str(start_ms)
        high = "+" if end_ms is None else str(end_ms)
        if count is not None and start_ms is None:
            rows = list(reversed(self.client.xrevrange(key, high, low, count=count)))
        else:
            rows = self.client.xrange(key, low, high, count=count)
        points = (_point(entry_id, values) for entry_id, values in rows)
        return [point for point in points if point is not None]

    def history_length(self, login: int) -> int:
        return int(self.client.xlen(self.keys.history(login)))

    def last_history_ts(self, login: int) -> int | None:
        rows = self.client.xrevrange(self.keys.history(login), "+", "-", count=1)
        return int(rows[0][0].split("-")[0]) if rows else None

    def add_deals(self, login: int, deals: Iterable[Deal]) -> list[Deal]:
        """Store deals by ticket; return those that were not stored before (the ones to announce)."""
        deals = list(deals)
        if not deals:
            return []
        pipe = self.client.pipeline(transaction=False)
        for deal in deals:
            pipe.hsetnx(self.keys.deals(login), str(deal.ticket), dumps(deal.to_dict()))
            pipe.zadd(self.keys.deals_by_time(login), {str(deal.ticket): deal.time_utc_ms}, nx=True)
        results = pipe.execute()
        return [deal for deal, added in zip(deals, results[::2], strict=True) if added]

    def claim(self, login: int) -> None:
        self.client.set(self.keys.claim(login), "1")

    def wiped(self, login: int) -> bool:
        """The claim is gone: everything this process wrote for ``login`` went with it."""
        return not self.client.exists(self.keys.claim(login))

    def broker_tz(self, login: int) -> str | None:
        """The broker clock the stored deals' UTC times were made with (None before the first)."""
        raw = self.client.get(self.keys.broker_tz(login))
        return raw.decode() if isinstance(raw, bytes) else raw

    def restamp_deals(self, login: int, zone: BrokerZone, chunk: int = 2000) -> int:
        """Every stored deal's UTC time made again from its server time with ``zone``; returns how many moved.

        Deals keep the server time MT5 gave them, so a clock learned late (a start on a closed market,
        a daylight-saving rule found in the history) corrects every earlier record.
        """
        moved, cursor, table = 0, 0, self.keys.deals(login)
        while True:
            cursor, rows = self.client.hscan(table, cursor, count=chunk)
            pipe = self.client.pipeline(transaction=False)
            for ticket, raw in rows.items():
                data = json.loads(raw)
                utc_ms = zone.to_utc_ms(int(data["time_msc"]))
                if data.get("time_utc_ms") != utc_ms:
                    data["time_utc_ms"] = utc_ms
                    pipe.hset(table, ticket, dumps(data))
                    pipe.zadd(self.keys.deals_by_time(login), {ticket: utc_ms})
                    moved += 1
            pipe.set(self.keys.broker_tz(login), zone.spec)
            pipe.execute()
            if int(cursor) == 0:
                return moved

    def deals(self, login: int, start_ms: int | None = None, end_ms: int | None = None) -> list[Deal]:
        tickets = self.client.zrangebyscore(
            self.keys.deals_by_time(login),
            "-inf" if start_ms is None else start_ms,
            "+inf" if end_ms is None else end_ms,
        )
        return list(self._deals_by_ticket(login, tickets))

    def deal_count(self, login: int) -> int:
        return int(self.client.hlen(self.keys.deals(login)))

    def deal_json_pages(
        self, login: int, start_ms: int | None = None, end_ms: int | None = None, chunk: int = 2000
    ) -> Iterator[bytes]:
        """Deals by UTC time, oldest first, a page of ``chunk`` at a time: the JSON stored for each, one per line.

        Pages continue from the last score seen; tickets already sent at that same millisecond are
        skipped, so deals sharing a time are neither lost nor repeated. Redis reads the next page
        while this one is used: the commands go out on a connection of their own before a page is
        yielded, and their replies are read after. Only the scores at a page's end are read (a page's
        index WITHSCORES costs more in the client than the rest of a CSV export), and the JSON comes
        as the bytes Redis holds: JSON has no raw newline.
        """
        index, table = self.keys.deals_by_time(login), self.keys.deals(login)
        low: float | str = "-inf" if start_ms is None else start_ms
        high = "+inf" if end_ms is None else str(end_ms)
        sent_at_low: set[str] = set()
        pool = self.client.connection_pool
        conn = _connection(pool)
        done = False
        try:
            asked = chunk
            _send(conn, "ZRANGEBYSCORE", index, _bound(low), high, "LIMIT", 0, asked)
            tickets: list[str] = conn.read_response()
            page = None
            while True:
                fresh = _without(tickets, sent_at_low)
                if not fresh:
                    break
                _send(conn, "ZMSCORE", index, *tickets[-_TAIL:])
                _send(conn, "HMGET", table, *fresh)
                scores = conn.read_response()
                values = None
                if (len(tickets) > _TAIL and scores[0] == scores[-1]) or None in scores:
                    # a burst at one millisecond, or a deal gone: every score of the page, after the HMGET reply
                    values = conn.read_response(disable_decoding=True)
                    _send(conn, "ZMSCORE", index, *tickets)
                    scores = conn.read_response()
                scored = [
                    (ticket, float(score))
                    for ticket, score in zip(tickets[-len(scores) :], scores, strict=True)
                    if score is not None
                ]
                if scored:  # else the page's deals are all gone from the index: the next page starts past them
                    last = scored[-1][1]
                    at_last = {ticket for ticket, score in scored if score == last}
                    sent_at_low = sent_at_low | at_last if last == low else at_last
                    low = last
                more = len(tickets) >= asked
                if more:
                    asked = chunk + len(sent_at_low)
                    _send(conn, "ZRANGEBYSCORE", index, _bound(low), high, "LIMIT", 0, asked)
                if page is not None:
                    yield page
                if values is None:
                    values = conn.read_response(disable_decoding=True)
                if None in values:
                    values = [value for value in values if value is not None]
                page = b"\n".join(values)
                if not more:
                    break
                tickets = conn.read_response()
            if page is not None:
                yield page
            done = True
        finally:
            if not done:
                conn.disconnect()  # replies may be on their way: the next user must not read them
            pool.release(conn)

    def _deals_by_ticket(self, login: int, tickets: list[str], chunk: int = 1000) -> Iterator[Deal]:
        for start in range(0, len(tickets), chunk):
            part = tickets[start : start + chunk]
            for raw in self.client.hmget(self.keys.deals(login), part):
                if raw is not None:
                    yield Deal.from_dict(json.loads(raw))


@dataclass(slots=True)
class _Bucket:
    """One minute of history being rolled up: the equity low and high, and the latest point."""

    minute: int
    low: HistoryPoint
    high: HistoryPoint
    last: HistoryPoint

    def add(self, point: HistoryPoint) -> None:
        if point.equity < self.low.equity:
            self.low = point
        if point.equity > self.high.equity:
            self.high = point
        self.last = point

    def fields(self) -> dict[str, str]:
        return {
            "low_ts": str(self.low.ts),
            "low": repr(self.low.equity),
            "high_ts": str(self.high.ts),
            "high": repr(self.high.equity),
            **{name: repr(getattr(self.last, name)) for name in HISTORY_FIELDS},  # equity: the minute's close
        }

    @staticmethod
    def close(minute: int, values: dict[str, str]) -> tuple[int, float] | None:
        """The minute's last equity, stamped at the minute's last millisecond; an entry written before the
        close was kept gives its later extreme (the nearest value it holds). None for an unreadable entry."""
        try:
            if "equity" in values:
                return minute + MINUTE_MS - 1, float(values["equity"])
            extremes = ((int(values["low_ts"]), float(values["low"])), (int(values["high_ts"]), float(values["high"])))
        except (KeyError, ValueError):
            return None
        return minute + MINUTE_MS - 1, max(extremes)[1]

    @staticmethod
    def points(values: dict[str, str]) -> list[HistoryPoint]:
        try:
            rest = [float(values[name]) for name in ("balance", "margin", "margin_level", "profit")]
            extremes = sorted(
                {(int(values["low_ts"]), float(values["low"])), (int(values["high_ts"]), float(values["high"]))}
            )
        except (KeyError, ValueError):
            return []
        balance, margin, margin_level, profit = rest
        return [HistoryPoint(ts, balance, equity, margin, margin_level, profit) for ts, equity in extremes]


def _connection(pool: redis.ConnectionPool) -> Any:
    """A connection of the pool's for a reader's own use, given back by ``pool.release``."""
    try:
        return pool.get_connection()
    except TypeError:  # redis-py before 5.3 names the command
        return pool.get_connection("HMGET")


def _bound(score: float | str) -> str:
    """A score as ZRANGEBYSCORE reads it: ``-inf`` as is, a number in full (repr round-trips a float)."""
    return score if isinstance(score, str) else repr(score)


def _send(conn: Any, *args: Any) -> None:
    """One command, packed by hiredis when it is there: redis-py's own packer looks at each argument in Python."""
    conn.send_packed_command([hiredis.pack_command(args)] if hiredis else conn.pack_command(*args))


def _without(tickets: list[str], sent: set[str]) -> list[str]:
    """``tickets`` less those in ``sent``: usually one or two, found by the list's own search."""
    if not sent:
        return tickets
    if len(sent) > _TAIL:
        return [ticket for ticket in tickets if ticket not in sent]
    fresh = list(tickets)
    for ticket in sent:
        if ticket in fresh:
            fresh.remove(ticket)
    return fresh


def _point(entry_id: str, values: dict[str, str]) -> HistoryPoint | None:
    """A stream entry as a point; an entry some other writer left incomplete is skipped."""
    try:
        return HistoryPoint(int(entry_id.split("-")[0]), *(float(values[name]) for name in HISTORY_FIELDS))
    except (KeyError, ValueError):
        return None
