"""The dashboard's live link: the page applies each frame the server rendered for it, and tells it its view.

``/ws?view=page`` sends ``render`` frames: the page's changes, built in Python once per view
(``views/page.py``), as props by component id. One clientside function (``assets/live.js``) sets them with
``dash_clientside.set_props`` and acknowledges the frame on the socket, so no Dash request is made per batch
and nothing of a frame travels back. Another sends the page's view (the browser's zone, a replay, the
charts a range or zoom loaded) whenever it changes or the socket opens: the server renders that view.
"""

from __future__ import annotations

from dash import Dash, Input

from callbacks.client import live_link
from layouts import ids


def register(app: Dash) -> None:
    view = (Input(ids.CLIENT, "data"), Input(ids.REPLAY, "data"), Input(ids.CHART_STATE, "data"))
    live_link(app, ids.WS, view, charts=ids.CHART_STATE)
