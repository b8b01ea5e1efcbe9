"""Wires the source, Redis, the streamer and the fan-out, and reports their health.

Built by the app factory; nothing here starts a thread until ``start()``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.core import VERSION
from services.core.brokertime import BrokerZone, fixed
from services.core.models import Snapshot
from services.core.protocol import ACCOUNTS, SNAPSHOT, Event, Message, event
from services.core.settings import Settings
from services.core.worker import DEGRADING, Worker
from services.fleet.overview import AccountLine, Overview
from services.ingest.collectors import AccountSpec
from services.ingest.leader import LeaderLock
from services.ingest.monitor import AccountsMonitor, is_stale
from services.ingest.sources.base import AccountSource
from services.ingest.streamer import Streamer
from services.ingest.supervisor import Supervisor
from services.live.fanout import Fanout
from services.storage.archive import FILE_NAME, Archive, ArchiveWriter
from services.storage.redis_conn import REDIS_ERRORS, RedisLink, connect_redis
from services.storage.store import Store

log = logging.getLogger(__name__)

STOP_BOUND_S = 10  # a stop takes a second or two: a second caller waits this at most; gunicorn's graceful_timeout


def build_source(settings: Settings) -> AccountSource:
    """The real terminal, the mt5linux bridge, or the demo account, as the settings ask."""
    kind = settings.resolved_source()
    if kind == "demo":
        from services.ingest.sources.demo import DemoSource

        log.warning(
            "MT5 source: built-in demo account (simulated data, seed %d); set MT5_SOURCE=mt5 for a terminal",
            settings.demo_seed,
        )
        if settings.mt5_login is not None:
            return DemoSource(seed=settings.demo_seed, login=settings.mt5_login, currency=settings.demo_currency)
        return DemoSource(seed=settings.demo_seed, currency=settings.demo_currency)
    from services.ingest.sources.mt5 import MT5Source, load_mt5_module

    module = load_mt5_module(kind, settings.mt5linux_host, settings.mt5linux_port)
    log.info("MT5 source: %s, login %s, server %s", kind, settings.mt5_login, settings.mt5_server)
    return MT5Source(
        module,
        kind=kind,
        login=settings.mt5_login,
        password=settings.mt5_password,
        server=settings.mt5_server,
        path=settings.mt5_path,
        timeout_ms=settings.mt5_timeout_ms,
        broker_tz=settings.broker_tz,
    )


def build_archive(settings: Settings) -> Archive | None:
    """``DATABASE_URL`` when set, else ``archive.sqlite`` in DATA_DIR; None for settings built in code with neither."""
    if settings.database_url:
        return Archive(settings.database_url.reveal())
    return None if settings.data_dir is None else Archive(settings.data_dir / FILE_NAME)


class UnreadableSnapshot(ValueError):
    """A snapshot in Redis that does not read back as one (another program's key, a torn write)."""


class Companion(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...

    def workers(self) -> list[Worker]: ...


@dataclass
class Runtime:
    settings: Settings
    source: AccountSource
    redis: RedisLink
    store: Store = field(init=False)
    streamer: Streamer = field(init=False)
    fanout: Fanout = field(init=False)
    monitor: AccountsMonitor = field(init=False)
    overview: Overview = field(init=False)
    started_at: float = field(default_factory=time.time)
    companions: list[Companion] = field(default_factory=list)
    accounts: tuple[AccountSpec, ...] = ()  # from ACCOUNTS_FILE; empty with one account from the environment
    supervisor: Supervisor | None = None
    archive: ArchiveWriter | None = field(init=False, default=None)
    reports: dict[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)  # more /health sections
    _stop_claimed: bool = field(init=False, default=False)
    _stop_claim: threading.Lock = field(init=False, default_factory=threading.Lock)
    _stopped: threading.Event = field(init=False, default_factory=threading.Event)
    _stopper: threading.Thread | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.store = Store(self.redis.client, self.settings.redis_prefix, self.settings.history_max_points)
        # Only the process that polls an account archives it; a dashboard mirroring collectors owns no data.
        archive = None if self.source.info.kind == "collector" else build_archive(self.settings)
        if archive is not None:
            self.archive = ArchiveWriter(archive)
        login = self.settings.mt5_login or self.source.info.details.get("login")
        shared = self.redis.mode == "real"  # an embedded Redis lives in this process: nobody to share with
        self.streamer = Streamer(
            self.source,
            self.store,
            poll_interval_s=self.settings.poll_interval_ms / 1000,
            heartbeat_s=self.settings.heartbeat_s,
            login_hint=self.settings.mt5_login,
            leader=LeaderLock(self.redis.client, self.store.keys.leader(login or "default"), gate=self.store.gate)
            if shared
            else None,
            follow_only=self.source.info.kind == "collector",
            archive=self.archive,
        )
        self.fanout = Fanout(
            self.redis.client,
            self.store.keys.events_pattern(),
            login_of_channel=self.store.keys.login_of_events,
            max_clients=self.settings.ws_max_connections,
            queue_size=self.settings.ws_queue_size,
        )
        self.monitor = AccountsMonitor(
            self.store,
            default_interval_ms=self.settings.poll_interval_ms,
            configured=lambda: [spec.login for spec in self.accounts],
            notify=self._accounts_changed,
        )
        self.overview = Overview(self.store)

    def _accounts_changed(self, rows: list[dict[str, Any]]) -> None:
        """Straight to this process's pages: a collector's silence cannot travel through Redis."""
        self.fanout.broadcast(Message.of_event(event(ACCOUNTS, None, int(time.time() * 1000), {"accounts": rows})))

    def add_companion(self, companion: Companion) -> None:
        """A worker (the alert webhook, say) started and stopped with the runtime."""
        self.companions.append(companion)

    def workers(self) -> list[Worker]:
        """Every long-lived thread of this process, each reported in ``/health`` under ``threads``."""
        found = [*self.streamer.workers(), self.fanout.worker, self.monitor.worker]
        if self.archive is not None:
            found.append(self.archive.worker)
        for companion in self.companions:
            found.extend(companion.workers())
        return found

    def add_health(self, name: str, report: Callable[[], dict[str, Any]]) -> None:
        """A ``/health`` section of a companion (the alert engine); its ``state`` degraded degrades the whole."""
        self.reports[name] = report

    def start(self, with_fanout: bool = True) -> None:
        """``with_fanout`` False for a collector: it has no WebSocket clients to serve."""
        self.started_at = time.time()
        if self.archive is not None:
            self.archive.start()
        if with_fanout:
            self.fanout.start()
            self.monitor.start()
        self.streamer.start()
        for companion in self.companions:
            companion.start()

    def stop(self) -> None:
        """Close the sockets first (close frames), then stop polling and flush.

        Each flush gets a bounded time: a stop must end within two seconds or so even while a start-up
        backlog is being written (the archive's transactions are atomic: an unfinished one leaves nothing).
        Once only: a later call (the exit hook after a signal's stop) waits for the first to end.
        """
        with self._stop_claim:
            first, self._stop_claimed = not self._stop_claimed, True
        if not first:
            self._stopped.wait(STOP_BOUND_S)
            return
        started = time.monotonic()
        try:
            self._stop()
        finally:
            self._stopped.set()
        log.info("stopped in %.2f s", time.monotonic() - started)

    def stop_in_background(self) -> threading.Thread:
        """Begin the stop on a thread of its own, for a signal handler, which must not block. The thread is not a
        daemon: the interpreter's exit waits for it, so the flush is complete whatever the server does meanwhile."""
        if self._stopper is None:
            self._stopper = threading.Thread(target=self.stop, name="runtime-stop")
            self._stopper.start()
        return self._stopper

    def _stop(self) -> None:
        self.fanout.stop()
        self.monitor.stop()
        for companion in self.companions:
            companion.stop()
        self.streamer.stop(timeout=1.5)
        if self.archive is not None:  # after the streamer: its last polls are written too
            self.archive.stop(timeout=1.0)
        self.redis.client.close()
        if self.redis.probe is not None:
            self.redis.probe.close()

    @property
    def archive_reader(self) -> Archive | None:
        """The archive for reads, when this process keeps one."""
        return None if self.archive is None else self.archive.archive

    def login(self) -> int | None:
        return self.streamer.status().login

    def knows(self, login: int) -> bool:
        """An account this dashboard can show: its own, one of ACCOUNTS_FILE, or any collector's on this Redis."""
        configured = any(spec.login == login for spec in self.accounts)
        return login == self.login() or configured or self.store.has_account(login)

    def latest_snapshot(self, login: int | None = None) -> Snapshot | None:
        """The newest state of an account: the streamer's own in memory, another account's from Redis.

        Raises UnreadableSnapshot when the stored snapshot cannot be read back.
        """
        if login is None or login == self.login():
            return self.streamer.latest()
        cached = self.store.snapshot(login)
        if cached is None:
            return None
        try:
            return Snapshot.from_dict(cached)
        except (KeyError, TypeError, ValueError) as exc:
            raise UnreadableSnapshot(f"the stored snapshot of account {login} cannot be read ({exc})") from None

    def server_offset_s(self, login: int | None = None) -> int:
        """The broker's offset now (a mirror of a remote collector has no source of its own)."""
        return self.broker_zone(login).offset_s_at(int(time.time() * 1000))

    def broker_zone(self, login: int | None = None) -> BrokerZone:
        """The broker's clock as of the latest snapshot; a remote collector's comes from its stored snapshot."""
        if login is not None and login != self.login():
            try:
                cached = self.store.snapshot(login) or {}
            except REDIS_ERRORS:
                cached = {}
            try:
                return Snapshot.zone_of(cached)
            except (TypeError, ValueError):
                return fixed(0)
        latest = self.streamer.latest()
        return latest.zone if latest is not None else self.source.zone

    def snapshot_event(self, login: int | None = None) -> Event | None:
        """What a new WebSocket client gets first: the streamer's state, else the one kept in Redis.

        ``login`` picks another account on the same Redis (a page per account); its state comes from Redis.
        """
        now_ms = int(time.time() * 1000)
        if login is not None and login != self.login():
            try:
                cached = self.store.snapshot(login)
            except REDIS_ERRORS:
                return None
            return None if cached is None else event(SNAPSHOT, login, now_ms, cached)
        latest = self.streamer.latest()
        if latest is not None:
            data = latest.to_dict()
            data["status"] = self.streamer.status().to_dict()
            return event(SNAPSHOT, latest.account.login, now_ms, data)
        login = self.login()
        if login is None:
            return None
        try:
            cached = self.store.snapshot(login)
        except REDIS_ERRORS:
            return None
        return None if cached is None else event(SNAPSHOT, login, now_ms, cached)

    def health(self) -> dict[str, Any]:
        now = time.time()
        status = self.streamer.status()
        latency = self.redis.ping_ms()
        poll_age = None if status.last_poll_ms is None else round(now - status.last_poll_ms / 1000, 3)
        fresh = not is_stale(status.last_poll_ms, self.settings.poll_interval_ms, int(now * 1000))
        mt5_ok = status.mt5 == "connected" and fresh
        writer = self.streamer.writer_health()
        # Answering is not enough: it must take writes, and the thread that writes must be alive.
        redis_ok = latency is not None and status.redis != "refusing" and (writer["alive"] or not self.streamer.running)
        collectors = self.collectors_health()
        configured = {spec.login for spec in self.accounts}
        collectors_ok = not any(row["stale"] for row in collectors if row["login"] in configured)
        archive = None if self.archive is None else self.archive.health()
        archive_ok = archive is None or archive["state"] == "ok"
        sections = {name: report() for name, report in self.reports.items()}
        sections_ok = all(section.get("state") != "degraded" for section in sections.values())
        # A thread failing at its work (or dead) degrades the whole, and so does a listener failing at every poll.
        threads = {worker.name: worker.health() for worker in self.workers()}
        listener_errors = self.streamer.listener_errors()
        threads_ok = not listener_errors and all(thread["state"] not in DEGRADING for thread in threads.values())
        if not self.streamer.running:
            overall = "down"
        elif mt5_ok and redis_ok and collectors_ok and archive_ok and sections_ok and threads_ok:
            overall = "ok"
        else:
            overall = "degraded"
        info = self.source.info
        return {
            "status": overall,
            "version": VERSION,
            "uptime_s": round(now - self.started_at, 3),
            "mt5": {
                "source": info.kind,
                "demo": info.kind == "demo",
                "description": info.description,
                "state": status.mt5,
                "role": status.role,
                "worker_pid": os.getpid(),
                "login": status.login,
                "error": status.mt5_error,
                "error_code": status.mt5_error_code,
                "last_poll_age_s": poll_age,
                "server_offset_s": self.server_offset_s(),
                "broker_clock": info.details.get("broker_clock") or {"zone": self.broker_zone().spec},
                "history_sync": status.history_sync,
                "listener_errors": listener_errors,
            },
            "redis": {
                "mode": self.redis.mode,
                "embedded": self.redis.mode == "embedded",
                "configured": self.redis.configured,
                "url": self.redis.url,
                "persistence": self.redis.persistence,
                "up": redis_ok,
                "latency_ms": latency,
                "streamer_writes": status.redis,
                "error": status.redis_error,
                "pending_history": status.pending_history,
                "writer": writer,
            },
            "websocket": {
                "clients": self.fanout.client_count(),
                "max_clients": self.fanout.max_clients,
                "refused": self.fanout.refused,
                "dropped": self.fanout.dropped_total(),
                "subscribed": bool(self.fanout.redis_up),
            },
            "accounts": collectors,
            "archive": archive,
            "threads": threads,
            **sections,
        }

    def account_names(self) -> dict[int, str]:
        return {spec.login: spec.name for spec in self.accounts}

    def collector_processes(self) -> dict[int, dict[str, Any]]:
        """The collector processes this dashboard supervises, by login."""
        if self.supervisor is None:
            return {}
        processes = self.supervisor.status()
        return {spec.login: processes[spec.name] for spec in self.accounts if spec.name in processes}

    def collectors_health(self) -> list[dict[str, Any]]:
        """Every account on this Redis as the monitor last saw it, with its supervised process if any."""
        names, processes = self.account_names(), self.collector_processes()
        try:
            current = self.monitor.current()
        except REDIS_ERRORS:
            return []
        return [
            {**health.to_dict(), "name": names.get(login), "collector": processes.get(login)}
            for login, health in sorted(current.items())
        ]

    def account_lines(self) -> list[AccountLine]:
        """Every account side by side (the overview page, ``GET /accounts``). Raises the Redis errors."""
        return self.overview.lines(
            self.monitor.current(), names=self.account_names(), collectors=self.collector_processes()
        )


def build_runtime(settings: Settings, source: AccountSource | None = None, redis: RedisLink | None = None) -> Runtime:
    """Raises SourceError when the configured MT5 package or bridge cannot be loaded."""
    return Runtime(settings, source or build_source(settings), redis or connect_redis(settings))
