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
MIN_WIDTH = 80  # px; a column's own minWidth wins
LIVE_ROWS = 10  # the positions and orders grids grow with their rows up to this many, then scroll


def _money(field: str, header: str) -> dict[str, Any]:
    return {"field": field, "headerName": header, "type": "rightAligned", "valueFormatter": MONEY,
            "cellStyle": SIGNED_CELL, "filter": "agNumberColumnFilter", "minWidth": 90}  # fmt: skip


def _time(field: str = "time_local") -> dict[str, Any]:
    return {"field": field, "headerName": "Time", "tooltipField": TIME_TOOLTIP, "minWidth": 160,
            "headerTooltip": "Your local time; hover a cell for the broker's server time"}  # fmt: skip


# What a trader reads first comes first: the instrument, its side and size, then its result, so Profit and Swap
# stay in view on a narrow grid; ids and prices follow. NARROW_HIDDEN: hidden on a phone (assets/mt5.js).
POSITION_COLUMNS = [
    {"field": "symbol", "headerName": "Symbol", "filter": "agTextColumnFilter", "minWidth": 84},
    {"field": "side", "headerName": "Type", "minWidth": 64},
    {"field": "volume", "headerName": "Volume", "type": "rightAligned"},
    _money("profit", "Profit"),
    _money("swap", "Swap"),
    {"field": "price_open", "headerName": "Open price", "type": "rightAligned", "minWidth": 96},
    {"field": "price_current", "headerName": "Current price", "type": "rightAligned", "minWidth": 110},
    {"field": "sl", "headerName": "S/L", "type": "rightAligned", "valueFormatter": PRICE},
    {"field": "tp", "headerName": "T/P", "type": "rightAligned", "valueFormatter": PRICE},
    _time(),
    {"field": "ticket", "headerName": "Ticket", "filter": "agNumberColumnFilter", "minWidth": 100},
]
ORDER_COLUMNS = [
    {"field": "symbol", "headerName": "Symbol", "minWidth": 84},
    {"field": "side", "headerName": "Type", "minWidth": 100},
    {"field": "volume_current", "headerName": "Volume", "type": "rightAligned"},
    {"field": "price_open", "headerName": "Price", "type": "rightAligned"},
    {"field": "price_current", "headerName": "Current price", "type": "rightAligned", "minWidth": 110},
    {"field": "sl", "headerName": "S/L", "type": "rightAligned", "valueFormatter": PRICE},
    {"field": "tp", "headerName": "T/P", "type": "rightAligned", "valueFormatter": PRICE},
    _time(),
    {"field": "ticket", "headerName": "Ticket", "minWidth": 100},
]
DEAL_COLUMNS = [
    {**_time(), "sortable": True, "colId": "time_msc"},
    {"field": "symbol", "headerName": "Symbol", "filter": "agTextColumnFilter", "minWidth": 84},
    {"field": "type_name", "headerName": "Type", "filter": "agTextColumnFilter"},
    {"field": "entry_name", "headerName": "Entry", "filter": "agTextColumnFilter"},
    _money("profit", "Profit"),
    _money("swap", "Swap"),
    {"field": "volume", "headerName": "Volume", "type": "rightAligned", "filter": "agNumberColumnFilter"},
    {"field": "price", "headerName": "Price", "type": "rightAligned", "valueFormatter": PRICE},
    _money("commission", "Commission"),
    _money("fee", "Fee"),
    {"field": "ticket", "headerName": "Deal", "filter": "agNumberColumnFilter", "minWidth": 100},
    {"field": "position_id", "headerName": "Position", "filter": "agNumberColumnFilter", "minWidth": 100},
    {"field": "comment", "headerName": "Comment", "filter": "agTextColumnFilter"},
]
NARROW_HIDDEN = {
    ids.POSITIONS_GRID: ["price_open", "sl", "tp", "ticket"],
    ids.ORDERS_GRID: ["sl", "tp", "ticket"],
    ids.DEALS_GRID: ["type_name", "entry_name", "commission", "fee", "ticket", "position_id"],
}
FILTER_PARAMS = {"buttons": ["reset"], "maxNumConditions": 1}
DEFAULT_COLUMN = {"sortable": True, "resizable": True, "minWidth": MIN_WIDTH, "filterParams": FILTER_PARAMS}


def live_grid(component_id: str, columns: list[dict[str, Any]], empty: str) -> dag.AgGrid:
    """As tall as its rows, up to ``LIVE_ROWS`` (``assets/style.css``): a fixed box hid most positions."""
    return dag.AgGrid(
        id=component_id,
        columnDefs=columns,
        rowData=[],
        getRowId="params.data.row_id",
        defaultColDef=DEFAULT_COLUMN,
        columnSize="responsiveSizeToFit",
        dashGridOptions={
            "localeText": {"noRowsToShow": empty},
            "animateRows": False,
            "suppressColumnVirtualisation": True,
            "tooltipShowDelay": 300,
            "context": {"narrowHidden": NARROW_HIDDEN[component_id]},
            "domLayout": "autoHeight",
        },
        className="ag-theme-quartz grid grid-live",
        style={"--grid-rows": LIVE_ROWS},
    )


def deals_grid() -> dag.AgGrid:
    return dag.AgGrid(
        id=ids.DEALS_GRID,
        columnDefs=DEAL_COLUMNS,
        rowModelType="infinite",
        getRowId="params.data.row_id",
        defaultColDef=DEFAULT_COLUMN,
        columnSize="responsiveSizeToFit",
        dashGridOptions={
            "pagination": True,
            "paginationPageSize": 50,
            "paginationPageSizeSelector": [25, 50, 100],
            "cacheBlockSize": 50,
            "maxBlocksInCache": 10,
            "localeText": {"noRowsToShow": "No deals in this range"},
            "tooltipShowDelay": 300,
            "context": {"narrowHidden": NARROW_HIDDEN[ids.DEALS_GRID]},
        },
        className="ag-theme-quartz grid grid-deals",
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
