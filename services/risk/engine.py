"""Risk rules evaluated on every poll; nothing on the streamer thread ever waits for Redis.

The streamer hands each snapshot to ``AlertEngine.evaluate`` on its own thread, so alerts fire with no
browser open; a change of state becomes one alert (the rules themselves: ``services/risk/evaluate.py``).

- **The archive** (``DATA_DIR``, ``services/storage/archive``) is the record: every save of the rules from the page
  or ``PUT /rules`` and every reset (a tombstone), each rule's state, every alert and its acknowledgement.
  An account's rules and state are read from it once, at its first evaluation, then kept in memory; alerts
  and state changes go to the archive writer's buffers. A rule save or an acknowledgement is on disk
  before the user is told it is done.
- **Redis** is the copy that pages and other processes read: the history stream, the state hash, the
  acknowledgements, each rule's live reading, the newest saved rules, and the ``alert`` event on the
  account's channel (it reaches ``/ws``). The ``alerts-redis`` worker writes them, and retries while Redis
  is down or refuses writes. A wiped Redis is written again from the archive and memory; it is never
  read as "no rules saved".
- **Another process** may save an account's rules (a dashboard, for the collector that evaluates them):
  the worker reads Redis's copy every ``RULES_RECHECK_MS``, and the newest saved time wins, a reset
  included (``SavedRules`` in ``services/risk/records.py``).
- **Without an archive** (a dashboard mirroring collectors) everything stays in Redis as before: the
  worker reads an account's rules and state before its first evaluation, and rule saves and
  acknowledgements are written to Redis by the request itself.

The webhook gets each alert at once from its own thread (``services/risk/wiring.py``). The Redis keys
(``AlertKeys``; ``<prefix>`` is REDIS_PREFIX):

- ``<prefix>:<login>:alerts``        stream, alert history, the last ``HISTORY_CAP`` alerts
- ``<prefix>:<login>:alerts:state``  hash, rule id -> JSON (state, since, last value, peak, initial, day start)
- ``<prefix>:<login>:alerts:acks``   hash, alert id -> UTC ms of the acknowledgement
- ``<prefix>:<login>:alerts:rules``  string, the newest save or reset (JSON: saved_ms, origin, ruleset)
- ``<prefix>:<login>:alerts:live``   string, each rule's latest reading (JSON, expiring), for other processes
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from services.core.backoff import Backoff
from services.core.models import HistoryPoint, Snapshot
from services.core.protocol import ALERT, dumps, event
from services.core.units import DAY_MS, MINUTE_MS
from services.core.worker import Worker
from services.risk.evaluate import Measure, RuleState, alert_message, day_bounds, measure, next_state, status_row
from services.risk.mirror import MIRROR_INTERVAL_S, Context, RedisMirror, Stored
from services.risk.records import HISTORY_CAP, Outbox, RedisAlerts, SavedRules, newest
from services.risk.rules import Rule, RuleSet
from services.storage.archive import AlertRow, ArchiveWriter, Batch
from services.storage.redis_conn import REDIS_ERRORS
from services.storage.store import Store

log = logging.getLogger(__name__)

SAVE_VALUE_EVERY_MS = 5_000
HALF_DAY_MS = DAY_MS // 2
LATE_START_MS = MINUTE_MS
RECENT_CAP = 50
LIVE_SAVE_EVERY_MS = 1_000
FIRST_LOAD_WAIT_MS = 10_000  # an account the archive has never seen waits this long for Redis's copy
SAVE_TIMEOUT_S = 5.0


def _with_reset_in(status: dict[str, Any], now_ms: int) -> dict[str, Any]:
    for row in status["rules"]:
        if isinstance(row, dict) and isinstance(row.get("reset_at_ms"), int | float):
            row["reset_in_s"] = max(0.0, (row["reset_at_ms"] - now_ms) / 1000)
    return status


class AlertEngine(RedisMirror):
    """Evaluates the rules, records what happens (archive, then Redis), and answers the API's questions."""

    def __init__(
        self,
        store: Store,
        default_rules: RuleSet,
        *,
        archive: ArchiveWriter | None = None,
        notify: Callable[[dict[str, Any]], None] | None = None,
        clock: Callable[[], float] = time.time,
        save_timeout_s: float = SAVE_TIMEOUT_S,
    ) -> None:
        self.store = store
        self.redis = RedisAlerts(store)
        self.archive = archive
        self.default_rules = default_rules
        self.save_timeout_s = save_timeout_s
        self.outbox = Outbox()
        self._notify = notify
        self._clock = clock
        self._lock = threading.Lock()
        self._context: Context | None = None
        self._recent: deque[dict[str, Any]] = deque(maxlen=RECENT_CAP)
        self._wanted: set[int] = set()  # accounts whose Redis copy a first evaluation waits for
        self._copies: dict[int, Stored] = {}  # ... as the worker read it
        self._first_try: dict[int, int] = {}
        self._day_asks: set[tuple[int, int]] = set()  # (login, day start) whose opening Redis's history may know
        self._day_found: dict[tuple[int, int], HistoryPoint | None] = {}
        self._unreadable: str | None = None
        self._archive_failing = False
        self._backoff = Backoff(base_s=0.5, cap_s=5.0)
        self._failures = 0
        self.error: str | None = None
        self.last_write_ms: int | None = None
        self.worker = Worker(
            "alerts-redis", self._mirror_step, interval_s=MIRROR_INTERVAL_S, on_error=self._fault, on_stop=self._last
        )

    @property
    def login(self) -> int | None:
        """The account evaluated here, once its rules and state are known."""
        ctx = self._context
        return None if ctx is None else ctx.login

    def start(self) -> None:
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop()

    # -- the streamer listener ---------------------------------------------------------------------------
    def evaluate(self, snapshot: Snapshot, changed: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Measure every rule; returns the alerts raised.

        A streamer listener: it reads the archive once per account and otherwise only appends in memory
        (the archive writer's buffers, the Redis outbox, the webhook's queue).
        """
        ctx = self._load(snapshot.account.login)
        if ctx is None:
            return []
        now = snapshot.ts
        with self._lock:
            rules = ctx.rules
        fired: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        for rule in rules.rules:
            st = ctx.states.get(rule.id)
            if st is None or st.kind != rule.kind:
                st = ctx.states[rule.id] = RuleState(rule.kind, since_ms=now)
                ctx.dirty.add(rule.id)
            if rule.id not in ctx.peaked and rule.trails_peak:
                self._history_peak(ctx, rule.id, st)
            if not rule.enabled:
                rows.append(status_row(rule, st, None, None))
                continue
            remembered = (st.peak, st.initial, st.day_start_ms, st.day_balance, st.day_equity)
            reset_at = self._roll_day(ctx, rule, st, snapshot) if rule.kind == "daily_loss" else None
            m = measure(rule, snapshot, st)
            state = next_state(st.state, m, below=rule.below, strict=rule.kind == "exposure")
            if state != st.state:
                fired.append(self._alert(ctx.login, rule, st.state, state, m, now))
                st.state, st.since_ms = state, now
                ctx.dirty.add(rule.id)
            if (st.peak, st.initial, st.day_start_ms, st.day_balance, st.day_equity) != remembered:
                ctx.dirty.add(rule.id)
            st.value = m.value
            rows.append(status_row(rule, st, m, reset_at))
        with self._lock:
            ctx.rows = rows
            self._recent.extend(fired)
        self._hand_off(ctx, fired, now)
        if self._notify is not None:
            for alert in fired:
                self._notify(event(ALERT, ctx.login, alert["ts"], alert))
        return fired

    def _alert(self, login: int, rule: Rule, previous: str, state: str, m: Measure, now: int) -> dict[str, Any]:
        return {
            "id": f"{now}-{rule.id}",
            "account": login,
            "rule": rule.id,
            "name": rule.title,
            "kind": rule.kind,
            "state": state,
            "previous": previous,
            "value": m.value,
            "limit": m.limit,
            "warn": m.warn,
            "unit": m.unit,
            "ts": now,
            "message": alert_message(rule, previous, state, m),
        }

    def _roll_day(self, ctx: Context, rule: Rule, st: RuleState, snapshot: Snapshot) -> int:
        """Start a new trading day at the reset; returns when the next one is (UTC ms).

        The day opens with the account as polled at the reset. If the engine was not running then, the last
        point recorded before the reset stands in for it: the archive's at once, else Redis's once the
        worker has read it.
        """
        start, end = day_bounds(snapshot.ts, rule.reset_time, rule.zone(snapshot.zone))
        if st.day_start_ms is not None and abs(start - st.day_start_ms) < HALF_DAY_MS:
            self._late_opening(ctx, rule.id, st)
            return end  # same day (a re-measured server offset may move the reset by an hour)
        balance, equity = snapshot.account.balance, snapshot.account.equity
        if snapshot.ts - start > LATE_START_MS:
            before = self._archived_point(ctx.login, start)
            if before is not None:
                balance, equity = before.balance, before.equity
            else:
                ctx.day_asked[rule.id] = start
                with self._lock:
                    self._day_asks.add((ctx.login, start))
                self.worker.wake()
        st.day_start_ms, st.day_balance, st.day_equity = start, balance, equity
        return end

    def _history_peak(self, ctx: Context, rule_id: str, st: RuleState) -> None:
        """A drawdown rule starts from the highest equity the archive recorded, not from the equity when the rule was
        saved (or when its state was first kept): once per rule and process."""
        ctx.peaked.add(rule_id)
        if self.archive is None:
            return
        try:
            peak = self.archive.archive.equity_peak(ctx.login)
        except SQLAlchemyError:
            return
        if peak is not None and (st.peak is None or peak > st.peak):
            st.peak = peak
            ctx.dirty.add(rule_id)

    def _archived_point(self, login: int, t_ms: int) -> HistoryPoint | None:
        if self.archive is None:
            return None
        try:
            return self.archive.archive.point_at(login, t_ms)
        except SQLAlchemyError:
            return None

    def _late_opening(self, ctx: Context, rule_id: str, st: RuleState) -> None:
        start = ctx.day_asked.get(rule_id)
        if start is None:
            return
        with self._lock:
            if (ctx.login, start) not in self._day_found:
                return
            point = self._day_found[(ctx.login, start)]
        del ctx.day_asked[rule_id]
        if point is not None and st.day_start_ms == start:
            st.day_balance, st.day_equity = point.balance, point.equity

    def _hand_off(self, ctx: Context, fired: list[dict[str, Any]], now: int) -> None:
        """Alerts and changed state to the archive writer and the Redis outbox: appends in memory only.

        A rule's state goes when it changes; a value that merely moved, at most every 5 s.
        """
        due = [rule_id for rule_id in ctx.states if rule_id in ctx.dirty or self._value_due(ctx, rule_id, now)]
        states = {rule_id: ctx.states[rule_id].to_json() for rule_id in due}
        ctx.dirty.difference_update(due)
        ctx.handed.update({rule_id: (now, ctx.states[rule_id].value) for rule_id in due})
        live = None
        with self._lock:
            ctx.state_json.update(states)
            if now - ctx.live_saved_ms >= LIVE_SAVE_EVERY_MS:
                ctx.live_saved_ms = now
                live = dumps({"account": ctx.login, "name": ctx.rules.name, "source": ctx.rules.source,
                              "rules": ctx.rows})  # fmt: skip
        if self.archive is not None:
            if fired:
                self.archive.submit_alerts(ctx.login, fired)
            if states:
                self.archive.submit_rule_states(ctx.login, states)
        if fired or states or live is not None:
            self.outbox.add(ctx.login, alerts=fired, states=states, live=live)
            self.worker.wake()

    @staticmethod
    def _value_due(ctx: Context, rule_id: str, now: int) -> bool:
        handed_at, handed_value = ctx.handed.get(rule_id, (0, None))
        return ctx.states[rule_id].value != handed_value and now - handed_at >= SAVE_VALUE_EVERY_MS

    # -- an account's rules and state, read once ----------------------------------------------------------
    def _load(self, login: int) -> Context | None:
        ctx = self._context
        if ctx is not None and ctx.login == login:
            return ctx
        stored = self._stored(login)
        if stored is None:
            return None
        saved, raw_states = stored
        states: dict[str, RuleState] = {}
        for rule_id, text in raw_states.items():
            try:
                states[rule_id] = RuleState.from_json(text)
            except (ValueError, TypeError) as exc:
                log.warning("alerts: ignoring unreadable state of rule %r (%s)", rule_id, exc)
        ctx = Context(login, saved, self._in_force(saved), states, state_json=dict(raw_states))
        ctx.handed = {rule_id: (0, st.value) for rule_id, st in states.items()}
        with self._lock:
            self._context = ctx
            self._first_try.pop(login, None)
        log.info("alerts: %d rule(s) from %s for account %d", len(ctx.rules.rules), ctx.rules.source, login)
        return ctx

    def _stored(self, login: int) -> Stored | None:
        """The archive's record of the account; for an account it has never seen (or without an archive),
        Redis's copy as the worker read it. None while neither is known: evaluation waits.

        An archive that knows nothing waits ``FIRST_LOAD_WAIT_MS`` at most for Redis (rules saved before
        the archive kept them); one that cannot be read (not opened yet) is waited for as long before Redis's
        copy is trusted alone.
        """
        now = self._now_ms()
        patient = now - self._first_try.setdefault(login, now) < FIRST_LOAD_WAIT_MS
        archived = self._read_archive(login, quiet=patient)
        if archived is not None and (archived[0] is not None or archived[1]):
            return archived
        if self.archive is not None and archived is None and patient:
            self._want(login)
            return None
        with self._lock:
            copy = self._copies.pop(login, None)
        if copy is not None:
            if self.archive is not None:  # from now on the archive has it
                if copy[0] is not None:
                    self.archive.submit_rules(copy[0].to_row(login))
                self.archive.submit_rule_states(login, copy[1])
            return copy
        self._want(login)
        if archived is not None and not patient:
            log.warning("alerts: Redis did not answer; account %d starts with no saved rules or state", login)
            return archived
        return None

    def _read_archive(self, login: int, *, quiet: bool) -> Stored | None:
        if self.archive is None:
            return None
        try:
            row = self.archive.archive.saved_rules(login)
            found = (None if row is None else SavedRules.from_row(row)), self.archive.archive.rule_states(login)
        except (SQLAlchemyError, ValueError) as exc:
            if not quiet and not self._archive_failing:  # once, until it reads again
                log.error("alerts: the archive cannot be read (%s); Redis's copy is used", type(exc).__name__)
            self._archive_failing = self._archive_failing or not quiet
            return None
        self._archive_failing = False
        return found

    def _want(self, login: int) -> None:
        with self._lock:
            self._wanted.add(login)
        self.worker.wake()

    # -- what the API and the page read and change ---------------------------------------------------------
    def rules(self, login: int | None) -> RuleSet:
        """The rules in force for ``login``: saved from the page or ``PUT /rules``, else the file's or the defaults."""
        ctx = self._context
        if ctx is not None and ctx.login == login:
            with self._lock:
                return ctx.rules
        return self.default_rules if login is None else self._in_force(self._saved(login))

    def _saved(self, login: int) -> SavedRules | None:
        """The newest save of an account evaluated elsewhere: the archive's or Redis's.

        Raises the Redis errors when no archive can answer instead.
        """
        archived = self._read_archive(login, quiet=False)
        try:
            raw = self.redis.saved_rules(login) if archived is None or self.store.gate.ready() else None
        except REDIS_ERRORS:
            if archived is None:
                raise
            raw = None
        return newest(archived[0] if archived is not None else None, self._parse_saved(raw, login))

    def set_rules(self, login: int, ruleset: RuleSet, origin: str = "page") -> RuleSet:
        """Save rules edited on the page (``origin`` page) or sent with ``PUT /rules`` (api); they win over the
        file until ``reset_rules``. On disk before this returns (raises ArchiveUnavailable otherwise)."""
        saved = SavedRules(replace(ruleset, source=origin), origin, self._next_saved_ms(login))
        self._save(login, saved)
        return saved.in_force(self.default_rules)

    def reset_rules(self, login: int) -> RuleSet:
        """Back to the file's rules (or the defaults), recorded as a save of its own so no older copy returns."""
        self._save(login, SavedRules(None, "reset", self._next_saved_ms(login)))
        return self.default_rules

    def _save(self, login: int, saved: SavedRules) -> None:
        if self.archive is not None:
            row = saved.to_row(login)
            self.archive.call(lambda archive: archive.write(Batch(rules=[row])), self.save_timeout_s)
            self.outbox.add(login, rules=saved)
            self.worker.wake()
        else:
            self.redis.set_rules(login, saved)
        self._swap(login, saved)

    def _next_saved_ms(self, login: int) -> int:
        """Now, or just after the save in force: two saves within a millisecond are still ordered."""
        ctx = self._context
        if ctx is not None and ctx.login == login:
            current = ctx.saved
        else:
            try:
                current = self._saved(login)
            except REDIS_ERRORS:
                current = None
        return self._now_ms() if current is None else max(self._now_ms(), current.saved_ms + 1)

    def live_status(self, login: int | None = None) -> dict[str, Any]:
        """Each rule's latest reading for the panel, with the time left until its daily reset.

        ``login`` of an account evaluated in another process (a collector): its reading from Redis.
        """
        now_ms = self._now_ms()
        ctx = self._context
        if login is not None and (ctx is None or ctx.login != login):
            return self._stored_live(login, now_ms)
        if ctx is None:
            return {"account": None, "rules": []}
        with self._lock:
            rows = [dict(row) for row in ctx.rows]
            ruleset = ctx.rules
        return _with_reset_in({"account": ctx.login, "name": ruleset.name, "source": ruleset.source, "rules": rows},
                              now_ms)  # fmt: skip

    def _stored_live(self, login: int, now_ms: int) -> dict[str, Any]:
        raw = self.redis.live(login)
        try:
            stored = None if raw is None else json.loads(raw)
        except ValueError:
            stored = None
        if not isinstance(stored, dict) or not isinstance(stored.get("rules"), list):
            return {"account": login, "rules": []}
        return _with_reset_in(stored, now_ms)

    def recent(self, after_ms: int, login: int | None = None) -> list[dict[str, Any]]:
        """Alerts raised after ``after_ms`` for ``login`` (default: the evaluated account), from memory, oldest first.

        A page can miss a frame (Dash drops the result of a callback superseded while running);
        it catches up from here with its own cursor instead. Another process's account has none here.
        """
        if login is None:
            ctx = self._context
            login = ctx.login if ctx is not None else None
        with self._lock:
            return [alert for alert in self._recent if alert["ts"] > after_ms and alert["account"] == login]

    def history(
        self,
        login: int,
        *,
        state: str | None = None,
        rule: str | None = None,
        since_ms: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Alerts newest first, each with ``acked_ms`` (None until acknowledged): Redis's, the archive's and
        those still waiting for Redis, merged, so a wiped Redis loses none. Raises the Redis errors only when no
        archive can answer instead."""

        def wanted(alert: dict[str, Any]) -> bool:
            return not (
                (state and alert.get("state") != state)
                or (rule and alert.get("rule") != rule)
                or (since_ms is not None and alert.get("ts", 0) < since_ms)
            )

        archived: list[dict[str, Any]] | None = None
        if self.archive is not None:
            try:
                archived = self.archive.archive.alerts(login, state=state, rule=rule, since_ms=since_ms, limit=limit)
            except SQLAlchemyError:
                archived = None
        try:  # while Redis is known to fail, the archive answers alone
            from_redis = self.redis.history(login) if archived is None or self.store.gate.ready() else []
            stored = [alert for alert in from_redis if wanted(alert)]
        except REDIS_ERRORS:
            if archived is None:
                raise
            stored = []
        memory = [{**alert, "acked_ms": None} for alert in self.outbox.waiting_alerts(login) if wanted(alert)]
        merged: dict[str, dict[str, Any]] = {}
        for alert in [*(archived or []), *stored, *memory]:
            kept = merged.setdefault(alert["id"], dict(alert))
            acks = [ms for ms in (kept.get("acked_ms"), alert.get("acked_ms")) if ms is not None]
            kept["acked_ms"] = min(acks) if acks else None
        return sorted(merged.values(), key=lambda alert: alert.get("ts", 0), reverse=True)[:limit]

    def ack(self, login: int, alert_id: str) -> dict[str, Any] | None:
        """Mark one alert as seen; acknowledging again keeps the first time. None when there is no such alert.

        With an archive the acknowledgement is on disk before this returns (ArchiveUnavailable otherwise).
        """
        alert = next((a for a in self.history(login, limit=HISTORY_CAP) if a["id"] == alert_id), None)
        if alert is None and self.archive is not None:
            alert = self.archive.archive.alert(login, alert_id)
        if alert is None or alert["acked_ms"] is not None:
            return alert
        ms = self._now_ms()
        if self.archive is not None:
            row = AlertRow(login, {k: v for k, v in alert.items() if k != "acked_ms"})
            self.archive.call(lambda a: a.write(Batch(alerts=[row], acks=[(login, alert_id, ms)])), self.save_timeout_s)
            self.outbox.add(login, acks={alert_id: ms})
            self.worker.wake()
        else:
            self.redis.ack(login, alert_id, ms)
        alert["acked_ms"] = ms
        return alert
