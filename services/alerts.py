"""Risk rules evaluated on every poll: ok / warning / breached with hysteresis, one alert per crossing.

The streamer hands each snapshot to ``AlertEngine.evaluate`` on its own thread, so alerts fire with no
browser open. A change of state becomes one alert: kept in Redis, published on the account's events
channel (it reaches ``/ws`` as ``{"type": "alert"}``), and queued for the webhook, whose thread does the
network I/O. Rule state survives a restart, so a breach that persists does not fire again.

Keys, next to the store's (``<prefix>`` is REDIS_PREFIX):

- ``<prefix>:<login>:alerts``        stream, alert history, the last ``HISTORY_CAP`` alerts
- ``<prefix>:<login>:alerts:state``  hash, rule id -> JSON (state, since, last value, peak, initial, day start)
- ``<prefix>:<login>:alerts:acks``   hash, alert id -> UTC ms of the acknowledgement
- ``<prefix>:<login>:alerts:rules``  string, rules saved from the page (JSON); absent: RULES_FILE or the defaults
- ``<prefix>:<login>:alerts:live``   string, each rule's latest reading (JSON, expiring), for other processes
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from datetime import time as clock_time
from typing import Any

from redis.exceptions import ResponseError

from services.models import Account, Position, Snapshot
from services.redis_conn import REDIS_ERRORS, refusal
from services.rules import Rule, RuleError, RuleSet, parse_rules
from services.store import Store, dumps, event

log = logging.getLogger(__name__)

OK, WARNING, BREACHED = "ok", "warning", "breached"
SEVERITY = {OK: 0, WARNING: 1, BREACHED: 2}
HISTORY_CAP = 1000
SAVE_VALUE_EVERY_MS = 5_000
HALF_DAY_MS = 12 * 3_600_000
LATE_START_MS = 60_000
PENDING_CAP = 1000
RECENT_CAP = 50
RULES_RECHECK_MS = 2_000
LIVE_SAVE_EVERY_MS = 1_000
LIVE_TTL_MS = 10_000  # a reading older than this belongs to a collector that stopped


@dataclass(frozen=True, slots=True)
class AlertKeys:
    prefix: str

    def history(self, login: int) -> str:
        return f"{self.prefix}:{login}:alerts"

    def state(self, login: int) -> str:
        return f"{self.prefix}:{login}:alerts:state"

    def acks(self, login: int) -> str:
        return f"{self.prefix}:{login}:alerts:acks"

    def rules(self, login: int) -> str:
        return f"{self.prefix}:{login}:alerts:rules"

    def live(self, login: int) -> str:
        return f"{self.prefix}:{login}:alerts:live"


@dataclass(slots=True)
class RuleState:
    """What a rule remembers between polls and across restarts."""

    kind: str
    state: str = OK
    since_ms: int = 0
    value: float | None = None
    peak: float | None = None
    initial: float | None = None
    day_start_ms: int | None = None
    day_balance: float | None = None
    day_equity: float | None = None

    def to_json(self) -> str:
        return dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RuleState:
        data = json.loads(text)
        if data.get("state") not in SEVERITY:
            raise ValueError(f"unknown state {data.get('state')!r}")
        return cls(**{name: data.get(name) for name in cls.__slots__ if name in data})


@dataclass(frozen=True, slots=True)
class Measure:
    """A rule's reading: ``value`` None means the rule does not apply right now (no margin in use)."""

    value: float | None
    limit: float = 0.0
    warn: float = 0.0
    hysteresis: float = 0.0
    unit: str = ""
    floor: float | None = None  # the equity at which the rule breaches, for equity-based rules
    detail: str = ""


def day_bounds(now_ms: int, reset: clock_time, zone: tzinfo) -> tuple[int, int]:
    """The trading day holding ``now_ms``, from one reset to the next, in UTC ms (DST-aware through ``zone``)."""
    local = datetime.fromtimestamp(now_ms / 1000, zone)
    start = datetime.combine(local.date(), reset, tzinfo=zone)
    if start > local:
        start = datetime.combine(local.date() - timedelta(days=1), reset, tzinfo=zone)
    end = datetime.combine(start.date() + timedelta(days=1), reset, tzinfo=zone)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def next_state(previous: str, measure: Measure, *, below: bool, strict: bool) -> str:
    """Enter a severity at its threshold; leave it only after recovering past the threshold by the hysteresis.

    ``below`` rules (margin level) worsen as the value falls; ``strict`` rules (exposure maxima) breach
    only beyond the limit, not at it.
    """
    if measure.value is None:
        return OK
    sign = -1.0 if below else 1.0
    bad = sign * measure.value

    def reached(threshold: float, held: bool, exclusive: bool) -> bool:
        edge = sign * threshold - (measure.hysteresis if held else 0.0)
        return bad > edge if exclusive else bad >= edge

    if reached(measure.limit, previous == BREACHED, strict):
        return BREACHED
    if reached(measure.warn, previous in (WARNING, BREACHED), False):
        return WARNING
    return OK


def measure(rule: Rule, snapshot: Snapshot, st: RuleState) -> Measure:
    """Read one rule off the snapshot; updates the state's peak and initial balance as it goes."""
    account = snapshot.account
    kind = rule.kind
    if kind in ("margin_level", "stop_out"):
        return _margin(rule, account)
    if kind == "exposure":
        return _exposure(rule, snapshot.positions)
    thresholds = rule.thresholds()
    if thresholds is None:
        raise ValueError(f"rule {rule.id!r} has no limit")  # parse_rules requires one for these kinds
    limit, warn, hysteresis = thresholds
    money = rule.unit == "money"
    unit = account.currency if money else "%"
    equity = account.equity
    if st.initial is None:
        st.initial = account.balance
    initial = rule.initial_balance or st.initial
    if kind == "profit_target":
        profit = (equity if rule.measure == "equity" else account.balance) - initial
        value = profit if money else _pct(profit, initial)
        return Measure(value, limit, warn, hysteresis, unit, detail=f"from {initial:,.2f} {account.currency}")
    if kind == "drawdown":
        st.peak = max(st.peak if st.peak is not None else equity, equity)
        reference, scale, detail = st.peak, st.peak, f"peak {st.peak:,.2f} {account.currency}"
    elif kind == "max_loss":
        if rule.mode == "trailing":
            st.peak = max(st.peak if st.peak is not None else initial, equity)
        reference = st.peak if rule.mode == "trailing" else initial
        scale, detail = initial, f"{rule.mode} from {reference:,.2f} {account.currency}"
    else:  # daily_loss; the engine has set the day's opening values
        opening = st.day_balance if st.day_balance is not None else account.balance
        if rule.basis == "max_balance_equity":
            opening = max(opening, st.day_equity if st.day_equity is not None else opening)
        reference, scale, detail = opening, opening, f"day opened at {opening:,.2f} {account.currency}"
    loss = reference - equity
    floor = reference - (limit if money else limit / 100 * scale)
    return Measure(loss if money else _pct(loss, scale), limit, warn, hysteresis, unit, floor, detail)


def _pct(amount: float, of: float) -> float:
    return amount / of * 100 if of > 0 else 0.0


def _margin(rule: Rule, account: Account) -> Measure:
    """Margin level (%) against the broker's levels; in money mode (``margin_so_mode`` 1) the free margin."""
    money_mode = account.margin_so_mode == 1
    level = account.margin_so_call if rule.kind == "margin_level" else account.margin_so_so
    thresholds = rule.thresholds(level)
    if thresholds is None:
        return Measure(None, detail="the broker reports no such level")
    limit, warn, hysteresis = thresholds
    unit = account.currency if money_mode else "%"
    if account.margin <= 0:
        return Measure(None, limit, warn, hysteresis, unit, detail="no margin in use")
    if money_mode:
        return Measure(account.margin_free, limit, warn, hysteresis, unit, limit + account.margin, "free margin")
    return Measure(account.margin_level, limit, warn, hysteresis, unit, limit * account.margin / 100)


def _exposure(rule: Rule, positions: tuple[Position, ...]) -> Measure:
    limit, warn, hysteresis = rule.thresholds() or (0.0, 0.0, 0.0)
    if rule.metric == "positions":
        return Measure(float(len(positions)), limit, warn, hysteresis, "positions")
    if rule.metric == "lots":
        return Measure(round(sum(p.volume for p in positions), 8), limit, warn, hysteresis, "lots")
    per_symbol: dict[str, float] = {}
    for position in positions:
        per_symbol[position.symbol] = round(per_symbol.get(position.symbol, 0.0) + position.volume, 8)
    if rule.symbol is not None:
        return Measure(per_symbol.get(rule.symbol, 0.0), limit, warn, hysteresis, "lots", detail=rule.symbol)
    symbol = max(per_symbol, key=per_symbol.__getitem__, default="")
    return Measure(per_symbol.get(symbol, 0.0), limit, warn, hysteresis, "lots", detail=symbol)


def _amount(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.2f}%" if unit == "%" else f"{value:,.2f} {unit}"


def alert_message(rule: Rule, previous: str, state: str, m: Measure) -> str:
    value, limit = _amount(m.value, m.unit), _amount(m.limit, m.unit)
    if state == BREACHED:
        verb = "reached" if rule.kind == "profit_target" else "breached"
        return f"{rule.title} {verb}: {value} (limit {limit})"
    if state == WARNING and previous == OK:
        return f"{rule.title} warning: {value} (warning at {_amount(m.warn, m.unit)}, limit {limit})"
    if state == WARNING:
        return f"{rule.title} back within the limit, still in warning: {value} (limit {limit})"
    if m.value is None:
        return f"{rule.title} cleared: {m.detail or 'no longer applies'}"
    return f"{rule.title} back to normal: {value} (limit {limit})"


def status_row(rule: Rule, st: RuleState | None, m: Measure | None, reset_at_ms: int | None) -> dict[str, Any]:
    """One rule as the panel and ``GET /rules`` show it: value, limit, distance left, share of the limit used."""
    row: dict[str, Any] = {"id": rule.id, "name": rule.title, "kind": rule.kind, "enabled": rule.enabled}
    row.update(state=st.state if st and rule.enabled else OK, since_ms=st.since_ms if st else None)
    row.update(value=None, limit=None, warn=None, unit="", floor=None, detail="", distance=None, used=0.0)
    if m is not None:
        row.update(value=m.value, limit=m.limit, warn=m.warn, unit=m.unit, floor=m.floor, detail=m.detail)
        if m.value is not None and m.limit:
            row["distance"] = m.value - m.limit if rule.below else m.limit - m.value
            if rule.below:
                row["used"] = m.limit / m.value if m.value > 0 else 1.0
            else:
                row["used"] = max(0.0, m.value / m.limit)
    if reset_at_ms is not None:
        row["reset_at_ms"] = reset_at_ms
    return row


@dataclass
class _Context:
    """The engine's view of the current account."""

    login: int
    rules: RuleSet
    states: dict[str, RuleState]
    rows: list[dict[str, Any]] = field(default_factory=list)
    dirty: set[str] = field(default_factory=set)
    saved: dict[str, tuple[int, float | None]] = field(default_factory=dict)
    pending: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=PENDING_CAP))
    rules_raw: str | None = None  # the page's rules as last read from Redis
    rules_read_ms: int = 0
    live_saved_ms: int = 0


def _with_reset_in(status: dict[str, Any], now_ms: int) -> dict[str, Any]:
    for row in status["rules"]:
        if isinstance(row, dict) and isinstance(row.get("reset_at_ms"), int | float):
            row["reset_in_s"] = max(0.0, (row["reset_at_ms"] - now_ms) / 1000)
    return status


class AlertEngine:
    """Evaluates the rules, keeps their state in Redis, and answers the API's questions about them."""

    def __init__(
        self,
        store: Store,
        default_rules: RuleSet,
        *,
        notify: Callable[[dict[str, Any]], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.keys = AlertKeys(store.keys.prefix)
        self.default_rules = default_rules
        self._notify = notify
        self._clock = clock
        self._lock = threading.Lock()
        self._context: _Context | None = None
        self._recent: deque[dict[str, Any]] = deque(maxlen=RECENT_CAP)
        self._redis_down = False

    # -- the streamer listener ---------------------------------------------------------------------------
    def evaluate(self, snapshot: Snapshot, changed: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Measure every rule; returns the alerts raised.

        A streamer listener: it only touches Redis, as the streamer itself does, and only when something
        changed. The webhook's HTTP calls happen on the webhook's own thread (``notify`` only queues).
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
            if not rule.enabled:
                rows.append(status_row(rule, st, None, None))
                continue
            remembered = (st.peak, st.initial, st.day_start_ms)
            reset_at = self._roll_day(ctx, rule, st, snapshot) if rule.kind == "daily_loss" else None
            m = measure(rule, snapshot, st)
            state = next_state(st.state, m, below=rule.below, strict=rule.kind == "exposure")
            if state != st.state:
                fired.append(self._alert(ctx.login, rule, st.state, state, m, now))
                st.state, st.since_ms = state, now
                ctx.dirty.add(rule.id)
            if (st.peak, st.initial, st.day_start_ms) != remembered:
                ctx.dirty.add(rule.id)
            st.value = m.value
            rows.append(status_row(rule, st, m, reset_at))
        with self._lock:
            ctx.rows = rows
            self._recent.extend(fired)
        ctx.pending.extend(fired)
        self._persist(ctx, now)
        self._save_live(ctx, now)
        if self._notify is not None:
            for alert in fired:
                self._notify(event("alert", ctx.login, alert["ts"], alert))
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

    def _roll_day(self, ctx: _Context, rule: Rule, st: RuleState, snapshot: Snapshot) -> int:
        """Start a new trading day at the reset; returns when the next one is (UTC ms).

        The day opens with the account as polled at the reset. If the engine was not running then, the last
        history point stored before the reset stands in for it.
        """
        start, end = day_bounds(snapshot.ts, rule.reset_time, rule.zone(snapshot.zone))
        if st.day_start_ms is not None and abs(start - st.day_start_ms) < HALF_DAY_MS:
            return end  # same day (a re-measured server offset may move the reset by an hour)
        balance, equity = snapshot.account.balance, snapshot.account.equity
        if snapshot.ts - start > LATE_START_MS:
            try:
                before = self.store.history(ctx.login, end_ms=start, count=1)
            except REDIS_ERRORS:
                before = []
            if before:
                balance, equity = before[-1].balance, before[-1].equity
        st.day_start_ms, st.day_balance, st.day_equity = start, balance, equity
        return end

    # -- Redis -------------------------------------------------------------------------------------------
    def _load(self, login: int) -> _Context | None:
        """The account's rules and state, read once; while Redis cannot answer, evaluation waits."""
        ctx = self._context
        if ctx is not None and ctx.login == login:
            self._recheck_rules(ctx)
            return ctx
        if not self.store.gate.ready():
            return None
        try:
            rules_raw = self.store.client.get(self.keys.rules(login))
            rules = self._parse_stored(rules_raw) or self.default_rules
            raw = self.store.client.hgetall(self.keys.state(login))
        except REDIS_ERRORS as exc:
            self._redis_failed(exc)
            return None
        states: dict[str, RuleState] = {}
        for rule_id, text in raw.items():
            try:
                states[rule_id] = RuleState.from_json(text)
            except (ValueError, TypeError) as exc:
                log.warning("alerts: ignoring unreadable state of rule %r (%s)", rule_id, exc)
        ctx = _Context(login, rules, states, rules_raw=rules_raw, rules_read_ms=int(self._clock() * 1000))
        ctx.saved = {rule_id: (0, st.value) for rule_id, st in states.items()}
        with self._lock:
            self._context = ctx
        log.info("alerts: %d rule(s) from %s for account %d", len(rules.rules), rules.source, login)
        return ctx

    def _recheck_rules(self, ctx: _Context) -> None:
        """Rules saved by a dashboard in another process (a collector's account) take effect within seconds."""
        now = int(self._clock() * 1000)
        if now - ctx.rules_read_ms < RULES_RECHECK_MS or not self.store.gate.ready():
            return
        ctx.rules_read_ms = now
        try:
            raw = self.store.client.get(self.keys.rules(ctx.login))
        except REDIS_ERRORS as exc:
            self._redis_failed(exc)
            return
        if raw != ctx.rules_raw:
            ruleset = self._parse_stored(raw) or self.default_rules
            self._swap_rules(ctx.login, ruleset, raw)
            log.info("alerts: %d rule(s) from %s for account %d", len(ruleset.rules), ruleset.source, ctx.login)

    def _stored_rules(self, login: int) -> RuleSet | None:
        return self._parse_stored(self.store.client.get(self.keys.rules(login)))

    @staticmethod
    def _parse_stored(raw: str | None) -> RuleSet | None:
        if raw is None:
            return None
        try:
            return parse_rules(json.loads(raw), source="page")
        except (RuleError, ValueError) as exc:
            log.error("alerts: rules saved from the page are unreadable (%s); using the file's", exc)
            return None

    def _persist(self, ctx: _Context, now: int) -> None:
        """Write new alerts and changed state, then publish the alerts; kept for the next poll if Redis is down.

        A rule's state is written when it changes; a value that merely moved, at most every 5 s.
        """
        alerts = list(ctx.pending)
        due = [rule_id for rule_id in ctx.states if rule_id in ctx.dirty or self._value_due(ctx, rule_id, now)]
        if (not alerts and not due) or not self.store.gate.ready():
            return
        try:
            pipe = self.store.client.pipeline(transaction=False)
            for alert in alerts:
                pipe.xadd(self.keys.history(ctx.login), {"alert": dumps(alert)}, maxlen=HISTORY_CAP, approximate=False)
            if due:
                pipe.hset(self.keys.state(ctx.login), mapping={r: ctx.states[r].to_json() for r in due})
            pipe.execute()
        except REDIS_ERRORS as exc:
            self._redis_failed(exc)
            return
        except ResponseError as exc:
            self._refused(exc)
            return
        for _ in alerts:
            ctx.pending.popleft()
        ctx.dirty.difference_update(due)
        ctx.saved.update({rule_id: (now, ctx.states[rule_id].value) for rule_id in due})
        if self._redis_down:
            self._redis_down = False
            log.info("alerts: Redis is reachable again; alert state saved")
        try:
            for alert in alerts:
                self.store.publish(ctx.login, event("alert", ctx.login, alert["ts"], alert))
        except REDIS_ERRORS as exc:
            self._redis_failed(exc)

    @staticmethod
    def _value_due(ctx: _Context, rule_id: str, now: int) -> bool:
        saved_at, saved_value = ctx.saved.get(rule_id, (0, None))
        return ctx.states[rule_id].value != saved_value and now - saved_at >= SAVE_VALUE_EVERY_MS

    def _refused(self, exc: ResponseError) -> None:
        """A server that refuses writes (full, a replica) keeps alert state waiting as in an outage.

        Any other error reply is a fault of this program and is raised.
        """
        if refusal(exc) is None:
            raise exc
        self._redis_failed(exc)

    def _redis_failed(self, exc: BaseException) -> None:
        self.store.gate.failed()
        if not self._redis_down:
            reason = refusal(exc) or f"unreachable, {type(exc).__name__}"
            log.error("alerts: Redis cannot take writes (%s); alert state waits in memory", reason)
        self._redis_down = True

    # -- what the API and the page read ------------------------------------------------------------------
    def rules(self, login: int | None) -> RuleSet:
        """The rules in force for ``login``: saved from the page, else the file's (or the defaults)."""
        ctx = self._context
        if ctx is not None and ctx.login == login:
            return ctx.rules
        return (self._stored_rules(login) if login is not None else None) or self.default_rules

    def set_rules(self, login: int, ruleset: RuleSet) -> RuleSet:
        """Save rules edited on the page; they win over the file until ``reset_rules``."""
        ruleset = replace(ruleset, source="page")
        raw = dumps(ruleset.to_dict())
        self.store.client.set(self.keys.rules(login), raw)
        self._swap_rules(login, ruleset, raw)
        return ruleset

    def reset_rules(self, login: int) -> RuleSet:
        """Forget the page's rules and go back to the file's (or the defaults)."""
        self.store.client.delete(self.keys.rules(login))
        self._swap_rules(login, self.default_rules, None)
        return self.default_rules

    def _swap_rules(self, login: int, ruleset: RuleSet, raw: str | None) -> None:
        with self._lock:
            ctx = self._context
            if ctx is not None and ctx.login == login:
                ctx.rules_raw = raw
                ctx.rules = ruleset
                ctx.rows = [status_row(rule, ctx.states.get(rule.id), None, None) for rule in ruleset.rules]

    def live_status(self, login: int | None = None) -> dict[str, Any]:
        """Each rule's latest reading for the panel, with the time left until its daily reset.

        ``login`` of an account evaluated in another process (a collector): its reading from Redis.
        """
        now_ms = int(self._clock() * 1000)
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

    def _save_live(self, ctx: _Context, now: int) -> None:
        """At most once a second: the readings, for a dashboard that shows this account from another process."""
        if now - ctx.live_saved_ms < LIVE_SAVE_EVERY_MS or not self.store.gate.ready():
            return
        ctx.live_saved_ms = now
        with self._lock:
            body = {"account": ctx.login, "name": ctx.rules.name, "source": ctx.rules.source, "rules": ctx.rows}
            text = dumps(body)
        try:
            self.store.client.set(self.keys.live(ctx.login), text, px=LIVE_TTL_MS)
        except REDIS_ERRORS as exc:
            self._redis_failed(exc)
        except ResponseError as exc:
            self._refused(exc)

    def _stored_live(self, login: int, now_ms: int) -> dict[str, Any]:
        raw = self.store.client.get(self.keys.live(login))
        try:
            stored = json.loads(raw) if raw is not None else None
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
        """Stored alerts, newest first, with ``acked_ms`` (None until acknowledged)."""
        rows = self.store.client.xrevrange(self.keys.history(login), "+", "-", count=HISTORY_CAP)
        acks = self.store.client.hgetall(self.keys.acks(login))
        found = []
        for _, fields in rows:
            try:
                alert = json.loads(fields["alert"])
            except (KeyError, ValueError):
                continue
            if (state and alert.get("state") != state) or (rule and alert.get("rule") != rule):
                continue
            if since_ms is not None and alert.get("ts", 0) < since_ms:
                continue
            alert["acked_ms"] = int(acks[alert["id"]]) if alert.get("id") in acks else None
            found.append(alert)
            if len(found) >= limit:
                break
        return found

    def ack(self, login: int, alert_id: str) -> dict[str, Any] | None:
        """Mark one alert as seen; acknowledging again keeps the first time. None when there is no such alert."""
        stored = self.history(login, limit=HISTORY_CAP)
        alert = next((a for a in stored if a["id"] == alert_id), None)
        if alert is None:
            return None
        if alert["acked_ms"] is None:
            alert["acked_ms"] = int(self._clock() * 1000)
            self.store.client.hset(self.keys.acks(login), alert_id, alert["acked_ms"])
            kept = {a["id"] for a in stored}
            stale = [key for key in self.store.client.hkeys(self.keys.acks(login)) if key not in kept]
            if stale:  # acknowledgements of alerts that dropped out of the capped history
                self.store.client.hdel(self.keys.acks(login), *stale)
        return alert
