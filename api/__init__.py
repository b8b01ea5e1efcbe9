"""HTTP and WebSocket routes on Dash's Flask server; each area is one blueprint."""

from __future__ import annotations

from flask import Flask

from api import security, ws
from api.accounts import accounts_api
from api.alerts import alerts_api
from api.analytics import analytics
from api.rest import api as rest_api


def init_app(server: Flask) -> None:
    """Attach every route: the seed's REST API, ``/ws``, and each feature's blueprint, behind one door."""
    security.init_app(server)
    server.register_blueprint(rest_api)
    server.register_blueprint(alerts_api)
    server.register_blueprint(analytics)
    server.register_blueprint(accounts_api)
    ws.init_app(server)
