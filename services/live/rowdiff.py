"""Grid rows keyed by ticket, and their changes as AG Grid transactions: ``{"add": [rows], "update": [rows],
"remove": [rows]}``.

A grid whose ``getRowId`` is the ticket applies a transaction in place: it adds, replaces and removes those rows
and redraws only them. ``update`` carries whole rows (AG Grid replaces a row's data), only the rows that changed;
``remove`` the rows as they were (AG Grid finds them by their id).
"""

from __future__ import annotations

from typing import Any

Row = dict[str, Any]
Transaction = dict[str, list[Row]]
KEY = "ticket"


def empty() -> Transaction:
    return {"add": [], "update": [], "remove": []}


def is_empty(transaction: Transaction) -> bool:
    return not any(transaction.values())


def diff(old: list[Row], new: list[Row]) -> Transaction:
    """What turns the rows ``old`` into ``new``: new tickets added (in ``new``'s order), changed rows, gone tickets."""
    before = {row[KEY]: row for row in old}
    after = {row[KEY] for row in new}
    return {
        "add": [row for row in new if row[KEY] not in before],
        "update": [row for row in new if row[KEY] in before and before[row[KEY]] != row],
        "remove": [row for row in old if row[KEY] not in after],
    }


def compose(first: Transaction, then: Transaction) -> Transaction:
    """One transaction doing ``first`` and then ``then``: a grid takes one per update, so two in a row merge."""
    ops: dict[Any, tuple[str, Row]] = {}
    for name in ("remove", "add", "update"):
        for row in first[name]:
            ops[row[KEY]] = (name, row)
    for row in then["remove"]:
        earlier = ops.pop(row[KEY], None)
        if earlier is None or earlier[0] != "add":  # a row added and removed again never reaches the grid
            ops[row[KEY]] = ("remove", row)
    for name in ("add", "update"):
        for row in then[name]:
            earlier = ops.get(row[KEY])
            if earlier is not None and earlier[0] == "add":
                ops[row[KEY]] = ("add", row)
            elif earlier is not None or name == "update":  # removed and back, or changed: the grid has it
                ops[row[KEY]] = ("update", row)
            else:
                ops[row[KEY]] = ("add", row)
    composed = empty()
    for name, row in ops.values():
        composed[name].append(row)
    return composed


def apply(rows: list[Row], transaction: Transaction) -> list[Row]:
    """The rows a grid shows after the transaction, in its order: what the page does, for tests and snapshots."""
    gone = {row[KEY] for row in transaction["remove"]}
    changed = {row[KEY]: row for row in transaction["update"]}
    kept = [changed.get(row[KEY], row) for row in rows if row[KEY] not in gone]
    return kept + transaction["add"]
