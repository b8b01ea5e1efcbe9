"""The deal history's server-side pages (the positions and orders grids are live: ``views/grids.py``)."""

from __future__ import annotations

from typing import Any

from dash import ClientsideFunction, Dash, Input, Output, State

from callbacks.routing import page_login
from layouts import ids
from layouts.tables import NARROW_HIDDEN
from services.analytics.deals_query import BadQuery, page_of_deals
from services.core.timefmt import client_clock
from services.runtime import Runtime
from services.storage.redis_conn import REDIS_ERRORS
from views.grids import with_times


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
    broker = runtime.broker_zone(login)
    rows = with_times(page.rows, "time_utc_ms", client_clock(client, broker), broker)
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
        ClientsideFunction(namespace="mt5", function_name="narrowColumns"),
        Input(ids.CLIENT, "data"),
        *(State(grid, "id") for grid in NARROW_HIDDEN),
    )
    app.clientside_callback(
        ClientsideFunction(namespace="mt5", function_name="refreshDeals"),
        Input(ids.DEALS_VERSION, "data"),
        Input(ids.RANGE, "data"),
        prevent_initial_call=True,
    )
