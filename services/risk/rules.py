"""Risk rules: the limits an account must stay within, from ``RULES_FILE`` (YAML or JSON) or edited on the page.

A typo in a risk rule stays silent until the day it matters, so validation is strict: unknown fields are
rejected, and every error names the file, the line (YAML gives it) and the field at fault.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from services.core.settings import Settings, SettingsError

SERVER_ZONE = "server"
RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
MAX_RULES = 50
MAX_DEPTH = 12  # a rules document is four levels deep; anything far deeper is not one


@dataclass(frozen=True, slots=True)
class Kind:
    """What one kind of rule accepts; ``limit`` is required unless the account supplies it."""

    title: str
    options: tuple[str, ...]
    account_limit: bool = False


KINDS: dict[str, Kind] = {
    "margin_level": Kind("Margin level", (), account_limit=True),
    "stop_out": Kind("Stop-out proximity", (), account_limit=True),
    "drawdown": Kind("Drawdown from peak", ("unit",)),
    "daily_loss": Kind("Daily loss", ("unit", "basis", "reset", "timezone")),
    "max_loss": Kind("Max total loss", ("unit", "mode", "initial_balance")),
    "profit_target": Kind("Profit target", ("unit", "measure", "initial_balance")),
    "exposure": Kind("Exposure", ("metric", "symbol")),
}
COMMON = ("id", "kind", "name", "enabled", "limit", "warn", "hysteresis")
WARN_FACTOR = {"margin_level": 2.0, "stop_out": 1.5, "profit_target": 0.9, "exposure": 1.0}
DEFAULT_WARN_FACTOR = 0.8
DEFAULT_HYSTERESIS = 0.1  # of the limit; exposure counts and lots clear as soon as they are back within it
BELOW_KINDS = ("margin_level", "stop_out")
CHOICES = {
    "unit": ("percent", "money"),
    "basis": ("balance", "max_balance_equity"),
    "mode": ("static", "trailing"),
    "measure": ("equity", "balance"),
    "metric": ("positions", "lots", "symbol_lots"),
}


class RuleError(SettingsError):
    """A rule is invalid; names the field (``rules[2].limit``), and the file and line when known.

    It is a SettingsError so that a bad ``RULES_FILE`` stops the app like any other bad setting.
    """

    def __init__(self, field: str, message: str, *, line: int | None = None, origin: str | None = None) -> None:
        self.variable = "RULES_FILE"
        self.field = field
        self.line = line
        self.origin = origin
        where = "".join(
            part for part in (f"RULES_FILE: {origin}, " if origin else "", f"line {line}: " if line else "")
        )
        ValueError.__init__(self, f"{where}{field}: {message}")

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "line": self.line}


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule. Thresholds are in the rule's unit; ``None`` means the documented default."""

    id: str
    kind: str
    name: str = ""
    enabled: bool = True
    limit: float | None = None
    warn: float | None = None
    hysteresis: float | None = None
    unit: str = "percent"
    basis: str = "balance"
    reset: str = "00:00"
    timezone: str = SERVER_ZONE
    mode: str = "static"
    measure: str = "equity"
    initial_balance: float | None = None
    metric: str = "positions"
    symbol: str | None = None

    @property
    def title(self) -> str:
        return self.name or KINDS[self.kind].title

    @property
    def reset_time(self) -> time:
        hours, minutes = self.reset.split(":")
        return time(int(hours), int(minutes))

    def zone(self, broker: tzinfo) -> tzinfo:
        """The reset's time zone: the broker's clock (daylight saving included), or the rule's own."""
        if self.timezone == SERVER_ZONE:
            return broker
        return ZoneInfo(self.timezone)

    @property
    def trails_peak(self) -> bool:
        """Measured from the account's equity peak over its whole recorded history (a trailing ``max_loss`` trails
        from its initial balance on, which may be later than the history's start)."""
        return self.kind == "drawdown"

    @property
    def below(self) -> bool:
        """Margin rules worsen as their value falls; every other rule worsens as it grows."""
        return self.kind in BELOW_KINDS

    def thresholds(self, account_limit: float | None = None) -> tuple[float, float, float] | None:
        """(limit, warn, hysteresis) with the defaults filled in; None when there is no limit to watch.

        Margin rules default to the broker's level (``account_limit``) and warn at 2x the margin call
        (1.5x the stop-out) level; loss rules warn at 80 % of the limit, the profit target at 90 %.
        """
        limit = self.limit if self.limit is not None else account_limit
        if not limit or limit <= 0:
            return None
        warn = self.warn if self.warn is not None else limit * WARN_FACTOR.get(self.kind, DEFAULT_WARN_FACTOR)
        if self.hysteresis is not None:
            hysteresis = self.hysteresis
        else:
            hysteresis = 0.0 if self.kind == "exposure" else DEFAULT_HYSTERESIS * limit
        return limit, warn, hysteresis

    def to_dict(self) -> dict[str, Any]:
        """The fields this kind uses, as they would be written in a rules file."""
        wanted = COMMON + KINDS[self.kind].options
        return {name: getattr(self, name) for name in wanted if getattr(self, name) not in (None, "")}


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    name: str = ""
    description: str = ""
    source: str = "default"  # default | file | page | api (a saved ruleset: its origin)

    def to_dict(self) -> dict[str, Any]:
        head = {"name": self.name, "description": self.description}
        return {**{k: v for k, v in head.items() if v}, "rules": [rule.to_dict() for rule in self.rules]}

    def to_yaml(self) -> str:
        """The rules as an editable rules file (the page's editor)."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


DEFAULT_RULES = RuleSet(
    (Rule("margin_call", "margin_level"), Rule("stop_out", "stop_out")),
    name="Margin rules",
    description="Margin level against the broker's margin call level, and distance to its stop-out level.",
)


@dataclass(frozen=True, slots=True)
class RulesSettings:
    """Where the rules come from and where alerts are posted (``RULES_FILE``, ``ALERT_WEBHOOK_URL``)."""

    rules_file: Path | None = None
    webhook_url: str | None = field(default=None, repr=False)

    @classmethod
    def of(cls, settings: Settings) -> RulesSettings:
        return cls(settings.rules_file, settings.alert_webhook_url.reveal() or None)

    @property
    def webhook_host(self) -> str | None:
        """Webhook URLs often carry a token in their path: only the host is ever shown."""
        return None if self.webhook_url is None else urlsplit(self.webhook_url).netloc


# -- parsing ---------------------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """Safe YAML, except that an unquoted ``17:00`` stays a clock text instead of YAML 1.1's base-60 number,
    and with no anchors or aliases and a bounded depth: a few hundred bytes of aliases can expand to gigabytes,
    and a rules document never needs them. Nor explicit tags (``!!timestamp x``): PyYAML's constructors
    answer a value that does not fit theirs with any exception at all."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases (&name, *name) are not allowed in a rules document", event.start_mark
            )
        if getattr(event, "tag", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, "tags (!!int, !name) are not allowed in a rules document", event.start_mark
            )
        if self._depth >= MAX_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _int_or_clock(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    if ":" in node.value:
        return node.value
    return yaml.SafeLoader.construct_yaml_int(loader, node)


_Loader.add_constructor("tag:yaml.org,2002:int", _int_or_clock)

DocPath = tuple[str | int, ...]


def _node_lines(node: yaml.Node, path: DocPath, lines: dict[DocPath, int], origin: str | None) -> None:
    """Line (1-based) of every mapping value and sequence item; a repeated key is an error, not a silent overwrite."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                line = key_node.start_mark.line + 1
                raise RuleError(_field((*path, key)), "appears twice", line=line, origin=origin)
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _node_lines(value_node, (*path, key), lines, origin)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _node_lines(item, (*path, index), lines, origin)


def _compose(text: str) -> tuple[Any, yaml.Node | None]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        return (None if node is None else loader.construct_document(node)), node
    finally:
        loader.dispose()


def _json_document(text: str) -> Any:
    """``json.loads`` with the YAML side's depth bound, and its recursion and integer-size faults as errors."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise RuleError("(document)", f"invalid JSON: nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # an integer of thousands of digits
        raise RuleError("(document)", f"invalid JSON: {exc}"[:200]) from None
    if _depth(data) > MAX_DEPTH:
        raise RuleError("(document)", f"invalid JSON: nested deeper than {MAX_DEPTH} levels")
    return data


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def parse_rules_text(text: str, fmt: str = "yaml", *, origin: str | None = None, source: str = "file") -> RuleSet:
    """Parse and validate a rules document (``fmt`` is ``yaml`` or ``json``); JSON errors get lines too."""
    try:
        if fmt == "json":
            data = _json_document(text)
            try:
                node = _compose(text)[1]
            except yaml.YAMLError:  # valid JSON that YAML 1.1 reads differently: no line numbers, still checked
                node = None
        else:
            data, node = _compose(text)
    except json.JSONDecodeError as exc:
        raise RuleError("(document)", f"invalid JSON: {exc.msg}", line=exc.lineno, origin=origin) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise RuleError("(document)", f"invalid YAML: {exc.problem or exc.context}", line=line, origin=origin) from None
    except yaml.YAMLError as exc:
        raise RuleError("(document)", f"invalid YAML: {exc}", origin=origin) from None
    except ValueError as exc:  # a YAML integer of thousands of digits
        raise RuleError("(document)", f"invalid YAML: {exc}"[:200], origin=origin) from None
    lines: dict[DocPath, int] = {}
    if node is not None:
        _node_lines(node, (), lines, origin)
    return parse_rules(data, lines=lines, origin=origin, source=source)


def load_rules_file(path: Path) -> RuleSet:
    """Read ``RULES_FILE``; JSON by its suffix, YAML otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError("(document)", f"cannot be read ({type(exc).__name__})", origin=str(path)) from None
    fmt = "json" if path.suffix.lower() == ".json" else "yaml"
    return parse_rules_text(text, fmt, origin=str(path), source="file")


def parse_rules(
    data: Any, *, lines: Mapping[DocPath, int] | None = None, origin: str | None = None, source: str = "page"
) -> RuleSet:
    """Validate an already decoded document ``{name?, description?, rules: [...]}``."""
    check = _Checker(lines or {}, origin)
    if not isinstance(data, dict):
        raise check.error((), "expected a mapping with a 'rules' list")
    check.known(data, (), ("name", "description", "rules"))
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise check.error(("rules",), "expected a non-empty list of rules")
    if len(raw_rules) > MAX_RULES:
        raise check.error(("rules",), f"expected at most {MAX_RULES} rules")
    rules: list[Rule] = []
    for index, raw in enumerate(raw_rules):
        rule = check.rule(raw, ("rules", index))
        if any(other.id == rule.id for other in rules):
            where = ("rules", index, "id") if "id" in raw else ("rules", index)
            raise check.error(where, f"duplicate rule id {rule.id!r}; give each rule its own 'id'")
        rules.append(rule)
    name = check.text(data.get("name", ""), ("name",), 80)
    description = check.text(data.get("description", ""), ("description",), 500)
    return RuleSet(tuple(rules), name=name, description=description, source=source)


def _field(path: DocPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"


class _Checker:
    """Turns a decoded document into Rules, raising RuleError at the first fault."""

    def __init__(self, lines: Mapping[DocPath, int], origin: str | None) -> None:
        self.lines = lines
        self.origin = origin

    def error(self, path: DocPath, message: str) -> RuleError:
        line = next((self.lines[path[:n]] for n in range(len(path), -1, -1) if path[:n] in self.lines), None)
        return RuleError(_field(path), message, line=line, origin=self.origin)

    def known(self, data: dict[str, Any], path: DocPath, allowed: tuple[str, ...]) -> None:
        for key in data:
            if key not in allowed:
                raise self.error((*path, key), f"unknown field; expected one of {', '.join(allowed)}")

    def text(self, value: Any, path: DocPath, max_len: int) -> str:
        if not isinstance(value, str) or len(value) > max_len:
            raise self.error(path, f"expected a text of at most {max_len} characters (got {value!r:.60})")
        return value.strip()

    def number(self, value: Any, path: DocPath, *, minimum: float = 0.0, inclusive: bool = False) -> float:
        try:
            number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
        except OverflowError:  # an integer of hundreds of digits: no float holds it
            number = math.inf
        if not math.isfinite(number) or number < minimum or (number == minimum and not inclusive):
            bound = f"at least {minimum:g}" if inclusive else f"greater than {minimum:g}"
            raise self.error(path, f"expected a number {bound} (got {value!r:.60})")
        return number

    def choice(self, value: Any, path: DocPath, choices: tuple[str, ...]) -> str:
        if value not in choices:
            raise self.error(path, f"expected one of {', '.join(choices)} (got {value!r:.60})")
        return value

    def rule(self, raw: Any, path: DocPath) -> Rule:
        if not isinstance(raw, dict):
            raise self.error(path, "expected a mapping with at least 'kind'")
        kind = raw.get("kind")
        if kind not in KINDS:
            raise self.error((*path, "kind"), f"expected one of {', '.join(KINDS)} (got {kind!r:.60})")
        spec = KINDS[kind]
        self.known(raw, path, COMMON + spec.options)
        values: dict[str, Any] = {"kind": kind}
        rule_id = raw.get("id", kind)
        if not isinstance(rule_id, str) or not RULE_ID.match(rule_id):
            raise self.error((*path, "id"), f"expected 1-40 of a-z, 0-9, '_' and '-' (got {rule_id!r:.60})")
        values["id"] = rule_id
        for name, value in raw.items():
            at = (*path, name)
            if name == "name":
                values[name] = self.text(value, at, 80)
            elif name == "enabled":
                if not isinstance(value, bool):
                    raise self.error(at, f"expected true or false (got {value!r:.60})")
                values[name] = value
            elif name in ("limit", "warn", "initial_balance"):
                values[name] = self.number(value, at)
            elif name == "hysteresis":
                values[name] = self.number(value, at, inclusive=True)
            elif name in CHOICES:
                values[name] = self.choice(value, at, CHOICES[name])
            elif name == "reset":
                if not isinstance(value, str) or not CLOCK.match(value.strip()):
                    raise self.error(at, f'expected a time of day "HH:MM", e.g. "17:00" (got {value!r:.60})')
                hours, minutes = value.strip().split(":")
                values[name] = f"{int(hours):02d}:{minutes}"
            elif name == "timezone":
                values[name] = self.zone_name(value, at)
            elif name == "symbol":
                values[name] = self.text(value, at, 40) or None
        if values.get("limit") is None and not spec.account_limit:
            raise self.error(path, f"'limit' is required for a {kind} rule")
        rule = Rule(**values)
        self.consistent(rule, raw, path)
        return rule

    def zone_name(self, value: Any, path: DocPath) -> str:
        if value == SERVER_ZONE:
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise self.error(
                path, f"expected 'server' or an IANA time zone such as America/New_York (got {value!r:.60})"
            ) from None
        return value

    def consistent(self, rule: Rule, raw: dict[str, Any], path: DocPath) -> None:
        """Cross-field checks: a warning must come before the limit, a percentage loss cannot pass 100."""
        if rule.limit is not None and rule.warn is not None:
            if rule.below and rule.warn < rule.limit:
                raise self.error((*path, "warn"), f"expected a level at or above the limit {rule.limit:g}")
            if not rule.below and rule.warn > rule.limit:
                raise self.error((*path, "warn"), f"expected a value at or below the limit {rule.limit:g}")
        resolved = rule.thresholds()
        if resolved is not None and not rule.below and resolved[2] >= resolved[1]:
            where = "hysteresis" if "hysteresis" in raw else "warn"
            raise self.error(
                (*path, where),
                f"the hysteresis {resolved[2]:g} must be below the warning level "
                f"{resolved[1]:g}, or the rule could never clear",
            )
        lossy = rule.kind in ("drawdown", "daily_loss", "max_loss")
        if lossy and rule.unit == "percent" and rule.limit is not None and rule.limit > 100:
            raise self.error((*path, "limit"), f"expected a percentage of at most 100 (got {rule.limit:g})")
        if "symbol" in raw and rule.metric != "symbol_lots":
            raise self.error((*path, "symbol"), "only applies with metric: symbol_lots")
        if rule.kind == "exposure" and rule.metric == "positions" and not float(rule.limit or 0).is_integer():
            raise self.error((*path, "limit"), f"expected a whole number of positions (got {rule.limit:g})")
