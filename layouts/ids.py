"""Every component id of the page, in one place, so layouts and callbacks cannot drift apart."""

PAGE = "page"
WS = "ws"
PROTOCOL = "protocol"  # the /ws protocol version this page speaks (services/core/protocol.py)
LOCATION = "location"
CLIENT = "client"  # {"width": px, "tz": the browser's IANA zone, "clock": CLOCK's value}: what times are shown in
CLOCK = "clock"  # the clock chosen for every time (broker | local | utc), kept in the browser's localStorage
CLOCK_PICKER = "clock-picker"  # "Times: Broker (UTC+2) / Local (Europe/…) / UTC" in the header
THEME = "theme"  # "light" | "dark", kept in the browser's localStorage
THEME_TOGGLE = "theme-toggle"
LINKS = "links"  # ages of the last MT5 / Redis / live-link updates, read by assets/mt5.js

ACCOUNT_TITLE = "account-title"
ACCOUNT_SWITCH = "account-switch"  # the accounts on this Redis; picking one opens /a/<login>
ACCOUNT_DETAILS = "account-details"
TRADE_MODE = "trade-mode"
MARGIN_MODE = "margin-mode"
SOURCE_NOTE = "source-note"
STALE_BANNER = "stale-banner"
LINK_NAMES = ("mt5", "redis", "live")


def link_badge(name: str) -> str:
    return f"badge-{name}"


def link_age(name: str) -> str:
    return f"age-{name}"


def link_wrap(name: str) -> str:
    return f"link-{name}"


# The overview page (/overview/): every account side by side (layouts/overview.py, callbacks/overview.py).
OVERVIEW_WS = "overview-ws"
OVERVIEW_SUMMARY = "overview-summary"
OVERVIEW_BANNER = "overview-banner"
OVERVIEW_TABLE = "overview-table"
OVERVIEW_CURRENCIES = "overview-currencies"
OVERVIEW_CHART = "overview-chart"
OVERVIEW_EQUITY = "overview-equity"  # the accounts' equity summed over time
OVERVIEW_LINK = "overview-link"  # from an account page to the overview


def overview_row(login: int) -> str:
    return f"overview-row-{login}"


DAY_START = "day-start"  # the account at the broker's midnight, for today's P/L and the KPI changes


def kpi_value(field: str) -> str:
    return f"kpi-{field.replace('_', '-')}"


def kpi_delta(field: str) -> str:
    return f"kpi-{field.replace('_', '-')}-delta"


def kpi_card(field: str) -> str:
    return f"kpi-{field.replace('_', '-')}-card"


RANGE_BUTTONS = "range-buttons"
RANGE_DATES = "range-dates"
RANGE_DATE_INPUTS = ("range-date-start", "range-date-end")  # the date picker's two text fields (DOM ids)
RANGE_HINT = "range-hint"  # what Custom still needs (its days), while the range shown stays
EQUITY_GRAPH = "equity-graph"
MARGIN_GRAPH = "margin-graph"
DRAWDOWN_GRAPH = "drawdown-graph"
CHART_STATE = "chart-state"  # login, last drawn point, equity peak, the view (range end, zoom), live or paused, rev
CHART_PAUSED = "chart-paused"  # shown while a zoom into the past keeps live points off the charts
CHART_LIVE = "chart-live"  # "Back to live": undo the zoom, follow new points again
CHART_ZOOM = "chart-zoom"  # the balance/equity chart's relayoutData, only when it is a zoom or a zoom reset
CHART_RELOAD = "chart-reload"  # set by the server when the charts must be read again (reconnect, history synced)
CHART_NOTE = "chart-note"
HISTORY_SYNC = "history-sync"  # "Reading history from the terminal: n of m deals", shown while the sync runs
HISTORY_SYNC_TEXT = "history-sync-text"
HISTORY_SYNC_BAR = "history-sync-bar"

POSITIONS_GRID = "positions-grid"
ORDERS_GRID = "orders-grid"
DEALS_GRID = "deals-grid"
DEALS_VERSION = "deals-version"  # bumped when new deals arrive, so the deals grid refetches
POSITIONS_COUNT = "positions-count"
ORDERS_COUNT = "orders-count"

# Replay (layouts/replay.py, callbacks/replay.py): the account at a past moment, from the archive.
REPLAY = "replay"  # {"t_ms": moment shown} while replaying; {"back_ms": when} after "Back to live"; None before
REPLAY_DATE = "replay-date"
REPLAY_TIME = "replay-time"
REPLAY_CLOCK = "replay-clock"  # which clock the date and time are read in
REPLAY_SHOW = "replay-show"
REPLAY_MESSAGE = "replay-message"  # why a moment cannot be shown
REPLAY_BANNER = "replay-banner"  # shown while replaying; assets/mt5.js reads its hidden attribute
REPLAY_TEXT = "replay-text"
REPLAY_LIVE = "replay-live"  # "Back to live"

# The dashboard's selected time range, {"from_ms": int | None, "to_ms": int | None} (UTC epoch ms; None = open end)
# and the clock it is drawn in ("clock": an export's tz). Every panel that follows the range selector or the clock
# takes it as an Input.
RANGE = "range"

# Analytics panels (layouts/analytics.py, callbacks/analytics.py).
ANALYTICS_STATS = "analytics-stats"
ANALYTICS_RECONCILIATION = "analytics-reconciliation"
ANALYTICS_DOWNLOADS = "analytics-downloads"
ANALYTICS_MONTHLY = "analytics-monthly"
ANALYTICS_BY_SYMBOL = "analytics-by-symbol"
ANALYTICS_BY_DIRECTION = "analytics-by-direction"
ANALYTICS_BY_HOUR = "analytics-by-hour"
ANALYTICS_BY_WEEKDAY = "analytics-by-weekday"
ANALYTICS_HISTOGRAM = "analytics-histogram"
ANALYTICS_DRAWDOWNS = "analytics-drawdowns"

# Risk rules and alerts (layouts/alerts.py, callbacks/alerts.py, assets/alerts.js).
ALERTS_NEW = "alerts-new"  # the alerts just raised, for browser notifications
ALERTS_NOTIFY = "alerts-notify"  # true once the user opted in to browser notifications (localStorage)
ALERTS_NOTIFY_BUTTON = "alerts-notify-button"
ALERTS_BANNER = "alerts-banner"
ALERTS_TOASTS = "alerts-toasts"
RULES_PANEL = "rules-panel"
RULES_SOURCE = "rules-source"
RULES_ROWS = "rules-rows"
RULES_EDIT = "rules-edit"
RULES_EDITOR_WRAP = "rules-editor-wrap"
RULES_EDITOR = "rules-editor"
RULES_SAVE = "rules-save"
RULES_REVERT = "rules-revert"
RULES_MESSAGE = "rules-message"
