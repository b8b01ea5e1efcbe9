"""Every component id of the page, in one place, so layouts and callbacks cannot drift apart."""

WS = "ws"
WS_ATTEMPT = "ws-attempt"
LINK_BADGE = "link-badge"
MT5_BADGE = "mt5-badge"
REDIS_BADGE = "redis-badge"
ACCOUNT_TITLE = "account-title"
SOURCE_NOTE = "source-note"
EQUITY_GRAPH = "equity-graph"
CHART_STATE = "chart-state"

KPI_FIELDS = ("balance", "equity", "profit", "margin", "margin_free", "margin_level")


def kpi_value(field: str) -> str:
    return f"kpi-{field.replace('_', '-')}"

# The dashboard's selected time range, {"from_ms": int | None, "to_ms": int | None} (UTC epoch ms; None = open end).
# Every panel that follows the range selector takes it as an Input.
RANGE = "range"
