"""The ``alerts-redis`` half of the alert engine: it copies what the engine records into Redis.

The streamer thread only appends to the engine's ``Outbox``; this worker writes it to Redis, reads
what a first evaluation waits for, and every ``RULES_RECHECK_MS`` looks at the other copies of the
rules (Redis, and the archive other processes share) so that the newest save wins. While Redis is
down or refuses writes it keeps everything waiting, retries with backoff, logs one line when writes
stop and one when they resume, and ``health()`` says degraded meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import ResponseError
from sqlalchemy.exc import SQLAlchemyError

from services.core.backoff import Backoff
from services.core.models import HistoryPoint
from services.core.worker import Worker
from services.risk.evaluate import RuleState, status_row
from services.risk.records import HISTORY_CAP, Outbox, RedisAlerts, SavedRules
from services.risk.rules import RuleSet
from services.storage.archive import ArchiveWriter
from services.storage.redis_conn import REDIS_ERRORS, refusal
from services.storage.store import Store

log = logging.getLogger("services.risk.engine")

RULES_RECHECK_MS = 2_000
MIRROR_INTERVAL_S = 0.5

Stored = tuple[SavedRules | None, dict[str, str]]  # an account's saved rules and rule state JSON by rule id


@dataclass
class Context:
    """The engine's view of the account it evaluates (the streamer thread's, but for the fields marked)."""

    login: int
    saved: SavedRules | None
    rules: RuleSet
    states: dict[str, RuleState]
    rows: list[dict[str, Any]] = field(default_factory=list)
    dirty: set[str] = field(default_factory=set)
    handed: dict[str, tuple[int, float | None]] = field(default_factory=dict)  # rule -> (when, value) handed off
    state_json: dict[str, str] = field(default_factory=dict)  # as last handed off: what a wiped Redis gets again
    day_asked: dict[str, int] = field(default_factory=dict)  # daily rule -> day start whose opening Redis may know
    peaked: set[str] = field(default_factory=set)  # rules whose peak was checked against the recorded history
    live_saved_ms: int = 0
    checked_ms: int = 0  # the worker's last look at the other copies of the rules
    acks_known: dict[str, int] | None = None  # the archive's acknowledgements (the worker's, read on first need)


class RedisMirror:
    """The worker half of ``AlertEngine`` (which sets these attributes); a mixin only to keep modules short."""

    store: Store
    redis: RedisAlerts
    archive: ArchiveWriter | None
    default_rules: RuleSet
    outbox: Outbox
    worker: Worker
    error: str | None
    last_write_ms: int | None
    _lock: threading.Lock
    _context: Context | None
    _wanted: set[int]
    _copies: dict[int, Stored]
    _day_asks: set[tuple[int, int]]
    _day_found: dict[tuple[int, int], HistoryPoint | None]
    _unreadable: str | None
    _backoff: Backoff
    _failures: int
    _clock: Callable[[], float]

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _in_force(self, saved: SavedRules | None) -> RuleSet:
        return self.default_rules if saved is None else saved.in_force(self.default_rules)

    def _swap(self, login: int, saved: SavedRules) -> bool:
        """Put ``saved`` in force if it is newer than the save in force; False when it is not."""
        with self._lock:
            ctx = self._context
            if ctx is None or ctx.login != login:
                return True
            if not saved.newer_than(ctx.saved):
                return False
            ctx.saved, ctx.rules = saved, self._in_force(saved)
            ctx.rows = [status_row(rule, ctx.states.get(rule.id), None, None) for rule in ctx.rules.rules]
        return True

    def _parse_saved(self, raw: str | None, login: int) -> SavedRules | None:
        if raw is None:
            return None
        try:
            return SavedRules.from_json(raw)
        except ValueError as exc:
            if raw != self._unreadable:  # read again every few seconds: reported once
                log.error("alerts: the rules in Redis for account %d are unreadable (%s); not used", login, exc)
            self._unreadable = raw
            return None

    # -- the alerts-redis worker --------------------------------------------------------------------------
    def _mirror_step(self) -> float | None:
        """Read what evaluation waits for, notice other copies of the rules, write what waits; retry on failure."""
        ctx = self._context
        due = ctx is not None and self._now_ms() - ctx.checked_ms >= RULES_RECHECK_MS
        if ctx is not None and due:
            self._recheck_archive(ctx)
        if not self.store.gate.ready():
            if ctx is not None and due:
                ctx.checked_ms = self._now_ms()
            return None
        try:
            self._read_wanted()
            restore = self._recheck_redis(ctx) if ctx is not None and due else []
            self._flush(ctx, restore)
        except REDIS_ERRORS as exc:
            self.store.gate.failed()
            return self._failed(refusal(exc) or f"unreachable, {type(exc).__name__}")
        except ResponseError as exc:
            reason = refusal(exc)
            if reason is None:
                raise
            return self._failed(reason)
        if self.error is not None:
            log.info("alerts: Redis takes writes again; alerts and rule state are written")
        self.error, self._failures = None, 0
        return None

    def _failed(self, reason: str) -> float:
        """One log line when Redis stops taking writes; ``/health`` says degraded until it takes them again."""
        if self.error is None:
            kept = "the archive has them" if self.archive is not None else "they wait in memory"
            log.error(
                "alerts: Redis cannot take writes (%s); %d item(s) wait for it, %s", reason, len(self.outbox), kept
            )
        self.error = reason
        self._failures += 1
        return self._backoff.compute(self._failures)

    def _fault(self, exc: BaseException) -> None:
        """A fault of this program: reported with its trace, and shown in ``/health`` until a step succeeds."""
        log.error("alerts-redis: %s", exc, exc_info=exc)
        self.error = f"{type(exc).__name__}: {exc}"[:300]

    def _last(self) -> None:
        """At shutdown: one last write of what waits, unless Redis is known to be failing."""
        if len(self.outbox) and self.store.gate.ready():
            self._mirror_step()
        if len(self.outbox):
            log.warning("alerts: %d item(s) not written to Redis at shutdown", len(self.outbox))

    def _read_wanted(self) -> None:
        with self._lock:
            wanted, asks = set(self._wanted), set(self._day_asks)
        for login in wanted:
            copy = (self._parse_saved(self.redis.saved_rules(login), login), self.redis.states(login))
            with self._lock:
                self._copies[login] = copy
                self._wanted.discard(login)
        for login, start in asks:
            point = self.redis.point_before(login, start)
            with self._lock:
                self._day_found[(login, start)] = point
                self._day_asks.discard((login, start))

    def _recheck_archive(self, ctx: Context) -> None:
        """A save by another process sharing the archive (a gunicorn worker) reaches the one that evaluates."""
        if self.archive is None:
            return
        try:
            row = self.archive.archive.saved_rules(ctx.login)
            theirs = None if row is None else SavedRules.from_row(row)
        except (SQLAlchemyError, ValueError):
            return
        if theirs is not None and theirs.newer_than(ctx.saved) and self._swap(ctx.login, theirs):
            self._adopted(ctx.login, theirs, "the archive")

    def _recheck_redis(self, ctx: Context) -> list[dict[str, Any]]:
        """The newest save wins; what a wiped Redis lacks is written again.

        Returns the alerts to write again into a wiped history (from the archive).
        """
        seen = self.redis.recheck(ctx.login)
        ctx.checked_ms = self._now_ms()
        theirs, ours = self._parse_saved(seen.rules, ctx.login), ctx.saved
        if theirs is not None and theirs.newer_than(ours) and self._swap(ctx.login, theirs):
            if self.archive is not None:
                self.archive.submit_rules(theirs.to_row(ctx.login))
            self._adopted(ctx.login, theirs, "Redis")
        elif ours is not None and (theirs is None or ours.newer_than(theirs)):
            if seen.rules is None:
                log.info("alerts: the rules of account %d were not in Redis; written again", ctx.login)
            self.outbox.add(ctx.login, rules=ours)
        if not seen.has_state:
            with self._lock:
                self.outbox.add(ctx.login, states=dict(ctx.state_json))
        if self.archive is None:
            return []
        try:
            self._adopt_acks(ctx, seen.acks)
            return [] if seen.has_history else self.archive.archive.alerts(ctx.login, limit=HISTORY_CAP)
        except SQLAlchemyError:
            return []

    def _adopted(self, login: int, saved: SavedRules, where: str) -> None:
        rules = self._in_force(saved)
        log.info("alerts: %d rule(s) from %s for account %d, saved later in %s", len(rules.rules), rules.source,
                 login, where)  # fmt: skip

    def _adopt_acks(self, ctx: Context, acks: dict[str, int]) -> None:
        """Acknowledgements made in another process (a dashboard) are archived here too."""
        assert self.archive is not None
        if ctx.acks_known is None:
            stored = self.archive.archive.alerts(ctx.login, limit=HISTORY_CAP)
            ctx.acks_known = {a["id"]: a["acked_ms"] for a in stored if a["acked_ms"] is not None}
        new = {alert_id: ms for alert_id, ms in acks.items() if alert_id not in ctx.acks_known}
        if new:
            self.archive.submit_acks(ctx.login, new)
            ctx.acks_known.update(new)

    def _flush(self, ctx: Context | None, restore: list[dict[str, Any]]) -> None:
        taken = self.outbox.take()
        if not len(taken) and not restore:
            return
        try:
            waiting = {alert["id"] for _, alert in taken.alerts}
            restore = [alert for alert in restore if alert["id"] not in waiting]  # the outbox writes those
            if ctx is not None and restore:
                self.redis.restore_history(ctx.login, restore)
                log.info("alerts: the alert history of account %d was not in Redis; %d alert(s) written again "
                            "from the archive", ctx.login, len(restore))  # fmt: skip
            self.redis.write(taken)
        except BaseException:
            self.outbox.restore(taken)
            raise
        self.last_write_ms = self._now_ms()
        self.redis.announce(taken)  # a failure here is not retried: the alerts are stored, pages catch up

    def health(self) -> dict[str, Any]:
        """Redis's copy of the alerts: ``degraded`` while Redis cannot take what waits (the archive has it)."""
        return {
            "state": "degraded" if self.error is not None else "ok",
            "pending": len(self.outbox),
            "dropped": self.outbox.dropped,
            "last_write_ms": self.last_write_ms,
            "error": self.error,
            "worker": self.worker.health(),
        }
