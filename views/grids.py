"""The positions and orders grids: rows as the page shows them, their changes as transactions, their counts.

A row holds the columns of its grid (``layouts/tables.py``) and its id, the ticket (``row_id``), and nothing
else: a change to a field no column shows changes nothing on the page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from layouts import ids
from layouts.tables import ORDER_COLUMNS, POSITION_COLUMNS, TIME_TOOLTIP
from services.core.brokertime import BrokerZone
from services.core.formatting import ORDER_TYPES, POSITION_TYPES, code_name
from services.core.protocol import ORDERS, POSITIONS
from services.core.timefmt import Clock, server_times
from services.live import rowdiff

TIME_FIELDS = {POSITIONS: "time_utc_ms", ORDERS: "time_setup_utc_ms"}
GRIDS = {POSITIONS: (ids.POSITIONS_GRID, ids.POSITIONS_COUNT), ORDERS: (ids.ORDERS_GRID, ids.ORDERS_COUNT)}
ROW_ID = "row_id"
NOUNS = {POSITIONS: "position", ORDERS: "order"}
SHOWN = {
    kind: frozenset(column["field"] for column in columns) | {TIME_TOOLTIP, ROW_ID, rowdiff.KEY}
    for kind, columns in ((POSITIONS, POSITION_COLUMNS), (ORDERS, ORDER_COLUMNS))
}


def row_id(ticket: int) -> str:
    """A row's id in the grid (``getRowId``): its ticket, as the string AG Grid wants."""
    return str(ticket)


def with_times(rows: list[dict[str, Any]], field: str, clock: Clock, broker: BrokerZone) -> list[dict[str, Any]]:
    """The rows with their time in the page's clock, the broker's for the tooltip, and their id."""
    stamps = [row[field] for row in rows]
    for row, shown, server in zip(rows, clock.texts(stamps), server_times(stamps, broker), strict=True):
        row["time_local"] = shown
        row[TIME_TOOLTIP] = f"Server time {server}"
        row[ROW_ID] = row_id(row["ticket"])
    return rows


def position_side(kind: int) -> str:
    return code_name(POSITION_TYPES, kind)


def order_side(kind: int) -> str:
    return code_name(ORDER_TYPES, kind)


SIDES: dict[str, Callable[[int], str]] = {POSITIONS: position_side, ORDERS: order_side}


def grid_rows(kind: str, records: list[dict[str, Any]], clock: Clock, broker: BrokerZone) -> list[dict[str, Any]]:
    """Rows of the positions or orders grid: what its columns show of the records, and the row id."""
    rows = [{**r, "side": SIDES[kind](r["type"])} for r in records if isinstance(r, dict)]
    return [
        {k: v for k, v in row.items() if k in SHOWN[kind]} for row in with_times(rows, TIME_FIELDS[kind], clock, broker)
    ]


def transaction(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> rowdiff.Transaction:
    """The change from one poll's rows to the next, keyed by ticket; a removed row carries its id."""
    change = rowdiff.diff(old, new)
    change["remove"] = [{**row, ROW_ID: row_id(row[rowdiff.KEY])} for row in change["remove"]]
    return change


def count_text(kind: str, count: int, total: float | None = None, currency: str = "") -> str:
    """The panel heading: how many rows, and for positions their floating result (profit and swap) in the
    account's currency, labelled, since a bare signed number reads as anything."""
    if not count:
        return ""
    noun = NOUNS[kind] if count == 1 else f"{NOUNS[kind]}s"
    if total is None:
        return f"{count} {noun}"
    return f"{count} {noun} · Floating P/L {total:+,.2f} {currency}".rstrip()


def rows_total(rows: list[dict[str, Any]]) -> float:
    return sum(row["profit"] + row["swap"] for row in rows)


def grid_count(kind: str, rows: list[dict[str, Any]], currency: str = "") -> str:
    return count_text(kind, len(rows), rows_total(rows) if kind == POSITIONS else None, currency)
