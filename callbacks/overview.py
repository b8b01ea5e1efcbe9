"""The overview page: its socket's frames set the accounts table, the totals and the chart.

The server renders them once per theme (``views/overview.py``); the page only applies them
(``callbacks/client.py``, ``assets/live.js``), and tells its socket its theme.
"""

from __future__ import annotations

from dash import Dash, Input

from callbacks.client import live_link, live_socket_and_theme
from layouts import ids


def register(app: Dash) -> None:
    live_socket_and_theme(app, ids.OVERVIEW_WS)
    live_link(app, ids.OVERVIEW_WS, (Input(ids.THEME, "data"),))
