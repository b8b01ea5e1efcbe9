"""Reading a risk rule off a snapshot: ok / warning / breached with hysteresis, and what the panel shows of it.

Pure functions and the state a rule keeps between polls; ``services/risk/engine.py`` runs them on every poll.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, tzinfo
from datetime import time as clock_time
from typing import Any

from services.core.formatting import rule_amount
from services.core.models import Account, Position, Snapshot
from services.core.protocol import dumps
from services.risk.rules import Rule

OK, WARNING, BREACHED = "ok", "warning", "breached"
SEVERITY = {OK: 0, WARNING: 1, BREACHED: 2}


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


def alert_message(rule: Rule, previous: str, state: str, m: Measure) -> str:
    value, limit = rule_amount(m.value, m.unit), rule_amount(m.limit, m.unit)
    if state == BREACHED:
        verb = "reached" if rule.kind == "profit_target" else "breached"
        return f"{rule.title} {verb}: {value} (limit {limit})"
    if state == WARNING and previous == OK:
        return f"{rule.title} warning: {value} (warning at {rule_amount(m.warn, m.unit)}, limit {limit})"
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
