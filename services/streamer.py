"""The streamer thread: the only caller of the account source.

It polls, publishes what changed, keeps the latest state in memory for the REST
API, heartbeats, reports status changes, and reconnects with backoff. A failing
Redis never stops the polling: history points and deals wait in bounded buffers
and are written when Redis returns.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any, Protocol

from redis.exceptions import ResponseError

from services.backoff import Backoff
from services.leader import LeaderLock
from services.models import Account, Deal, HistoryPoint, Order, Position, Snapshot
from services.redis_conn import REDIS_ERRORS, refusal
from services.sources.base import AccountSource, SourceAuthError, SourceDisconnected, SourceError, SourceUnreachable
from services.store import Store, event

log = logging.getLogger(__name__)

COMMANDS = ("connect", "disconnect", "reconnect")
BACKFILL_CHUNK = 5_000
NEWS_GRACE_MS = 60_000


class Recorder(Protocol):
    """The archive (services/archive): takes each poll's news in memory and writes it on its own thread."""

    def record(self, snapshot: Snapshot, point: HistoryPoint | None, changed: list[str], deals: list[Deal]) -> None: ...


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
        self._run = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._leader = leader
        self._follow_only = follow_only
        self._lock_checked = -math.inf
        self._is_leader = False
        self._commands: deque[tuple[str, Future[dict[str, Any]]]] = deque()
        self._status = StreamerStatus(login=login_hint, poll_interval_ms=round(poll_interval_s * 1000))
        self._snapshot: Snapshot | None = None
        self._connected = False
        self._wanted = True
        self._next_attempt = 0.0
        self._last_heartbeat = 0.0
        self._last_ts = 0
        self._pending_history: deque[HistoryPoint] = deque(maxlen=buffer_points)
        self._pending_deals: deque[Deal] = deque(maxlen=buffer_points)
        self._snapshot_dirty = False
        self._backfill: list[HistoryPoint] = []
        self._backfill_done = False
        self._stored_tz: dict[int, str | None] = {}  # login -> the clock its stored deals were made with
        # Deals before this are the account's past read at start: announced by the history_sync status, not one by one.
        self._news_since_ms = int(clock() * 1000) - NEWS_GRACE_MS
        self._listeners: list[Callable[[Snapshot, list[str]], None]] = []
        self._archive = archive

    def add_listener(self, listener: Callable[[Snapshot, list[str]], None]) -> None:
        """Called on the streamer thread after every poll with the snapshot and the kinds that changed.

        For server-side consumers (risk rules) that must run with no browser open; a listener
        that raises is reported and never stops the stream.
        """
        self._listeners.append(listener)

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._run.set()
        self._thread = threading.Thread(target=self._loop, name="mt5-streamer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop polling, flush what Redis can still take, and close the source session."""
        if self._thread is None:
            return
        self._run.clear()
        self._wake.set()
        self._thread.join(timeout)
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- what other threads read -----------------------------------------------------------------------
    def latest(self) -> Snapshot | None:
        with self._lock:
            return self._snapshot

    def status(self) -> StreamerStatus:
        with self._lock:
            return self._status

    def request(self, command: str) -> Future[dict[str, Any]]:
        """Ask the streamer thread to connect, disconnect or reconnect; resolves with the new status."""
        if command not in COMMANDS:
            raise ValueError(f"unknown command {command!r}; expected one of {', '.join(COMMANDS)}")
        future: Future[dict[str, Any]] = Future()
        with self._lock:
            self._commands.append((command, future))
        self._wake.set()
        return future

    # -- the loop --------------------------------------------------------------------------------------
    def _loop(self) -> None:
        while self._run.is_set():
            started = self._clock()
            try:
                self.step()
            except Exception as exc:  # noqa: BLE001 - the stream must outlive any single fault
                self._on_error(exc)
            remaining = self.poll_interval_s - (self._clock() - started)
            self._wake.wait(max(0.0, remaining))
            self._wake.clear()
        self._shutdown()

    def step(self) -> None:
        """One iteration: commands, (re)connect, poll, flush buffers, heartbeat. Public for tests."""
        if self._follow_only or (self._leader is not None and not self._leading()):
            self._follow()
            return
        self._handle_commands()
        now = self._clock()
        if self._wanted and not self._connected and now >= self._next_attempt:
            self._connect()
        if self._connected:
            self._poll()
        self._flush()
        if now - self._last_heartbeat >= self.heartbeat_s:
            self._last_heartbeat = now
            self._emit("heartbeat", self.status().to_dict())

    def _leading(self) -> bool:
        """Renew (or try to take) the leader lock a few times per lock lifetime."""
        now = self._clock()
        if now - self._lock_checked < self._leader.ttl_ms / 3000:
            return self._is_leader
        self._lock_checked = now
        was, leading = self._is_leader, self._leader.acquire_or_renew()
        self._is_leader = leading
        if leading and not was:
            log.info("leading: this process polls MT5 (%s)", self._leader.identity)
            self._set_status(role="leader")
        elif was and not leading:
            log.warning("leadership lost: another process polls MT5 now")
            self._drop_session("leadership lost")
        return leading

    def _follow(self) -> None:
        """Another process polls MT5: mirror its snapshot from Redis so every route here still answers."""
        with self._lock:
            commands, self._commands = list(self._commands), deque()
        login = self.status().login or next(iter(self._store_accounts()), None)
        try:
            raw = None if login is None else self.store.snapshot(login)
        except REDIS_ERRORS as exc:
            self._set_status(role="follower", redis="down", redis_error=type(exc).__name__)
            raw = None
        if raw is not None:
            leader = {k: v for k, v in (raw.get("status") or {}).items() if k in StreamerStatus.__slots__}
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
            self._backfill = self.source.backfill()
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
            changed.append(("account", account.to_dict()))
            self._pending_history.append(point)
        if previous is None or previous.positions != positions:
            changed.append(("positions", [p.to_dict() for p in positions]))
        if previous is None or previous.orders != orders:
            changed.append(("orders", [o.to_dict() for o in orders]))
        self._pending_deals.extend(deals)
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
        if changed:
            self._snapshot_dirty = True
            for kind, data in changed:
                self._emit(kind, data, point_ts)
        if self._archive is not None:  # appends in memory only: a slow disk never delays the poll
            self._archive.record(snapshot, point, [kind for kind, _ in changed], self._stamped(deals))
        kinds = [kind for kind, _ in changed] + (["deals"] if deals else [])
        for listener in self._listeners:
            try:
                listener(snapshot, kinds)
            except Exception as exc:  # noqa: BLE001 - a consumer's fault must not stop the stream
                self._on_error(exc)

    def _monotonic_ts(self, now_ms: int) -> int:
        """History stream ids must never go backwards, even if the wall clock does."""
        self._last_ts = max(now_ms, self._last_ts)
        return self._last_ts

    def _flush(self) -> None:
        """Write the snapshot, buffered history and new deals; keep them buffered while Redis is down."""
        snapshot = self.latest()
        if snapshot is None or self._redis_waiting():
            return
        login = snapshot.account.login
        try:
            if self._snapshot_dirty:
                self.store.save_snapshot(replace(snapshot, status=self.status().to_dict()))
                self._snapshot_dirty = False
            self.store.save_status(login, self.status().to_dict())
            if self._backfill:
                self._write_backfill(login)
            if self._pending_history:
                points = list(self._pending_history)
                self.store.append_history(login, points)
                for _ in points:
                    self._pending_history.popleft()
            self._sync_zone(login)
            if self._pending_deals:
                fresh = self.store.add_deals(login, self._stamped(list(self._pending_deals)))
                self._pending_deals.clear()
                news = [d for d in fresh if d.time_utc_ms >= self._news_since_ms]
                if news:
                    self._emit("deals", [d.to_dict() for d in news])
        except REDIS_ERRORS as exc:
            self._redis_failed(exc)
            return
        except ResponseError as exc:
            self._redis_refused(exc)
            return
        self.store.gate.succeeded()
        if self.status().redis != "up":
            if self.status().redis == "down":
                log.info("Redis is reachable again; buffered history written, streaming resumed")
                self._snapshot_dirty = True
            elif self.status().redis == "refusing":
                log.info("Redis accepts writes again; buffered history and deals written")
            self._set_status(redis="up", redis_error=None)
        self._set_status(pending_history=len(self._pending_history))

    def _sync_zone(self, login: int) -> None:
        """The stored deals follow the source's broker clock: the one a previous run kept is offered
        to the source first; when the source's clock differs from the stored one, every stored deal
        gets its UTC time again from its server time."""
        if login not in self._stored_tz:
            stored = self.store.broker_tz(login)
            self._stored_tz[login] = stored
            if stored:
                self.source.remember_zone(stored)
        zone = self.source.zone
        if self._stored_tz[login] != zone.spec:
            moved = self.store.restamp_deals(login, zone)
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

    def _write_backfill(self, login: int) -> None:
        """The source's past history goes in only before any point of this login was stored."""
        if self.store.first_history_ts(login) is None:
            for start in range(0, len(self._backfill), BACKFILL_CHUNK):
                self.store.append_history(login, self._backfill[start : start + BACKFILL_CHUNK])
            log.info("wrote %d points of history from before the first poll", len(self._backfill))
        self._backfill = []
        self._backfill_done = True

    def _emit(self, kind: str, data: Any, ts_ms: int | None = None) -> None:
        """Publish one event; an account event carries its history point's time so pages can dedupe."""
        login = self.status().login
        if login is None or self._redis_waiting():
            return
        try:
            ts = int(self._clock() * 1000) if ts_ms is None else ts_ms
            self.store.publish(login, event(kind, login, ts, data))
        except REDIS_ERRORS as exc:
            self._redis_failed(exc)
        except ResponseError as exc:
            self._redis_refused(exc)

    def _redis_waiting(self) -> bool:
        """While Redis is down, it is tried again only after the shared gate's backoff."""
        return self.status().redis == "down" and not self.store.gate.ready()

    def _redis_failed(self, exc: BaseException) -> None:
        self.store.gate.failed()
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
        self._snapshot_dirty = True
        log.debug("MT5 session closed: %s", reason)

    def _set_status(self, **changes: Any) -> None:
        with self._lock:
            before = self._status
            self._status = replace(before, **changes)
            after = self._status
        watched = ("mt5", "redis", "mt5_error", "history_sync", "broker_tz")
        if any(getattr(before, name) != getattr(after, name) for name in watched):
            self._emit("status", after.to_dict())

    def _shutdown(self) -> None:
        self._set_status(mt5="stopped")
        try:
            self._flush()
            login = self.status().login
            if login is not None and self.status().redis == "up":
                self.store.flush_rollup(login)
        except Exception as exc:  # noqa: BLE001 - shutting down; report and go on
            self._on_error(exc)
        self.source.disconnect()
        self._connected = False
        if self._leader is not None:
            self._leader.release()
