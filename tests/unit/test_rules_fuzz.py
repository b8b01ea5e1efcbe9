"""The rules parser against anything (issue 14, property-based): arbitrary YAML or JSON text, arbitrary nested
structures, and rule-shaped mappings with hostile values give a parsed ruleset or a RuleError naming the field,
never another exception; ``PUT /rules`` answers them 200 or 400, never 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.ingest.sources.demo import DemoSource
from services.risk.rules import CHOICES, COMMON, KINDS, RULE_ID, RuleError, RuleSet, parse_rules, parse_rules_text

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(),
    st.text(max_size=30),
    st.sampled_from(["server", "UTC", "Europe/Athens", "../../etc/passwd", "a" * 300, "17:00", "24:00", "percent"]),
    st.sampled_from([choice for choices in CHOICES.values() for choice in choices]),
)
NESTED = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=25,
)


NUMBERS = st.one_of(st.floats(), st.integers(min_value=-10, max_value=10**6), st.integers(min_value=10**300))
LIKELY = {  # values a rule may well hold, so the checks run past the first field into the cross-field ones
    "id": st.from_regex(RULE_ID, fullmatch=True),
    "name": st.text(max_size=100),
    "enabled": st.booleans(),
    "limit": NUMBERS,
    "warn": NUMBERS,
    "hysteresis": NUMBERS,
    "initial_balance": NUMBERS,
    "reset": st.from_regex(r"\A\d{1,2}:\d{2}\Z"),
    "timezone": st.sampled_from(["server", "UTC", "Europe/Athens", "Nowhere/City", "a" * 300]),
    "symbol": st.text(max_size=50),
    **{name: st.sampled_from(choices) for name, choices in CHOICES.items()},
}


def rule_of(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """A mapping with the fields this kind takes (so checks go past the field names), each of a likely value or
    of any."""
    fields = (*COMMON, *KINDS[kind].options) if kind in KINDS else COMMON
    return st.fixed_dictionaries(
        {"kind": st.just(kind)},
        optional={name: st.one_of(LIKELY[name], LIKELY[name], SCALARS, NESTED) for name in fields if name != "kind"},
    )


RULE = st.one_of(st.sampled_from([*KINDS, "nope"]).flatmap(rule_of), NESTED)
DOCUMENT = st.one_of(
    NESTED,
    st.fixed_dictionaries(
        {"rules": st.lists(RULE, min_size=1, max_size=3)},
        optional={"name": SCALARS, "description": SCALARS, "other": NESTED},
    ),
)
FUZZ = settings(max_examples=200, deadline=None)


def parsed_or_rule_error(parse: Any, *args: Any) -> None:
    try:
        result = parse(*args)
    except RuleError as exc:
        assert str(exc) and exc.field
    else:
        assert isinstance(result, RuleSet) and result.rules


@FUZZ
@given(st.text(max_size=400), st.sampled_from(["yaml", "json"]))
@example("!!timestamp x", "yaml")  # PyYAML's constructor: AttributeError
@example("rules: [{kind: drawdown, limit: !!bool maybe}]", "yaml")  # KeyError
def test_any_text_is_a_ruleset_or_a_rule_error(text: str, fmt: str) -> None:
    parsed_or_rule_error(parse_rules_text, text, fmt)


@FUZZ
@given(DOCUMENT)
@example({"rules": [{"kind": "drawdown", "limit": 10**400}]})  # float(): OverflowError
def test_any_structure_is_a_ruleset_or_a_rule_error(document: Any) -> None:
    parsed_or_rule_error(parse_rules, document)


@FUZZ
@given(DOCUMENT)
def test_any_structure_written_as_json_or_yaml_is_a_ruleset_or_a_rule_error(document: Any) -> None:
    parsed_or_rule_error(parse_rules_text, json.dumps(document), "json")
    parsed_or_rule_error(parse_rules_text, yaml.safe_dump(document), "yaml")


@pytest.fixture
def rules_app(make_app: Any) -> Any:
    """A demo account whose archive runs, so a valid document is saved (200) rather than waited for (503)."""
    app = make_app(source=DemoSource(seed=5), start=False)
    runtime = app.server.extensions["mt5_runtime"]
    runtime.streamer.step()
    runtime.archive.start()
    return app


BODIES = st.one_of(
    st.text(max_size=300),
    DOCUMENT.map(json.dumps),
    DOCUMENT.map(yaml.safe_dump),
    st.binary(max_size=100).map(lambda raw: raw.decode("latin-1")),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(BODIES, st.sampled_from(["application/json", "application/yaml", "text/plain", "application/octet-stream"]))
def test_put_rules_answers_any_body_with_200_or_400(rules_app: Any, body: str, content_type: str) -> None:
    response = rules_app.server.test_client().put("/rules", data=body.encode(), content_type=content_type)
    payload = response.get_json()
    assert response.status_code in (200, 400), payload
    if response.status_code == 400:
        assert payload["field"] and payload["error"]
