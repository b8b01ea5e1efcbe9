"""HTTP and WebSocket routes on Dash's Flask server; each area is one blueprint."""

from __future__ import annotations

from flask import Flask

from api import pages, security, ws
from api.accounts import accounts_api
from api.alerts import alerts_api
from api.analytics import analytics
from api.rest import ACCOUNT_PREFIX, LoginConverter, account_api
from api.rest import api as rest_api


def init_app(server: Flask) -> None:
    """Attach every route behind one door: the seed's REST API, ``/ws``, and each feature's blueprint.

    The routes about one account answer twice: as the seed had them, for this process's own account,
    and under ``/accounts/<login>`` for any account on the Redis.
    """
    server.url_map.converters["login"] = LoginConverter
    security.init_app(server)
    pages.init_app(server)
    server.register_blueprint(rest_api)
    server.register_blueprint(accounts_api)
    for blueprint in (account_api, analytics, alerts_api):
        server.register_blueprint(blueprint)
        server.register_blueprint(blueprint, url_prefix=ACCOUNT_PREFIX, name=f"{blueprint.name}_by_account")
    ws.init_app(server)
