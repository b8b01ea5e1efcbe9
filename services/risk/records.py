"""Where the alert engine's records live in Redis, the saved-rules record every copy agrees on, and the outbox.

``SavedRules`` is one save of an account's rules, or a reset to the file's rules (a tombstone), with the
time it was saved. The archive keeps every one; Redis keeps the newest, so that a dashboard and the
collector of an account hand rules to each other. Wherever two copies meet, the newer one wins: a Redis
that was wiped, or restored from an old dump, can neither revert a save nor undo a reset.

``Outbox`` holds what waits for Redis; ``RedisAlerts`` does every Redis read and write of the engine,
on the threads that may wait for it (the ``alerts-redis`` worker and request threads, never the streamer).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from services.core.models import HistoryPoint
from services.core.protocol import ALERT, dumps, event
from services.risk.rules import RuleSet, parse_rules
from services.storage.archive import SavedRulesRow
from services.storage.store import Keys, Store

HISTORY_CAP = 1000
PENDING_CAP = 1000
LIVE_TTL_MS = 10_000  # a reading older than this belongs to a collector that stopped
ORIGINS = ("page", "api", "reset")


@dataclass(frozen=True, slots=True)
class AlertKeys:
    """The alert engine's Redis keys, beside the account's own (``Keys.account``)."""

    keys: Keys

    def history(self, login: int) -> str:
        return self.keys.account(login, "alerts")

    def state(self, login: int) -> str:
        return self.keys.account(login, "alerts", "state")

    def acks(self, login: int) -> str:
        return self.keys.account(login, "alerts", "acks")

    def rules(self, login: int) -> str:
        return self.keys.account(login, "alerts", "rules")

    def live(self, login: int) -> str:
        return self.keys.account(login, "alerts", "live")


@dataclass(frozen=True, slots=True)
class SavedRules:
    """Rules saved from the page (``origin`` page) or ``PUT /rules`` (api), or a reset (``ruleset`` None)."""

    ruleset: RuleSet | None
    origin: str
    saved_ms: int

    def in_force(self, default: RuleSet) -> RuleSet:
        return default if self.ruleset is None else self.ruleset

    def newer_than(self, other: SavedRules | None) -> bool:
        return other is None or self.saved_ms > other.saved_ms

    def to_json(self) -> str:
        """The Redis value: the rules with when and how they were saved."""
        ruleset = None if self.ruleset is None else self.ruleset.to_dict()
        return dumps({"saved_ms": self.saved_ms, "origin": self.origin, "ruleset": ruleset})

    @classmethod
    def from_json(cls, text: str) -> SavedRules:
        """Raises ValueError (RuleError included) for a value that is not a readable save.

        A value written before saves had a time is the bare rules document: older than any timed save.
        """
        data = json.loads(text)
        if not isinstance(data, dict) or "saved_ms" not in data:
            return cls(parse_rules(data, source="page"), "page", 0)
        saved_ms, origin, body = data["saved_ms"], data.get("origin"), data.get("ruleset")
        if not isinstance(saved_ms, int) or isinstance(saved_ms, bool) or origin not in ORIGINS:
            raise ValueError(f"a saved-rules record with saved_ms {saved_ms!r:.30} and origin {origin!r:.30}")
        return cls(None if body is None else parse_rules(body, source=origin), origin, saved_ms)

    def to_row(self, login: int) -> SavedRulesRow:
        ruleset = None if self.ruleset is None else dumps(self.ruleset.to_dict())
        return SavedRulesRow(login, self.saved_ms, self.origin, ruleset)

    @classmethod
    def from_row(cls, row: SavedRulesRow) -> SavedRules:
        ruleset = None if row.ruleset is None else parse_rules(json.loads(row.ruleset), source=row.origin)
        return cls(ruleset, row.origin, row.saved_ms)


def newest(*copies: SavedRules | None) -> SavedRules | None:
    """The copy saved last; on a tie the first one named (ours) stays."""
    found: SavedRules | None = None
    for copy in copies:
        if copy is not None and copy.newer_than(found):
            found = copy
    return found


@dataclass
class Outbox:
    """What waits for Redis, per account: alerts in order, and the latest of each state, ack, reading and save.

    Filled by the streamer and request threads, emptied by the ``alerts-redis`` worker. Only alerts are
    capped (``PENDING_CAP``, oldest dropped and counted): an archive keeps them all anyway.
    """

    alerts: deque[tuple[int, dict[str, Any]]] = field(default_factory=lambda: deque(maxlen=PENDING_CAP))
    states: dict[int, dict[str, str]] = field(default_factory=dict)
    acks: dict[int, dict[str, int]] = field(default_factory=dict)
    live: dict[int, str] = field(default_factory=dict)
    rules: dict[int, SavedRules] = field(default_factory=dict)
    dropped: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __len__(self) -> int:
        with self._lock:
            return self._count()

    def _count(self) -> int:
        keyed = sum(map(len, self.states.values())) + sum(map(len, self.acks.values()))
        return len(self.alerts) + keyed + len(self.live) + len(self.rules)

    def add(
        self,
        login: int,
        *,
        alerts: Sequence[dict[str, Any]] = (),
        states: dict[str, str] | None = None,
        acks: dict[str, int] | None = None,
        live: str | None = None,
        rules: SavedRules | None = None,
    ) -> None:
        with self._lock:
            for alert in alerts:
                self._append(login, alert)
            if states:
                self.states.setdefault(login, {}).update(states)
            for alert_id, ms in (acks or {}).items():
                self.acks.setdefault(login, {}).setdefault(alert_id, ms)
            if live is not None:
                self.live[login] = live
            if rules is not None and rules.newer_than(self.rules.get(login)):
                self.rules[login] = rules

    def _append(self, login: int, alert: dict[str, Any]) -> None:
        if len(self.alerts) == self.alerts.maxlen:
            self.dropped += 1
        self.alerts.append((login, alert))

    def waiting_alerts(self, login: int) -> list[dict[str, Any]]:
        """The account's alerts not in Redis yet, newest first."""
        with self._lock:
            return [alert for owner, alert in reversed(self.alerts) if owner == login]

    def take(self) -> Outbox:
        """Everything waiting, leaving this one empty."""
        with self._lock:
            taken = Outbox(self.alerts, self.states, self.acks, self.live, self.rules)
            self.alerts, self.states, self.acks = deque(maxlen=PENDING_CAP), {}, {}
            self.live, self.rules = {}, {}
            return taken

    def restore(self, taken: Outbox) -> None:
        """Put back what could not be written, in front of what came meanwhile (newer values win)."""
        with self._lock:
            waiting = self.alerts
            self.alerts = deque(maxlen=PENDING_CAP)
            for login, alert in [*taken.alerts, *waiting]:
                self._append(login, alert)
            for login, states in taken.states.items():
                self.states[login] = states | self.states.get(login, {})
            for login, acks in taken.acks.items():
                self.acks[login] = self.acks.get(login, {}) | acks  # the first acknowledgement stays
            self.live = taken.live | self.live
            for login, rules in taken.rules.items():
                if rules.newer_than(self.rules.get(login)):
                    self.rules[login] = rules


@dataclass(frozen=True, slots=True)
class Recheck:
    """What the worker reads every couple of seconds to notice another process's save or a wiped Redis."""

    rules: str | None
    has_history: bool
    has_state: bool
    acks: dict[str, int]


class RedisAlerts:
    """Every Redis read and write of the alert engine; raises the Redis errors for the caller to handle."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.client = store.client
        self.keys = AlertKeys(store.keys)

    def write(self, out: Outbox) -> None:
        """One pipeline; ``announce`` follows once it went through."""
        pipe = self.client.pipeline(transaction=False)
        for login, alert in out.alerts:
            pipe.xadd(self.keys.history(login), {"alert": dumps(alert)}, maxlen=HISTORY_CAP, approximate=False)
        for login, states in out.states.items():
            pipe.hset(self.keys.state(login), mapping=states)
        for login, acks in out.acks.items():
            pipe.hset(self.keys.acks(login), mapping=acks)
        for login, text in out.live.items():
            pipe.set(self.keys.live(login), text, px=LIVE_TTL_MS)
        for login, rules in out.rules.items():
            pipe.set(self.keys.rules(login), rules.to_json())
        pipe.execute()

    def announce(self, out: Outbox) -> None:
        """Publish the alerts just stored (an alert is published once it is kept), tidy the acknowledgements."""
        for login, alert in out.alerts:
            self.store.publish(login, event(ALERT, login, alert["ts"], alert))
        for login in out.acks:
            self._prune_acks(login)

    def _prune_acks(self, login: int) -> None:
        """Acknowledgements of alerts that dropped out of the capped history go too."""
        kept = {alert_id for alert_id, _ in self._entries(login)}
        stale = [key for key in self.client.hkeys(self.keys.acks(login)) if key not in kept]
        if stale:
            self.client.hdel(self.keys.acks(login), *stale)

    def _entries(self, login: int) -> list[tuple[str, dict[str, Any]]]:
        """(alert id, alert) of the stored history, newest first; unreadable entries are skipped."""
        found = []
        for _, fields in self.client.xrevrange(self.keys.history(login), "+", "-", count=HISTORY_CAP):
            try:
                alert = json.loads(fields["alert"])
            except (KeyError, ValueError):
                continue
            if isinstance(alert, dict) and isinstance(alert.get("id"), str):
                found.append((alert["id"], alert))
        return found

    def history(self, login: int) -> list[dict[str, Any]]:
        """The stored alerts, newest first, each with ``acked_ms``."""
        acks = self.client.hgetall(self.keys.acks(login))
        return [{**alert, "acked_ms": int(acks[i]) if i in acks else None} for i, alert in self._entries(login)]

    def ack(self, login: int, alert_id: str, ms: int) -> None:
        self.client.hset(self.keys.acks(login), alert_id, ms)
        self._prune_acks(login)

    def saved_rules(self, login: int) -> str | None:
        return self.client.get(self.keys.rules(login))

    def set_rules(self, login: int, rules: SavedRules) -> None:
        self.client.set(self.keys.rules(login), rules.to_json())

    def states(self, login: int) -> dict[str, str]:
        return self.client.hgetall(self.keys.state(login))

    def live(self, login: int) -> str | None:
        return self.client.get(self.keys.live(login))

    def point_before(self, login: int, t_ms: int) -> HistoryPoint | None:
        before = self.store.history(login, end_ms=t_ms, count=1)
        return before[-1] if before else None

    def recheck(self, login: int) -> Recheck:
        pipe = self.client.pipeline(transaction=False)
        pipe.get(self.keys.rules(login))
        pipe.exists(self.keys.history(login))
        pipe.exists(self.keys.state(login))
        pipe.hgetall(self.keys.acks(login))
        rules, history, state, acks = pipe.execute()
        return Recheck(rules, bool(history), bool(state), {k: int(v) for k, v in acks.items() if v.isdigit()})

    def restore_history(self, login: int, alerts: list[dict[str, Any]]) -> None:
        """A wiped history written again from the archive (``alerts`` newest first, with ``acked_ms``)."""
        pipe = self.client.pipeline(transaction=False)
        for alert in reversed(alerts):
            body = {k: v for k, v in alert.items() if k != "acked_ms"}
            pipe.xadd(self.keys.history(login), {"alert": dumps(body)}, maxlen=HISTORY_CAP, approximate=False)
        acks = {alert["id"]: alert["acked_ms"] for alert in alerts if alert.get("acked_ms") is not None}
        if acks:
            pipe.hset(self.keys.acks(login), mapping=acks)
        pipe.execute()
