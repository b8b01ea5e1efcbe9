"""Rows for the positions and orders grids, and the deal history's server-side pages.

A snapshot fills a grid; after that ``/ws?view=page`` sends each change as an AG Grid transaction keyed by
ticket (``services/rowdiff.py``), set as the grid's ``rowTransaction``: only added, changed and removed rows
travel, and AG Grid redraws only those (a row's id is its ticket, ``row_id``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dash import ClientsideFunction, Dash, Input, Output, State

from callbacks.routing import page_login
from layouts import ids
from services import rowdiff
from services.brokertime import BrokerZone
from services.deals_query import BadQuery, page_of_deals
from services.redis_conn import REDIS_ERRORS
from services.runtime import Runtime
from services.timefmt import local_times, server_times

ORDER_TYPES = {
    0: "Buy", 1: "Sell", 2: "Buy Limit", 3: "Sell Limit", 4: "Buy Stop", 5: "Sell Stop",
    6: "Buy Stop Limit", 7: "Sell Stop Limit", 8: "Close By",
}  # fmt: skip


TIME_FIELDS = {"positions": "time_utc_ms", "orders": "time_setup_utc_ms"}


def _with_times(rows: list[dict[str, Any]], field: str, tz: str, broker: BrokerZone) -> list[dict[str, Any]]:
    stamps = [row[field] for row in rows]
    for row, local, server in zip(rows, local_times(stamps, tz), server_times(stamps, broker), strict=True):
        row["time_local"] = local[:19]
        row["time_server"] = f"Server time {server}"
        row["row_id"] = row_id(row["ticket"])
    return rows


def position_side(kind: int) -> str:
    return "Buy" if kind == 0 else "Sell"


def order_side(kind: int) -> str:
    return ORDER_TYPES.get(kind, str(kind))


SIDES: dict[str, Callable[[int], str]] = {"positions": position_side, "orders": order_side}


def grid_rows(kind: str, records: list[dict[str, Any]], tz: str, broker: BrokerZone) -> list[dict[str, Any]]:
    """Rows of the positions or orders grid: the records plus the type's name, times and row id."""
    rows = [{**r, "side": SIDES[kind](r["type"])} for r in records]
    return _with_times(rows, TIME_FIELDS[kind], tz, broker)


def position_rows(positions: list[dict[str, Any]], tz: str, broker: BrokerZone) -> list[dict[str, Any]]:
    return grid_rows("positions", positions, tz, broker)


def order_rows(orders: list[dict[str, Any]], tz: str, broker: BrokerZone) -> list[dict[str, Any]]:
    return grid_rows("orders", orders, tz, broker)


def row_id(ticket: int) -> str:
    """A row's id in the grid (``getRowId``): its ticket, as the string AG Grid wants."""
    return str(ticket)


def transaction_rows(
    kind: str, transaction: rowdiff.Transaction, tz: str, broker: BrokerZone
) -> dict[str, list[dict[str, Any]]]:
    """A transaction of records as the grid's rows: added and changed rows complete, removed ones by id."""
    return {
        "add": grid_rows(kind, transaction["add"], tz, broker),
        "update": grid_rows(kind, transaction["update"], tz, broker),
        "remove": [{"row_id": row_id(row[rowdiff.KEY])} for row in transaction["remove"]],
    }


def count_text(count: int, total: float | None = None) -> str:
    """The panel heading's count, with the positions' floating result (profit and swap)."""
    if not count:
        return ""
    return f"{count}" if total is None else f"{count} · {total:+,.2f}"


def rows_total(rows: list[dict[str, Any]]) -> float:
    return sum(row["profit"] + row["swap"] for row in rows)


def deals_response(
    runtime: Runtime, login: int | None, request: Any, selection: dict | None, client: dict | None
) -> dict[str, Any]:
    """One page of the deal grid for the selected range (the whole history when it has no bounds)."""
    if login is None or not isinstance(request, dict):
        return {"rowData": [], "rowCount": 0}
    selection = selection or {}
    try:
        deals = runtime.store.deals(login, selection.get("from_ms"), selection.get("to_ms"))
        page = page_of_deals(deals, request)
    except (BadQuery, REDIS_ERRORS):
        return {"rowData": [], "rowCount": 0}
    rows = _with_times(page.rows, "time_utc_ms", (client or {}).get("tz") or "UTC", runtime.broker_zone(login))
    return {"rowData": rows, "rowCount": page.total}


def register(app: Dash, runtime: Runtime) -> None:
    @app.callback(
        Output(ids.DEALS_GRID, "getRowsResponse"),
        Input(ids.DEALS_GRID, "getRowsRequest"),
        State(ids.RANGE, "data"),
        State(ids.CLIENT, "data"),
        State(ids.LOCATION, "pathname"),
        prevent_initial_call=True,
    )
    def deals_page(
        request: dict[str, Any] | None, selection: dict | None, client: dict | None, pathname: str | None
    ) -> dict[str, Any]:
        return deals_response(runtime, page_login(pathname, runtime), request, selection, client)

    app.clientside_callback(
        ClientsideFunction(namespace="mt5", function_name="refreshDeals"),
        Input(ids.DEALS_VERSION, "data"),
        Input(ids.RANGE, "data"),
        prevent_initial_call=True,
    )
