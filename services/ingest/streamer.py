"""The streamer thread: the only caller of the account source.

It polls, keeps the latest state in memory for the REST API, hands each poll's news
to the archive and to the risk rules, reports status changes, and reconnects with
backoff. It never waits on Redis: what goes to Redis (snapshot, history, deals,
events) waits in bounded buffers that the ``redis-writer`` worker drains, so a
slow, frozen, full or wiped Redis costs the polling nothing. When Redis comes
back empty (a restart without persistence, a flush) the writer restores the
account's deals from the archive and has the source read its history again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any, Protocol

from redis.exceptions import ResponseError

from services.core.backoff import Backoff
from services.core.models import Account, Deal, HistoryPoint, Order, Position, Snapshot
from services.core.protocol import ACCOUNT, DEALS, HEARTBEAT, ORDERS, POSITIONS, STATUS, event
from services.core.worker import Streak, Worker
from services.ingest.leader import LeaderLock
from services.ingest.sources.base import (
    AccountSource,
    SourceAuthError,
    SourceDisconnected,
    SourceError,
    SourceUnreachable,
)
from services.storage.archive import Archive
from services.storage.redis_conn import REDIS_ERRORS, refusal
from services.storage.store import Store

log = logging.getLogger(__name__)

COMMANDS = ("connect", "disconnect", "reconnect")
BACKFILL_CHUNK = 5_000
BACKFILL_STEP = 500  # points of the source's past per Redis transaction: a stop waits for one at most
NEWS_GRACE_MS = 60_000
EVENTS_CAP = 10_000  # events waiting for Redis; a page that misses some resyncs from the snapshot
FAULT_CAP_S = 5.0  # the longest pause of polling after a fault of this program (not of the link: see Backoff)


class Recorder(Protocol):
    """The archive (services/storage/archive): takes each poll's news in memory and writes it on its own thread."""

    def record(self, snapshot: Snapshot, point: HistoryPoint | None, changed: list[str], deals: list[Deal]) -> None: ...

    def restamp(self, login: int, spec: str) -> None: ...

    @property
    def opened(self) -> bool: ...

    def submit_points(self, login: int, points: list[HistoryPoint]) -> None: ...

    @property
    def archive(self) -> Archive: ...


class _Buffer:
    """A bounded FIFO shared by the streamer (appends) and the writer (takes, puts back on failure)."""

    def __init__(self, maxlen: int) -> None:
        self._items: deque[Any] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def extend(self, items: Any) -> None:
        with self._lock:
            self._items.extend(items)

    def take(self) -> list[Any]:
        with self._lock:
            items = list(self._items)
            self._items.clear()
            return items

    def put_back(self, items: list[Any]) -> None:
        """In front of what arrived meanwhile; past ``maxlen`` the oldest go."""
        with self._lock:
            newer = list(self._items)
            self._items.clear()
            self._items.extend(items)
            self._items.extend(newer)

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True, slots=True)
class StreamerStatus:
    """What ``/health``, ``/connection-status`` and ``status`` events report."""

    mt5: str = "starting"  # starting | connected | reconnecting | disconnected | stopped
    mt5_error: str | None = None
    mt5_error_code: int | None = None
    redis: str = "unknown"  # up | down | refusing (answers, will not write) | unknown
    redis_error: str | None = None
    login: int | None = None
    last_poll_ms: int | None = None
    last_change_ms: int | None = None
    next_retry_ms: int | None = None
    failures: int = 0
    polls: int = 0
    pending_history: int = 0
    role: str = "single"  # single | leader | follower (several workers share one MT5 caller)
    poll_interval_ms: int | None = None  # so a dashboard elsewhere knows when this collector is late
    history_sync: dict[str, Any] | None = None  # deals read of total while the source's past is read
    broker_tz: str | None = None  # the broker clock's rule (BrokerZone.spec)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


class Streamer:
    def __init__(
        self,
        source: AccountSource,
        store: Store,
        *,
        poll_interval_s: float = 0.25,
        heartbeat_s: float = 5.0,
        login_hint: int | None = None,
        backoff: Backoff | None = None,
        auth_backoff: Backoff | None = None,
        unreachable_backoff: Backoff | None = None,
        buffer_points: int = 100_000,
        clock: Callable[[], float] = time.time,
        on_error: Callable[[BaseException], None] | None = None,
        leader: LeaderLock | None = None,
        follow_only: bool = False,
        archive: Recorder | None = None,
    ) -> None:
        self.source = source
        self.store = store
        self.poll_interval_s = poll_interval_s
        self.heartbeat_s = heartbeat_s
        self._backoff = backoff or Backoff(base_s=1.0, cap_s=30.0)
        self._auth_backoff = auth_backoff or Backoff(base_s=10.0, cap_s=300.0)
        # A refused connection (bridge not up) is cheap to try again: back within seconds of its return.
        self._unreachable_backoff = unreachable_backoff or Backoff(base_s=0.5, cap_s=2.0)
        self._clock = clock
        self._on_error = on_error or (lambda exc: log.error("streamer error: %s", exc, exc_info=exc))
        self._lock = threading.Lock()
        self._leader = leader
        self._follow_only = follow_only
        self._is_leader = False  # set by the leader-lock worker, acted on by the streamer thread
        self._was_leader = False
        self._leader_worker: Worker | None = None  # a mirror never polls: it must never hold the account's lock
        if leader is not None and not follow_only:
            check_s = leader.check_interval_s(poll_interval_s)  # after a fault too: a longer pause lets the lock expire
            self._leader_worker = Worker("leader-lock", self._renew_lock, interval_s=check_s, on_error=self._on_error,
                                         backoff=Backoff(base_s=check_s, cap_s=check_s))  # fmt: skip
        self._commands: deque[tuple[str, Future[dict[str, Any]]]] = deque()
        self._status = StreamerStatus(login=login_hint, poll_interval_ms=round(poll_interval_s * 1000))
        self._snapshot: Snapshot | None = None
        self._connected = False
        self._wanted = True
        self._next_attempt = 0.0
        self._last_heartbeat = 0.0
        self._last_ts = 0
        self._pending_history = _Buffer(buffer_points)
        self._pending_deals = _Buffer(buffer_points)
        self._events = _Buffer(EVENTS_CAP)
        self._snapshot_version = 0  # bumped by the streamer at each change, written by the writer
        self._snapshot_saved = 0
        self._backfill: list[HistoryPoint] = []
        self._backfill_done = False
        self._backfill_archived: list[HistoryPoint] = []  # the source's past, waiting for the archive to open
        self._stored_tz: dict[int, str | None] = {}  # login -> the clock its stored deals were made with
        self._zone_hint: str | None = None  # a stored clock for the source, handed over on the streamer thread
        self._reread = threading.Event()  # Redis lost the deals: the source reads its history again
        self._claimed: set[int] = set()  # logins whose Redis keys this process has checked for a wipe
        self.restores = 0
        self._writer = Worker("redis-writer", self.write_once, interval_s=1.0, on_error=self._on_error,
                              on_stop=self._final_write)  # fmt: skip
        # A fault of this program in a poll: polling goes on after a backoff, the fault logged once.
        self._poller = Worker(
            "mt5-streamer",
            self._poll_step,
            interval_s=poll_interval_s,
            on_error=self._on_error,
            on_stop=self._shutdown,
            backoff=Backoff(base_s=poll_interval_s, cap_s=FAULT_CAP_S),
        )
        self._listener_faults: list[Streak] = []
        # Deals before this are the account's past read at start: announced by the history_sync status, not one by one.
        self._news_since_ms = int(clock() * 1000) - NEWS_GRACE_MS
        self._listeners: list[Callable[[Snapshot, list[str]], None]] = []
        self._archive = archive

    def add_listener(self, listener: Callable[[Snapshot, list[str]], None]) -> None:
        """Called on the streamer thread after every poll with the snapshot and the kinds that changed.

        For server-side consumers (risk rules) that must run with no browser open; a listener
        that raises never stops the stream, and a fault repeated at every poll is reported once.
        """
        self._listeners.append(listener)
        name = getattr(listener, "__qualname__", repr(listener))
        self._listener_faults.append(Streak(f"streamer listener {name}", self._on_error))

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._poller.started:
            return
        if self._leader_worker is not None:
            self._leader_worker.run_once()  # who polls is known before the first poll
            self._leader_worker.start()
        self._writer.start()
        self._poller.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop polling and close the source session, write what Redis can still take, then release the lock.

        The lock is renewed no more (its worker could take it back once released), but it is held through the
        last write: released earlier, the next leader's writes could interleave with it.
        """
        if not self._poller.started:
            return
        deadline = time.monotonic() + timeout
        if self._leader_worker is not None:
            self._leader_worker.stop(timeout / 4)
        self._poller.stop(max(0.1, deadline - time.monotonic()) / 2)
        self._writer.stop(max(0.5, deadline - time.monotonic()))
        if self._leader is not None:
            self._leader.release()

    def writer_health(self) -> dict[str, Any]:
        """The ``redis-writer`` worker: alive, steps, what waits for Redis, restores after a wipe."""
        return {
            **self._writer.health(),
            "pending_history": len(self._pending_history),
            "pending_deals": len(self._pending_deals),
            "pending_events": len(self._events),
            "restores": self.restores,
        }

    def workers(self) -> list[Worker]:
        """Its threads, for ``/health``: the poller, the Redis writer, the leader-lock worker if any."""
        return [self._poller, self._writer, *([self._leader_worker] if self._leader_worker is not None else [])]

    def listener_errors(self) -> list[str]:
        """Why the listeners failing at their latest poll failed; they are called again at every poll."""
        return [streak.error for streak in self._listener_faults if streak.error is not None]

    @property
    def running(self) -> bool:
        return self._poller.running

    # -- what other threads read -----------------------------------------------------------------------
    def latest(self) -> Snapshot | None:
        with self._lock:
            return self._snapshot

    def status(self) -> StreamerStatus:
        with self._lock:
            return self._status

    def owned_login(self) -> int | None:
        """The account this process polls, whose alerts it sends; None while another process polls it (or before
        the first poll names the account)."""
        if self._follow_only or (self._leader is not None and not self._is_leader):
            return None
        return self.status().login

    def request(self, command: str) -> Future[dict[str, Any]]:
        """Ask the streamer thread to connect, disconnect or reconnect; resolves with the new status."""
        if command not in COMMANDS:
            raise ValueError(f"unknown command {command!r}; expected one of {', '.join(COMMANDS)}")
        future: Future[dict[str, Any]] = Future()
        with self._lock:
            self._commands.append((command, future))
        self._poller.wake()
        return future

    # -- the loop --------------------------------------------------------------------------------------
    def _poll_step(self) -> float:
        """The ``mt5-streamer`` worker's step: one poll, then the writer is woken; returns the wait until the next."""
        started = self._clock()
        try:
            self.poll_once()
        finally:
            self._writer.wake()
        return self.poll_interval_s - (self._clock() - started)

    def step(self) -> None:
        """The lock check, one poll and its Redis write, in the caller's thread: what tests drive instead of threads."""
        if self._leader_worker is not None:
            self._leader_worker.run_once()
        self.poll_once()
        self._writer.run_once()

    def poll_once(self) -> None:
        """Commands, (re)connect, poll, heartbeat: the streamer thread's work, with no Redis I/O when leading."""
        if self._follow_only or (self._leader is not None and not self._leading()):
            self._follow()
            return
        self._handle_commands()
        hint = self._zone_hint
        if hint:
            self.source.remember_zone(hint)
            self._zone_hint = None  # only now may the writer compare the stored clock with the source's
        if self._reread.is_set():
            self._reread.clear()
            self.source.reread_history()
        now = self._clock()
        if self._wanted and not self._connected and now >= self._next_attempt:
            self._connect()
        if self._connected:
            self._poll()
        if now - self._last_heartbeat >= self.heartbeat_s:
            self._last_heartbeat = now
            self._emit(HEARTBEAT, self.status().to_dict())

    def _renew_lock(self) -> None:
        """The leader-lock worker's step: a frozen Redis costs this thread its timeouts, never the polling.

        A process that takes the lock over polls at once, not at the end of the poll interval under way.
        """
        leading = self._leader.acquire_or_renew()
        gained = leading and not self._is_leader
        self._is_leader = leading
        if gained and self._poller.started:
            self._poller.wake()

    def _leading(self) -> bool:
        """Whether this process polls, as the leader-lock worker last found; a change is acted on here."""
        was, leading = self._was_leader, self._is_leader
        self._was_leader = leading
        if leading and not was:
            log.info("leading: this process polls MT5 (%s)", self._leader.identity)
            self._set_status(role="leader")
        elif was and not leading:
            log.warning("leadership lost: another process polls MT5 now")
            self._drop_session("leadership lost")
            for buffer in (self._pending_history, self._pending_deals, self._events):
                buffer.take()  # the new leader writes the account from its own polls
        return leading

    def _follow(self) -> None:
        """Another process polls MT5: mirror its snapshot from Redis so every route here still answers."""
        with self._lock:
            commands, self._commands = list(self._commands), deque()
        login = self.status().login or next(iter(self._store_accounts()), None)
        try:
            raw = None if login is None else self.store.snapshot(login)
            # The snapshot is saved when the account changes, the status at every poll: a quiet account's
            # snapshot is old, and its status tells when the leader last polled.
            polled = None if raw is None else self.store.statuses([login]).get(login)
        except REDIS_ERRORS as exc:
            self._set_status(role="follower", redis="down", redis_error=type(exc).__name__)
            raw = polled = None
        if raw is not None:
            status = polled or raw.get("status") or {}
            leader = {k: v for k, v in status.items() if k in StreamerStatus.__slots__}
            with self._lock:
                self._snapshot = Snapshot.from_dict(raw)
                self._status = replace(self._status, **{**leader, "role": "follower", "redis": "up"})
        for _, future in commands:
            future.set_result({**self.status().to_dict(), "error": "this worker is not the leader; retry"})

    def _store_accounts(self) -> list[int]:
        try:
            return self.store.accounts()
        except REDIS_ERRORS:
            return []

    def _handle_commands(self) -> None:
        while True:
            with self._lock:
                if not self._commands:
                    return
                command, future = self._commands.popleft()
            if command in ("disconnect", "reconnect"):
                self._wanted = command == "reconnect"
                self._drop_session("disconnected by request" if command == "disconnect" else "reconnect requested")
                self._set_status(mt5="disconnected" if command == "disconnect" else "reconnecting", failures=0)
            if command in ("connect", "reconnect"):
                self._wanted = True
                self._connect()
            future.set_result(self.status().to_dict())

    def _connect(self) -> None:
        try:
            self.source.connect()
        except SourceError as exc:
            self._link_failed(exc)
            return
        self._connected = True
        if not self._backfill_done:
            backfill = self.source.backfill()
            with self._lock:
                self._backfill = backfill
        log.info("MT5 source connected: %s", self.source.info.description)
        self._set_status(mt5="connected", mt5_error=None, mt5_error_code=None, failures=0, next_retry_ms=None)

    def _poll(self) -> None:
        try:
            terminal = self.source.terminal()
            if not terminal.connected:
                raise SourceDisconnected(-10004, "terminal has no connection to the trade server", "terminal_info")
            account = self.source.account()
            positions = tuple(self.source.positions())
            orders = tuple(self.source.orders())
            deals = self.source.new_deals()
        except SourceDisconnected as exc:
            self._link_failed(exc)
            return
        except SourceError as exc:
            self._set_status(mt5_error=str(exc), mt5_error_code=exc.code)
            log.warning("MT5 call failed, will retry at the next poll: %s", exc)
            return
        self._publish_changes(account, positions, orders, deals)

    def _publish_changes(
        self, account: Account, positions: tuple[Position, ...], orders: tuple[Order, ...], deals: list[Deal]
    ) -> None:
        now_ms = int(self._clock() * 1000)
        previous = self.latest()
        changed: list[tuple[str, Any]] = []
        point_ts, point = now_ms, None
        if previous is None or previous.account != account:
            point_ts = self._monotonic_ts(now_ms)
            point = HistoryPoint.of(account, point_ts)
            changed.append((ACCOUNT, account.to_dict()))
            self._pending_history.extend([point])
        if previous is None or previous.positions != positions:
            changed.append((POSITIONS, [p.to_dict() for p in positions]))
        if previous is None or previous.orders != orders:
            changed.append((ORDERS, [o.to_dict() for o in orders]))
        zone = self.source.zone
        snapshot = Snapshot(account, positions, orders, now_ms, zone.offset_s_at(now_ms), broker_tz=zone.spec)
        sync, before = self.source.history_sync, self.status()
        if (sync, zone.spec) != (before.history_sync, before.broker_tz):
            self._set_status(history_sync=sync, broker_tz=zone.spec)
        with self._lock:
            self._snapshot = snapshot
            self._status = replace(
                self._status,
                login=account.login,
                last_poll_ms=now_ms,
                last_change_ms=now_ms if changed else self._status.last_change_ms,
                polls=self._status.polls + 1,
                pending_history=len(self._pending_history),
                mt5_error=None,
                mt5_error_code=None,
            )
        self._pending_deals.extend(deals)
        if changed:
            self._snapshot_version += 1
            for kind, data in changed:
                self._emit(kind, data, point_ts)
        if self._archive is not None:  # appends in memory only: a slow disk never delays the poll
            self._archive.record(snapshot, point, [kind for kind, _ in changed], self._stamped(deals))
        kinds = [kind for kind, _ in changed] + ([DEALS] if deals else [])
        for listener, faults in zip(self._listeners, self._listener_faults, strict=True):
            try:
                listener(snapshot, kinds)
            except Exception as exc:  # noqa: BLE001 - a consumer's fault must not stop the stream
                faults.failed(exc)  # told once, not at every poll
            else:
                faults.succeeded()

    def _monotonic_ts(self, now_ms: int) -> int:
        """History stream ids must never go backwards, even if the wall clock does."""
        self._last_ts = max(now_ms, self._last_ts)
        return self._last_ts

    # -- the redis-writer worker: everything that goes to Redis ------------------------------------------
    def write_once(self) -> None:
        """Write the snapshot, buffered history and deals, then the events; all wait while Redis cannot take them."""
        snapshot = self.latest()
        if snapshot is None or self._follow_only:
            return  # a mirror's snapshot is the collector's, read from Redis
        if self._leader is not None and not self._leader.may_write():
            self._fenced()
            return
        if self._redis_waiting():
            self._dropped_events()
            return
        login = snapshot.account.login
        history: list[HistoryPoint] = []
        deals: list[Deal] = []
        try:
            if login not in self._claimed or self.store.wiped(login):
                self._claim(login)
            version = self._snapshot_version
            if version != self._snapshot_saved:
                self.store.save_snapshot(replace(snapshot, status=self.status().to_dict()))
                self._snapshot_saved = version
            self.store.save_status(login, self.status().to_dict())
            with self._lock:
                backfill, self._backfill = self._backfill, []
            if backfill:
                self._write_backfill(login, backfill)
            self._archive_backfill(login)
            history = self._pending_history.take()
            if history:
                self.store.append_history(login, history)
                history = []
            self._sync_zone(login)
            deals = self._pending_deals.take()
            if deals:
                fresh = self.store.add_deals(login, self._stamped(deals))
                deals = []
                news = [d for d in fresh if d.time_utc_ms >= self._news_since_ms]
                if news:
                    self._emit(DEALS, [d.to_dict() for d in news])
            self._publish_events()
        except REDIS_ERRORS as exc:
            self._put_back(history, deals)
            self._redis_failed(exc)
            return
        except ResponseError as exc:
            self._put_back(history, deals)
            self._redis_refused(exc)
            return
        self.store.gate.succeeded()
        if self.status().redis != "up":
            if self.status().redis == "down":
                log.info("Redis is reachable again; buffered history written, streaming resumed")
                self._snapshot_saved = -1
            elif self.status().redis == "refusing":
                log.info("Redis accepts writes again; buffered history and deals written")
            self._set_status(redis="up", redis_error=None)
            self._publish_events()
        self._set_status(pending_history=len(self._pending_history))

    def _put_back(self, history: list[HistoryPoint], deals: list[Deal]) -> None:
        if history:
            self._pending_history.put_back(history)
        if deals:
            self._pending_deals.put_back(deals)

    def _publish_events(self) -> None:
        """After the data they announce is written, so a page that reloads on an event finds it."""
        for message in self._events.take():
            self.store.publish(message["account"], message)

    def _fenced(self) -> None:
        """Not the confirmed holder of the lock: a follower, or a process that polls while Redis cannot say who
        leads (unreachable, or refusing writes with nobody holding the lock). Its buffers wait for the lock;
        its status says why, as its own writes would."""
        error = self._leader.error
        if self._is_leader and isinstance(error, ResponseError):
            self._redis_refused(error)
        elif self._is_leader and error is not None:
            self._redis_down(error)
        self._dropped_events()

    def _dropped_events(self) -> None:
        """Live events are not kept for a Redis that is down: pages resync from the snapshot when it returns."""
        self._events.take()

    def _claim(self, login: int) -> None:
        """First write of this login into this Redis, or Redis came back empty: restore what the archive has.

        The deals come back from the archive at once and from the source at its next poll (its whole
        history is read again); the history points stay in the archive, which charts read for any
        range Redis does not hold.
        """
        if self._archive is not None and not self._archive.opened:
            return  # opened by its own thread at start: the claim waits for it, the writes do not
        restored = 0 if self._archive is None else self._restore_deals(login)
        if login in self._claimed:
            log.warning("Redis lost account %d's data; %d deals restored from the archive, history re-read", login,
                        restored)  # fmt: skip
            self._reread.set()
            self._stored_tz.pop(login, None)
            self._snapshot_saved = -1
            self.restores += 1
        self.store.claim(login)
        self._claimed.add(login)

    def _restore_deals(self, login: int) -> int:
        restored = 0
        for page in self._archive.archive.deal_pages(login, BACKFILL_CHUNK):
            restored += len(self.store.add_deals(login, page))
        return restored

    def _final_write(self) -> None:
        """At shutdown, after the last poll: what Redis can still take, with the unfinished rollup minute."""
        self.write_once()
        login = self.status().login
        if login is not None and self.status().redis == "up":
            self.store.flush_rollup(login)

    def _sync_zone(self, login: int) -> None:
        """The stored deals follow the source's broker clock: the one a previous run kept is offered
        to the source first; when the source's clock differs from the stored one, every stored deal
        (in Redis and in the archive) gets its UTC time again from its server time."""
        if login not in self._stored_tz:
            stored = self.store.broker_tz(login)
            self._stored_tz[login] = stored
            if stored:
                self._zone_hint = stored
                self._poller.wake()
        if self._zone_hint is not None:
            return  # the source weighs the stored clock on its own thread first
        zone = self.source.zone
        if self._stored_tz[login] != zone.spec:
            moved = self.store.restamp_deals(login, zone)
            if self._archive is not None:
                self._archive.restamp(login, zone.spec)
            if self._stored_tz[login] is not None:
                log.info("broker clock %s -> %s: %d stored deals re-timed", self._stored_tz[login], zone.spec, moved)
            self._stored_tz[login] = zone.spec

    def _stamped(self, deals: list[Deal]) -> list[Deal]:
        """Deals read before the clock was settled carry the UTC time of the clock they were read with."""
        zone = self.source.zone
        return [
            deal if deal.time_utc_ms == (utc := zone.to_utc_ms(deal.time_msc)) else replace(deal, time_utc_ms=utc)
            for deal in deals
        ]

    def _archive_backfill(self, login: int) -> None:
        """Once the archive is open: the part of the source's past older than anything it recorded (all of it
        on a first start; none after a restart, so a second simulated past is never laid over the first)."""
        if not self._backfill_archived or self._archive is None or not self._archive.opened:
            return
        backfill, self._backfill_archived = self._backfill_archived, []
        first = self._archive.archive.first_ts(login)
        self._archive.submit_points(login, [p for p in backfill if first is None or p.ts < first])

    def _write_backfill(self, login: int, backfill: list[HistoryPoint]) -> None:
        """The source's past history goes in only before any point of this login was stored."""
        self._backfill_archived = backfill
        if self.store.first_history_ts(login) is None:
            for start in range(0, len(backfill), BACKFILL_STEP):
                if self._writer.stopping:  # a stop right after the start must not wait for the whole past
                    break
                self.store.append_history(login, backfill[start : start + BACKFILL_STEP])
            log.info("wrote %d points of history from before the first poll", len(backfill))
        self._backfill_done = True

    def _emit(self, kind: str, data: Any, ts_ms: int | None = None) -> None:
        """Queue one event for the writer; an account event carries its history point's time so pages can dedupe."""
        login = self.status().login
        if login is None:
            return
        ts = int(self._clock() * 1000) if ts_ms is None else ts_ms
        self._events.extend([event(kind, login, ts, data)])

    def _redis_waiting(self) -> bool:
        """While Redis is down, it is tried again only after the shared gate's backoff."""
        return self.status().redis == "down" and not self.store.gate.ready()

    def _redis_failed(self, exc: BaseException) -> None:
        self.store.gate.failed()
        self._redis_down(exc)

    def _redis_down(self, exc: BaseException) -> None:
        if self.status().redis != "down":
            log.error("Redis is unreachable (%s); polling goes on and history is buffered", type(exc).__name__)
        self._set_status(redis="down", redis_error=type(exc).__name__, pending_history=len(self._pending_history))

    def _redis_refused(self, exc: ResponseError) -> None:
        """The server answers but will not write: buffer as in an outage, and say why once, not at every poll.

        Any other error reply is a fault of this program and is raised.
        """
        reason = refusal(exc)
        if reason is None:
            raise exc
        if self.status().redis != "refusing":
            log.error("Redis refuses writes (%s); polling goes on and history and deals are buffered", reason)
        self._set_status(redis="refusing", redis_error=reason, pending_history=len(self._pending_history))

    def _link_failed(self, exc: SourceError) -> None:
        self._drop_session(str(exc))
        failures = self.status().failures + 1
        backoff = self._backoff_for(exc)
        delay = backoff.compute(failures)
        self._next_attempt = self._clock() + delay
        if failures == 1 or failures % 10 == 0:
            log.warning("MT5 link down (%s); retry %d in %.1f s", exc, failures, delay)
        self._set_status(
            mt5="reconnecting" if self._wanted else "disconnected",
            mt5_error=str(exc),
            mt5_error_code=exc.code,
            failures=failures,
            next_retry_ms=int(self._next_attempt * 1000),
        )

    def _backoff_for(self, exc: SourceError) -> Backoff:
        if isinstance(exc, SourceAuthError):
            return self._auth_backoff
        if isinstance(exc, SourceUnreachable):
            return self._unreachable_backoff
        return self._backoff

    def _drop_session(self, reason: str) -> None:
        """Rebuild from scratch after a link fault: MT5 needs shutdown() then initialize()."""
        self._connected = False
        self.source.disconnect()
        self._snapshot_version += 1
        log.debug("MT5 session closed: %s", reason)

    def _set_status(self, **changes: Any) -> None:
        with self._lock:
            before = self._status
            self._status = replace(before, **changes)
            after = self._status
        watched = ("mt5", "redis", "mt5_error", "history_sync", "broker_tz")
        if any(getattr(before, name) != getattr(after, name) for name in watched):
            self._emit(STATUS, after.to_dict())

    def _shutdown(self) -> None:
        """The last poll is over; the writer's ``on_stop`` writes what it left once the writer is stopped."""
        self._set_status(mt5="stopped")
        self.source.disconnect()
        self._connected = False
