"""Grid changes as AG Grid transactions keyed by ticket: diffs, and two in a row composed into one."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.live import rowdiff


def row(ticket: int, profit: float = 0.0) -> dict[str, Any]:
    return {"ticket": ticket, "profit": profit}


def test_a_diff_adds_changes_and_removes_by_ticket() -> None:
    old = [row(1), row(2), row(3, 5.0)]
    new = [row(3, 6.0), row(1), row(4)]
    assert rowdiff.diff(old, new) == {"add": [row(4)], "update": [row(3, 6.0)], "remove": [row(2)]}
    assert rowdiff.apply(old, rowdiff.diff(old, new)) == [row(1), row(3, 6.0), row(4)]
    assert rowdiff.is_empty(rowdiff.diff(new, new))


def test_composed_transactions_net_out() -> None:
    first = {"add": [row(5)], "update": [row(1, 1.0)], "remove": [{"ticket": 2}]}
    then = {"add": [row(2, 9.0)], "update": [row(1, 3.0)], "remove": [{"ticket": 5}]}
    composed = rowdiff.compose(first, then)
    assert composed == {"add": [], "update": [row(2, 9.0), row(1, 3.0)], "remove": []}, "added then removed: gone"


rows_strategy = st.lists(st.builds(row, st.integers(1, 8), st.sampled_from([0.0, 1.0])), max_size=6).map(
    lambda rows: list({r["ticket"]: r for r in rows}.values())
)


@given(rows_strategy, rows_strategy, rows_strategy)
def test_a_composed_transaction_does_what_both_do_in_turn(a: list[Any], b: list[Any], c: list[Any]) -> None:
    both = rowdiff.compose(rowdiff.diff(a, b), rowdiff.diff(b, c))
    assert sorted(map(str, rowdiff.apply(a, both))) == sorted(map(str, c))
