"""One page of deal history, sorted and filtered on the server, for the deals grid's infinite model.

The grid asks for rows [start, end) with AG Grid's sort and filter models; only that page
travels to the browser, however long the history is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from services.core.formatting import DEAL_ENTRIES, DEAL_TYPES, code_name
from services.core.models import Deal

MAX_PAGE = 500
TEXT_COLUMNS = ("symbol", "comment", "type_name", "entry_name")
NUMBER_COLUMNS = ("ticket", "order", "position_id", "volume", "price", "commission", "swap", "fee", "profit", "net")
SORTABLE = frozenset((*TEXT_COLUMNS, *NUMBER_COLUMNS, "time_msc", "time_utc_ms"))


class BadQuery(ValueError):
    """A sort or filter the grid sent that cannot be applied; the message names the column."""


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[dict[str, Any]]
    total: int


def deal_row(deal: Deal) -> dict[str, Any]:
    row = deal.to_dict()
    row["type_name"] = code_name(DEAL_TYPES, deal.type)
    row["entry_name"] = code_name(DEAL_ENTRIES, deal.entry)
    row["net"] = round(deal.profit + deal.commission + deal.swap + deal.fee, 8)
    return row


def _text_test(spec: dict[str, Any], column: str) -> Callable[[Any], bool]:
    kind, wanted = spec.get("type", "contains"), str(spec.get("filter", "")).lower()
    tests: dict[str, Callable[[str], bool]] = {
        "contains": lambda v: wanted in v,
        "notContains": lambda v: wanted not in v,
        "equals": lambda v: v == wanted,
        "notEqual": lambda v: v != wanted,
        "startsWith": lambda v: v.startswith(wanted),
        "endsWith": lambda v: v.endswith(wanted),
        "blank": lambda v: v == "",
        "notBlank": lambda v: v != "",
    }
    if kind not in tests:
        raise BadQuery(f"{column}: unsupported text filter {kind!r}")
    test = tests[kind]
    return lambda value: test(str(value).lower())


def _number_test(spec: dict[str, Any], column: str) -> Callable[[Any], bool]:
    kind = spec.get("type", "equals")
    try:
        low = float(spec["filter"]) if spec.get("filter") is not None else None
        high = float(spec["filterTo"]) if spec.get("filterTo") is not None else None
    except (TypeError, ValueError):
        raise BadQuery(f"{column}: filter value must be a number") from None
    if kind in ("blank", "notBlank"):
        return lambda value: (value is None) == (kind == "blank")
    if low is None:
        raise BadQuery(f"{column}: filter value must be a number")
    tests: dict[str, Callable[[float], bool]] = {
        "equals": lambda v: v == low,
        "notEqual": lambda v: v != low,
        "greaterThan": lambda v: v > low,
        "greaterThanOrEqual": lambda v: v >= low,
        "lessThan": lambda v: v < low,
        "lessThanOrEqual": lambda v: v <= low,
        "inRange": lambda v: high is not None and low <= v <= high,
    }
    if kind not in tests:
        raise BadQuery(f"{column}: unsupported number filter {kind!r}")
    return tests[kind]


def _column_test(column: str, spec: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
    if not isinstance(spec, dict):
        raise BadQuery(f"{column}: filter must be an object")
    if "conditions" in spec:
        if not isinstance(spec["conditions"], list):
            raise BadQuery(f"{column}: conditions must be a list")
        parts = [_column_test(column, condition) for condition in spec["conditions"]]
        if spec.get("operator", "AND") == "OR":
            return lambda row: any(part(row) for part in parts)
        return lambda row: all(part(row) for part in parts)
    if column in TEXT_COLUMNS:
        test = _text_test(spec, column)
    elif column in NUMBER_COLUMNS:
        test = _number_test(spec, column)
    else:
        raise BadQuery(f"{column}: this column cannot be filtered")
    return lambda row: test(row.get(column))


def _row_index(request: dict[str, Any], name: str, default: int) -> int:
    value = request.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadQuery(f"{name}: expected a row number")
    return max(0, int(value))


def page_of_deals(deals: Sequence[Deal], request: dict[str, Any] | None) -> Page:
    """Rows ``[startRow, endRow)`` after the request's filters and sort (newest first by default)."""
    request = request or {}
    filters = request.get("filterModel") or {}
    sorts = request.get("sortModel") or [{"colId": "time_msc", "sort": "desc"}]
    if not isinstance(filters, dict):
        raise BadQuery("filterModel: expected an object of column filters")
    if not isinstance(sorts, list) or not all(isinstance(sort, dict) for sort in sorts):
        raise BadQuery("sortModel: expected a list of {colId, sort}")
    start = _row_index(request, "startRow", 0)
    end = min(start + MAX_PAGE, max(start, _row_index(request, "endRow", start + 100)))
    rows = [deal_row(d) for d in deals]
    for column, spec in filters.items():
        test = _column_test(column, spec)
        rows = [row for row in rows if test(row)]
    for sort in reversed(sorts):
        column = sort.get("colId")
        if column not in SORTABLE:
            raise BadQuery(f"{column}: this column cannot be sorted")
        rows.sort(key=lambda row, c=column: (row.get(c) is None, row.get(c)), reverse=sort.get("sort") == "desc")
    return Page(rows[start:end], len(rows))
