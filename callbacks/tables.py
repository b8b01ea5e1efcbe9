"""Rows for the positions and orders grids, and the deal history's server-side pages."""

from __future__ import annotations

from typing import Any

from dash import ClientsideFunction, Dash, Input, Output, State

from callbacks.routing import page_login
from layouts import ids
from services.deals_query import BadQuery, page_of_deals
from services.redis_conn import REDIS_ERRORS
from services.runtime import Runtime
from services.timefmt import local_times, server_times

ORDER_TYPES = {
    0: "Buy", 1: "Sell", 2: "Buy Limit", 3: "Sell Limit", 4: "Buy Stop", 5: "Sell Stop",
    6: "Buy Stop Limit", 7: "Sell Stop Limit", 8: "Close By",
}  # fmt: skip


def _with_times(rows: list[dict[str, Any]], field: str, tz: str, offset_s: int) -> list[dict[str, Any]]:
    stamps = [row[field] for row in rows]
    for row, local, server in zip(rows, local_times(stamps, tz), server_times(stamps, offset_s), strict=True):
        row["time_local"] = local[:19]
        row["time_server"] = f"Server time {server}"
        row["row_id"] = str(row["ticket"])
    return rows


def position_rows(positions: list[dict[str, Any]], tz: str, offset_s: int) -> list[dict[str, Any]]:
    rows = [{**p, "side": "Buy" if p["type"] == 0 else "Sell"} for p in positions]
    return _with_times(rows, "time_utc_ms", tz, offset_s)


def order_rows(orders: list[dict[str, Any]], tz: str, offset_s: int) -> list[dict[str, Any]]:
    rows = [{**o, "side": ORDER_TYPES.get(o["type"], str(o["type"]))} for o in orders]
    return _with_times(rows, "time_setup_utc_ms", tz, offset_s)


def count_text(rows: list[dict[str, Any]], profit: bool) -> str:
    if not rows:
        return ""
    if not profit:
        return f"{len(rows)}"
    total = sum(row["profit"] + row["swap"] for row in rows)
    return f"{len(rows)} · {total:+,.2f}"


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
        login = page_login(pathname, runtime)
        if login is None or not isinstance(request, dict):
            return {"rowData": [], "rowCount": 0}
        selection = selection or {}
        try:
            deals = runtime.store.deals(login, selection.get("from_ms"), selection.get("to_ms"))
            page = page_of_deals(deals, request)
        except (BadQuery, REDIS_ERRORS):
            return {"rowData": [], "rowCount": 0}
        rows = _with_times(page.rows, "time_utc_ms", (client or {}).get("tz") or "UTC", runtime.server_offset_s(login))
        return {"rowData": rows, "rowCount": page.total}

    app.clientside_callback(
        ClientsideFunction(namespace="mt5", function_name="refreshDeals"),
        Input(ids.DEALS_VERSION, "data"),
        Input(ids.RANGE, "data"),
        prevent_initial_call=True,
    )
