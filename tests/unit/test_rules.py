"""Rules files: the presets load, the defaults are the margin rules, and every error names line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.core.settings import SettingsError, load_settings
from services.risk.rules import (
    DEFAULT_RULES,
    RuleError,
    RuleSet,
    RulesSettings,
    load_rules_file,
    parse_rules,
    parse_rules_text,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "rules" / "examples"


@pytest.mark.parametrize("path", sorted(EXAMPLES.iterdir()), ids=lambda p: p.name)
def test_every_preset_loads_and_round_trips(path: Path) -> None:
    ruleset = load_rules_file(path)
    assert ruleset.source == "file" and ruleset.rules and "example" in ruleset.name.lower()
    again = parse_rules(ruleset.to_dict(), source="file")
    assert again == ruleset
    assert parse_rules_text(ruleset.to_yaml(), source="file") == ruleset


def test_presets_say_they_are_examples_not_official_terms() -> None:
    for path in EXAMPLES.glob("*.yaml"):
        assert "not any firm's official terms" in path.read_text(encoding="utf-8"), path.name


def test_defaults_are_the_margin_rules_only() -> None:
    assert [rule.kind for rule in DEFAULT_RULES.rules] == ["margin_level", "stop_out"]
    margin_call, stop_out = DEFAULT_RULES.rules
    assert margin_call.thresholds(50.0) == (50.0, 100.0, 5.0), "warns at twice the margin call level"
    assert stop_out.thresholds(30.0) == (30.0, 45.0, 3.0)
    assert margin_call.thresholds(0.0) is None, "a broker without a margin call level: nothing to watch"


DOC = """\
name: Mine
rules:
  - id: daily
    kind: daily_loss
    limit: 5
    reset: "17:00"
    timezone: America/New_York
  - kind: drawdown
    limit: 10
"""


@pytest.mark.parametrize(
    ("old", "new", "field", "line", "message"),
    [
        ("limit: 10", "limit: -10", "rules[1].limit", 9, "expected a number greater than 0 (got -10)"),
        ("limit: 10", "limit: ten", "rules[1].limit", 9, "expected a number greater than 0 (got 'ten')"),
        ("limit: 10", "limit: 150", "rules[1].limit", 9, "expected a percentage of at most 100"),
        ("limit: 10", "limits: 10", "rules[1].limits", 9, "unknown field"),
        ("kind: drawdown", "kind: drawdwn", "rules[1].kind", 8, "expected one of margin_level, stop_out"),
        ('reset: "17:00"', 'reset: "25:00"', "rules[0].reset", 6, 'expected a time of day "HH:MM"'),
        ("America/New_York", "America/Nowhere", "rules[0].timezone", 7, "IANA time zone"),
        ("id: daily", "id: Daily Loss", "rules[0].id", 3, "expected 1-40 of a-z"),
        ("id: daily", "id: drawdown", "rules[1]", 8, "duplicate rule id 'drawdown'"),
        ("    limit: 5\n", "    limit: 5\n    limit: 6\n", "rules[0].limit", 6, "appears twice"),
        ("    limit: 5\n", "    limit: 5\n    warn: 6\n", "rules[0].warn", 6, "at or below the limit 5"),
        ("    limit: 5\n", "    limit: 5\n    hysteresis: 4\n", "rules[0].hysteresis", 6, "could never clear"),
        ("    limit: 5\n", "    limit: 5\n    basis: equity\n", "rules[0].basis", 6, "balance, max_balance_equity"),
        ("    limit: 5\n", "    limit: 5\n    enabled: maybe\n", "rules[0].enabled", 6, "true or false"),
        ("    limit: 5\n", "", "rules[0]", 3, "'limit' is required for a daily_loss rule"),
        ("name: Mine", "nmae: Mine", "nmae", 1, "unknown field; expected one of name, description, rules"),
        ("    limit: 10\n", "    limit: 10\n  - 42\n", "rules[2]", 10, "expected a mapping"),
        ("  - kind: drawdown", "  - kind: [drawdown", "(document)", 9, "invalid YAML"),
    ],
)
def test_errors_name_the_file_line_and_field(old: str, new: str, field: str, line: int, message: str) -> None:
    assert old in DOC
    with pytest.raises(RuleError) as caught:
        parse_rules_text(DOC.replace(old, new, 1), origin="mine.yaml")
    error = caught.value
    assert (error.field, error.line) == (field, line)
    assert message in str(error)
    assert str(error).startswith(f"RULES_FILE: mine.yaml, line {line}: {field}: ")
    assert isinstance(error, SettingsError) and error.variable == "RULES_FILE"


def test_a_bad_rules_file_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text('{"rules": [\n  {"kind": "exposure", "metric": "positions", "limit": 2.5}\n]}', encoding="utf-8")
    with pytest.raises(RuleError, match=r"rules\.json, line 2: rules\[0\]\.limit: expected a whole number"):
        load_rules_file(path)
    path.write_text('{"rules": [\n  {"kind": "drawdown", "limit": 5,}\n]}', encoding="utf-8")
    with pytest.raises(RuleError, match=r"line 2: \(document\): invalid JSON"):
        load_rules_file(path)


def test_json_duplicate_keys_are_errors_not_silent_overwrites() -> None:
    with pytest.raises(RuleError, match=r"line 1: rules\[0\]\.limit: appears twice"):
        parse_rules_text('{"rules": [{"kind": "drawdown", "limit": 5, "limit": 50}]}', "json")


def test_an_unquoted_reset_time_is_a_time_not_a_base_60_number() -> None:
    text = "rules:\n  - kind: daily_loss\n    limit: 4\n    reset: 17:00\n    timezone: server\n"
    rule = parse_rules_text(text).rules[0]
    assert rule.reset == "17:00" and rule.reset_time.hour == 17


def test_rule_fields_default_sensibly() -> None:
    ruleset = parse_rules({"rules": [{"kind": "daily_loss", "limit": 5}, {"kind": "exposure", "limit": 3}]})
    daily, exposure = ruleset.rules
    assert (daily.id, daily.title, daily.basis, daily.reset, daily.timezone) == (
        "daily_loss",
        "Daily loss",
        "balance",
        "00:00",
        "server",
    )
    assert daily.thresholds() == (5.0, 4.0, 0.5)
    assert exposure.thresholds() == (3.0, 3.0, 0.0), "exposure warns at its maximum and breaches beyond it"
    assert isinstance(ruleset, RuleSet) and ruleset.source == "page"


def test_rules_settings_come_from_the_one_settings_object(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - kind: margin_level\n", encoding="utf-8")
    url = "https://hooks.example.test/services/T000/B000/secret-token"
    settings = load_settings({"RULES_FILE": str(path), "ALERT_WEBHOOK_URL": url}, dotenv_path=None)
    rules = RulesSettings.of(settings)
    assert rules.rules_file == path and rules.webhook_url == url
    assert rules.webhook_host == "hooks.example.test"
    assert "secret-token" not in repr(rules) and "secret-token" not in repr(settings)
    blank = load_settings({"RULES_FILE": " ", "ALERT_WEBHOOK_URL": ""}, dotenv_path=None)
    assert RulesSettings.of(blank) == RulesSettings()


def test_rules_file_from_dotenv(tmp_path: Path) -> None:
    rules = tmp_path / "r.yml"
    rules.write_text("rules:\n  - kind: stop_out\n", encoding="utf-8")
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"RULES_FILE={rules}\n", encoding="utf-8")
    assert load_settings({}, dotenv_path=dotenv).rules_file == rules


@pytest.mark.parametrize(
    ("env", "variable", "shown"),
    [
        ({"RULES_FILE": "missing.yaml"}, "RULES_FILE", "missing.yaml"),
        ({"RULES_FILE": "rules.txt"}, "RULES_FILE", "rules.txt"),
        ({"ALERT_WEBHOOK_URL": "ftp://example.test/x?token=abc"}, "ALERT_WEBHOOK_URL", None),
        ({"ALERT_WEBHOOK_URL": "hooks.example.test/token-abc"}, "ALERT_WEBHOOK_URL", None),
    ],
)
def test_rules_settings_errors_name_the_variable(env: dict[str, str], variable: str, shown: str | None) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env, dotenv_path=None)
    assert caught.value.variable == variable and str(caught.value).startswith(f"{variable}: expected")
    if shown is None:
        assert "abc" not in str(caught.value), "a webhook URL may hold a token: never echoed"
    else:
        assert shown in str(caught.value)


def test_to_dict_is_what_a_file_would_hold() -> None:
    ruleset = parse_rules({"rules": [{"kind": "max_loss", "limit": 8, "mode": "trailing"}]})
    assert json.loads(json.dumps(ruleset.to_dict()))["rules"] == [
        {"id": "max_loss", "kind": "max_loss", "enabled": True, "limit": 8.0, "unit": "percent", "mode": "trailing"}
    ]
