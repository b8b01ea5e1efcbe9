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
MIN_WIDTH = 80  # px: what a column keeps on a phone unless it says otherwise
LIVE_ROWS = 10  # the positions and orders grids grow with their rows up to this many, then scroll


def col(field: str, header: str, width: int, min_width: int = MIN_WIDTH, **extra: Any) -> dict[str, Any]:
    """A column ``width`` px wide at ease, which fitting to the grid scales with the others, down to ``min_width``:
    a width for each column keeps a short Symbol from getting as much room as a long Time."""
    return {"field": field, "headerName": header, "width": width, "minWidth": min_width, **extra}


def num(field: str, header: str, width: int, min_width: int = MIN_WIDTH, **extra: Any) -> dict[str, Any]:
    return col(field, header, width, min_width, type="rightAligned", **extra)


def money(field: str, header: str, width: int = 90) -> dict[str, Any]:
    return num(field, header, width, 84, valueFormatter=MONEY, cellStyle=SIGNED_CELL, filter="agNumberColumnFilter")


def time_column(**extra: Any) -> dict[str, Any]:
    tip = "In the clock picked under Times:, hover a cell for the broker's server time"
    return col("time_local", "Time", 168, 160, tooltipField=TIME_TOOLTIP, headerTooltip=tip, **extra)


TEXT, NUMBER = "agTextColumnFilter", "agNumberColumnFilter"
# What a trader reads first comes first: the instrument, its side and size, then its result, so Profit and Swap
# stay in view on a narrow grid; prices, time and ids follow. NARROW_HIDDEN: hidden on a phone (assets/mt5.js).
POSITION_COLUMNS = [
    col("symbol", "Symbol", 104, 90, filter=TEXT),
    col("side", "Type", 72, 64),
    num("volume", "Volume", 88),
    money("profit", "Profit"),
    money("swap", "Swap", 88),
    num("price_open", "Open price", 104, 96),
    num("price_current", "Current price", 120, 110),
    num("sl", "S/L", 88, valueFormatter=PRICE),
    num("tp", "T/P", 88, valueFormatter=PRICE),
    time_column(),
    col("ticket", "Ticket", 110, 100, filter=NUMBER),
]
ORDER_COLUMNS = [
    col("symbol", "Symbol", 104, 90),
    col("side", "Type", 120, 100),
    num("volume_current", "Volume", 88),
    num("price_open", "Price", 96),
    num("price_current", "Current price", 120, 110),
    num("sl", "S/L", 88, valueFormatter=PRICE),
    num("tp", "T/P", 88, valueFormatter=PRICE),
    time_column(),
    col("ticket", "Ticket", 110, 100),
]
DEAL_COLUMNS = [  # widths that fit a 1280 px page, where all 13 show
    time_column(sortable=True, colId="time_msc"),
    col("symbol", "Symbol", 92, 84, filter=TEXT),
    col("type_name", "Type", 64, filter=TEXT),
    col("entry_name", "Entry", 64, filter=TEXT),
    money("profit", "Profit"),
    money("swap", "Swap", 80),
    num("volume", "Volume", 76, filter=NUMBER),
    num("price", "Price", 86, valueFormatter=PRICE),
    money("commission", "Commission", 104),
    money("fee", "Fee", 64),
    col("ticket", "Deal", 92, filter=NUMBER),
    col("position_id", "Position", 92, filter=NUMBER),
    col("comment", "Comment", 90, filter=TEXT),
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
