"""``GET /accounts``: every account on this Redis side by side, with its collector's health and totals per currency.

``GET /accounts/<login>`` is one account's line; the other routes under ``/accounts/<login>/`` are the
single-account routes for that account (registered in ``api.init_app``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from api.rest import error, json_api
from services.fleet.overview import combined, currency_totals
from services.runtime import Runtime

accounts_api = json_api(Blueprint("accounts", __name__))


def _runtime() -> Runtime:
    return current_app.extensions["mt5_runtime"]


@accounts_api.get("/accounts")
def accounts() -> Response:
    rt = _runtime()
    lines = rt.account_lines()
    totals = currency_totals(lines, dict(rt.settings.fx_rates))
    total = combined(totals, rt.settings.report_currency)
    return jsonify(
        {
            "accounts": [line.to_dict() for line in lines],
            "currencies": [t.to_dict() for t in totals],
            "combined": None if total is None else total.to_dict(),
        }
    )


@accounts_api.get("/accounts/<login:login>")
def one_account(login: int) -> Any:
    for line in _runtime().account_lines():
        if line.login == login:
            return jsonify(line.to_dict())
    return error(404, f"no account {login} on this dashboard (GET /accounts lists them)")


@accounts_api.route("/accounts/<path:rest>", methods=["GET", "POST", "PUT", "DELETE"])
def unknown_account_route(rest: str) -> Any:
    """Under /accounts/ only account numbers and their routes: anything else is a JSON 404, not the page."""
    return error(404, f"no such route /accounts/{rest[:80]} (an account number, then a route from GET /api)")
