"""Hostile rules documents: aliases, deep nesting and huge integers are clear 400s at bounded cost (issue 14)."""

from __future__ import annotations

import resource
import time

import pytest

from services.risk.rules import RuleError, parse_rules_text

BILLION_LAUGHS = """
a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
rules: [*g]
"""


def test_aliases_are_refused_before_anything_is_expanded() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.process_time()
    with pytest.raises(RuleError, match="anchors and aliases") as caught:
        parse_rules_text(BILLION_LAUGHS)
    assert caught.value.line == 2
    assert time.process_time() - started < 1.0, "no expansion: milliseconds, not seconds"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000, "and no memory (KiB)"


def test_a_single_anchor_is_refused_too() -> None:
    with pytest.raises(RuleError, match="anchors and aliases"):
        parse_rules_text("rules:\n  - &r {kind: margin_level, warn: 200, breach: 100}\n")


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_deep_nesting_is_an_error_not_a_recursion_error(fmt: str) -> None:
    text = "[" * 30_000 + "]" * 30_000
    with pytest.raises(RuleError, match="nested deeper"):
        parse_rules_text(text, fmt)


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_an_integer_of_thousands_of_digits_is_an_error(fmt: str) -> None:
    digits = "9" * 5_000
    text = f'{{"rules": [{{"kind": "margin_level", "warn": {digits}, "breach": 100}}]}}'
    with pytest.raises(RuleError, match="invalid"):
        parse_rules_text(text, fmt)
