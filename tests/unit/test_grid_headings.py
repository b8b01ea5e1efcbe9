"""The grids' headings and column order: a labelled total in the account's currency, the result columns first."""

from __future__ import annotations

from layouts import ids
from layouts.tables import DEAL_COLUMNS, NARROW_HIDDEN, ORDER_COLUMNS, POSITION_COLUMNS
from services.core.protocol import ORDERS, POSITIONS
from views.grids import count_text, grid_count

RESULT = ("profit", "swap")


def test_the_positions_heading_says_what_its_total_is_and_in_which_currency() -> None:
    rows = [{"profit": -40.0, "swap": 3.59}, {"profit": 1.0, "swap": -1.0}]
    assert grid_count(POSITIONS, rows, "USD") == "2 positions · Floating P/L -36.41 USD"
    assert count_text(POSITIONS, 1, 5.0, "EUR") == "1 position · Floating P/L +5.00 EUR"
    assert grid_count(ORDERS, [{}, {}, {}]) == "3 orders" and count_text(ORDERS, 1) == "1 order"
    assert grid_count(POSITIONS, [], "USD") == "", "no heading for an empty grid"


def test_profit_and_swap_come_before_prices_and_ids_and_stay_on_a_phone() -> None:
    for grid_id, columns in ((ids.POSITIONS_GRID, POSITION_COLUMNS), (ids.DEALS_GRID, DEAL_COLUMNS)):
        fields = [column["field"] for column in columns]
        assert fields.index("profit") <= 4, f"{grid_id}: Profit among the first five columns"
        assert fields[fields.index("profit") + 1] == "swap", f"{grid_id}: Swap beside it"
        assert not set(RESULT) & set(NARROW_HIDDEN[grid_id])
    for grid_id, columns in ((ids.POSITIONS_GRID, POSITION_COLUMNS), (ids.ORDERS_GRID, ORDER_COLUMNS),
                             (ids.DEALS_GRID, DEAL_COLUMNS)):  # fmt: skip
        assert set(NARROW_HIDDEN[grid_id]) <= {column["field"] for column in columns}, "only columns the grid has"
