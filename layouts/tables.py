"""Open positions, pending orders and the deal history, as AG Grids.

Positions and orders carry their MT5 ticket as row id (``row_id``), so live transactions add, change
and remove rows in place (``views/grids.py``); the deal history is an infinite grid that asks the
server for one page at a time.
"""

from __future__ import annotations

from typing import Any

import dash_ag_grid as dag
from dash import html

from layouts import ids

MONEY = {"function": "params.value == null ? '' : d3.format(',.2f')(params.value)"}  # a loading row has none
PRICE = {"function": "params.value === 0 ? '' : String(params.value)"}
SIGNED_CELL = {"function": "params.value > 0 ? {color: 'var(--ok)'} : params.value < 0 ? {color: 'var(--bad)'} : {}"}
TIME_TOOLTIP = "time_server"


def _money(field: str, header: str) -> dict[str, Any]:
    return {"field": field, "headerName": header, "type": "rightAligned", "valueFormatter": MONEY,
            "cellStyle": SIGNED_CELL, "filter": "agNumberColumnFilter"}  # fmt: skip


def _time(field: str = "time_local") -> dict[str, Any]:
    return {"field": field, "headerName": "Time", "tooltipField": TIME_TOOLTIP, "minWidth": 170,
            "headerTooltip": "In the clock picked under Times:, hover a cell for the broker's server time"}  # fmt: skip


POSITION_COLUMNS = [
    {"field": "ticket", "headerName": "Ticket", "filter": "agNumberColumnFilter", "minWidth": 110},
    {"field": "symbol", "headerName": "Symbol", "filter": "agTextColumnFilter", "minWidth": 100},
    {"field": "side", "headerName": "Type", "minWidth": 70},
    {"field": "volume", "headerName": "Volume", "type": "rightAligned"},
    {"field": "price_open", "headerName": "Open price", "type": "rightAligned"},
    {"field": "price_current", "headerName": "Current price", "type": "rightAligned"},
    {"field": "sl", "headerName": "S/L", "type": "rightAligned", "valueFormatter": PRICE},
    {"field": "tp", "headerName": "T/P", "type": "rightAligned", "valueFormatter": PRICE},
    _money("swap", "Swap"),
    _money("profit", "Profit"),
    _time(),
]
ORDER_COLUMNS = [
    {"field": "ticket", "headerName": "Ticket", "minWidth": 110},
    {"field": "symbol", "headerName": "Symbol", "minWidth": 100},
    {"field": "side", "headerName": "Type", "minWidth": 100},
    {"field": "volume_current", "headerName": "Volume", "type": "rightAligned"},
    {"field": "price_open", "headerName": "Price", "type": "rightAligned"},
    {"field": "price_current", "headerName": "Current price", "type": "rightAligned"},
    {"field": "sl", "headerName": "S/L", "type": "rightAligned", "valueFormatter": PRICE},
    {"field": "tp", "headerName": "T/P", "type": "rightAligned", "valueFormatter": PRICE},
    _time(),
]
DEAL_COLUMNS = [
    {**_time(), "sortable": True, "colId": "time_msc"},
    {"field": "ticket", "headerName": "Deal", "filter": "agNumberColumnFilter", "minWidth": 110},
    {"field": "position_id", "headerName": "Position", "filter": "agNumberColumnFilter", "minWidth": 110},
    {"field": "symbol", "headerName": "Symbol", "filter": "agTextColumnFilter", "minWidth": 100},
    {"field": "type_name", "headerName": "Type", "filter": "agTextColumnFilter"},
    {"field": "entry_name", "headerName": "Entry", "filter": "agTextColumnFilter"},
    {"field": "volume", "headerName": "Volume", "type": "rightAligned", "filter": "agNumberColumnFilter"},
    {"field": "price", "headerName": "Price", "type": "rightAligned", "valueFormatter": PRICE},
    _money("commission", "Commission"),
    _money("swap", "Swap"),
    _money("fee", "Fee"),
    _money("profit", "Profit"),
    {"field": "comment", "headerName": "Comment", "filter": "agTextColumnFilter"},
]
FILTER_PARAMS = {"buttons": ["reset"], "maxNumConditions": 1}


def live_grid(component_id: str, columns: list[dict[str, Any]], empty: str) -> dag.AgGrid:
    return dag.AgGrid(
        id=component_id,
        columnDefs=columns,
        rowData=[],
        getRowId="params.data.row_id",
        defaultColDef={"sortable": True, "resizable": True, "minWidth": 90, "filterParams": FILTER_PARAMS},
        columnSize="responsiveSizeToFit",
        dashGridOptions={
            "localeText": {"noRowsToShow": empty},
            "animateRows": False,
            "suppressColumnVirtualisation": True,
            "tooltipShowDelay": 300,
        },
        className="ag-theme-quartz grid",
        style={"height": "260px"},
    )


def deals_grid() -> dag.AgGrid:
    return dag.AgGrid(
        id=ids.DEALS_GRID,
        columnDefs=DEAL_COLUMNS,
        rowModelType="infinite",
        getRowId="params.data.row_id",
        defaultColDef={"sortable": True, "resizable": True, "minWidth": 90, "filterParams": FILTER_PARAMS},
        columnSize="responsiveSizeToFit",
        dashGridOptions={
            "pagination": True,
            "paginationPageSize": 50,
            "paginationPageSizeSelector": [25, 50, 100],
            "cacheBlockSize": 50,
            "maxBlocksInCache": 10,
            "localeText": {"noRowsToShow": "No deals in this range"},
            "tooltipShowDelay": 300,
        },
        className="ag-theme-quartz grid",
        style={"height": "420px"},
    )


def panel(title: str, count_id: str | None, body: Any, replayed: bool = False) -> html.Section:
    """``replayed``: a replay shows this panel's past state (marked while it does, ``assets/style.css``)."""
    heading = [html.H2(title)]
    if count_id:
        heading.append(html.Span(id=count_id, className="count"))
    return html.Section([html.Div(heading, className="panel-head"), body],
                        className="card panel replayed" if replayed else "card panel")  # fmt: skip


def tables_section() -> html.Div:
    return html.Div(
        className="tables",
        children=[
            panel("Open positions", ids.POSITIONS_COUNT,
                  live_grid(ids.POSITIONS_GRID, POSITION_COLUMNS, "No open positions"), replayed=True),
            panel("Pending orders", ids.ORDERS_COUNT,
                  live_grid(ids.ORDERS_GRID, ORDER_COLUMNS, "No pending orders"), replayed=True),
            panel("Deal history", None, deals_grid()),
        ],
    )  # fmt: skip
