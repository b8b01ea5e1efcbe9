"""The seed's REST API, on Dash's Flask server. Thin: parse, ask the runtime, serialise.

Routes read the streamer's in-memory state or Redis; they never call MT5 themselves.
"""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any

from flask import Blueprint, Response, abort, current_app, g, jsonify, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from api.params import BadParameter, parse_instant_ms, parse_range
from services.analytics.replay import account_at
from services.core import VERSION
from services.core.models import Snapshot
from services.core.settings import MAX_LOGIN
from services.runtime import Runtime, UnreadableSnapshot
from services.storage.redis_conn import REDIS_ERRORS

COMMAND_WAIT_S = 5.0
ACCOUNT_PREFIX = "/accounts/<login:account_login>"  # every account route again, for one account of several
CORS_METHODS = "GET, POST, OPTIONS"
CORS_HEADERS = {"none": "Content-Type", "basic": "Content-Type, Authorization"}  # by APP_AUTH
CORS_BLUEPRINTS: set[Blueprint] = set()  # the JSON API's (``json_api``)


class LoginConverter(IntegerConverter):
    """``<login:…>``, an account number in a path: a longer run of digits is no account (the JSON 404 of
    ``/accounts/…``), where ``<int:…>`` hands thousands of digits to ``int()`` and answers 500."""

    regex = rf"\d{{1,{len(str(MAX_LOGIN))}}}"


api = Blueprint("api", __name__)
account_api = Blueprint("account", __name__)


def runtime() -> Runtime:
    return current_app.extensions["mt5_runtime"]


def error(status: int, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify({"error": message, "status": status, **extra}), status


def bad_parameter(exc: BadParameter) -> tuple[Response, int]:
    return error(400, str(exc), parameter=exc.name)


def redis_unavailable(exc: Exception) -> tuple[Response, int]:
    return error(503, f"Redis is unavailable ({type(exc).__name__}); retry shortly")


def unreadable_snapshot(exc: UnreadableSnapshot) -> tuple[Response, int]:
    return error(502, str(exc))


def http_error(exc: HTTPException) -> tuple[Response, int]:
    return error(exc.code or 500, exc.description or exc.name)


def cors(response: Response) -> Response:
    """CORS only for the origins listed in CORS_ORIGINS; the dashboard itself is same-origin. Reading and the
    commands (GET, POST) with a JSON body, and the credentials header when APP_AUTH=basic asks for them."""
    settings = runtime().settings
    origin = request.headers.get("Origin")
    if origin and origin.rstrip("/") in settings.cors_origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
        response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS[settings.app_auth]
        response.headers.add("Vary", "Origin")
    return response


def cors_route() -> bool:
    """Whether the request's route answers with CORS headers: the JSON API's, not the page's nor Dash's."""
    return current_app.blueprints.get(request.blueprint or "") in CORS_BLUEPRINTS


def json_api(blueprint: Blueprint) -> Blueprint:
    """Every API blueprint answers errors in JSON (400 bad parameter, 503 Redis down) and sends CORS headers."""
    blueprint.register_error_handler(BadParameter, bad_parameter)
    blueprint.register_error_handler(HTTPException, http_error)
    blueprint.register_error_handler(UnreadableSnapshot, unreadable_snapshot)
    for redis_error in REDIS_ERRORS:
        blueprint.register_error_handler(redis_error, redis_unavailable)
    blueprint.after_request(cors)
    CORS_BLUEPRINTS.add(blueprint)
    return blueprint


def account_login() -> int | None:
    """The account a request is about: the one ``/accounts/<login>/…`` names, else this process's own."""
    return g.get("account_login") or runtime().login()


def pick_account(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values and "account_login" in values:
        g.account_login = values.pop("account_login")


def known_account() -> None:
    """After the authentication hook: a stranger must not learn which account numbers exist."""
    login = g.get("account_login")
    if login is not None and not runtime().knows(login):
        abort(404, f"no account {login} on this dashboard (GET /accounts lists them)")


def account_routes(blueprint: Blueprint) -> Blueprint:
    """A JSON API whose routes also answer under ``/accounts/<login>`` (see ``api.init_app``)."""
    blueprint.url_value_preprocessor(pick_account)
    blueprint.before_request(known_account)
    return json_api(blueprint)


json_api(api)
account_routes(account_api)


@api.get("/api")
def index() -> Response:
    links = [
        "/health",
        "/connection-status",
        "/account",
        "/account/cached",
        "/account/at?t=<ISO 8601 time>",
        "/positions",
        "/orders",
        "/deals",
        "/stats",
        "/trades",
        "/export/<name>.csv",
        "/alerts",
        "/alerts/<id>/ack",
        "/rules",
        "/accounts",
        "/accounts/<login>",
        "/accounts/<login>/account (and every account route above under /accounts/<login>)",
        "/overview",
        "/mt5/status",
        "/mt5/connect",
        "/mt5/disconnect",
        "/reconnect",
        "/ws",
    ]
    return jsonify({"name": "MT5 Real-time Account Dashboard", "version": VERSION, "links": links})


@api.get("/health")
def health() -> tuple[Response, int]:
    report = runtime().health()
    return jsonify(report), 503 if report["status"] == "down" else 200


@api.get("/connection-status")
def connection_status() -> Response:
    rt = runtime()
    status = rt.streamer.status()
    return jsonify(
        {
            "connected": status.mt5 == "connected",
            "state": status.mt5,
            "error": status.mt5_error,
            "error_code": status.mt5_error_code,
            "failures": status.failures,
            "next_retry_ms": status.next_retry_ms,
            "last_poll_ms": status.last_poll_ms,
            "login": status.login,
            "source": rt.source.info.kind,
            "redis": status.redis,
        }
    )


def _latest_or_503() -> tuple[Snapshot | None, Any]:
    login = account_login()
    latest = runtime().latest_snapshot(login)
    if latest is None:
        return None, error(503, f"no data yet for account {login}: its MT5 source has not answered", **_state())
    return latest, None


def _state() -> dict[str, Any]:
    rt = runtime()
    login = account_login()
    if login is not None and login != rt.login():
        status = rt.store.statuses([login]).get(login, {})
        return {"state": status.get("mt5"), "reason": status.get("mt5_error")}
    status = rt.streamer.status()
    return {"state": status.mt5, "reason": status.mt5_error}


def _with_age(payload: Any, ts_ms: int) -> Response:
    response = jsonify(payload)
    response.headers["X-Snapshot-Ts"] = str(ts_ms)
    return response


@account_api.get("/account")
def account() -> Any:
    latest, failure = _latest_or_503()
    return failure or _with_age(latest.account.to_dict(), latest.ts)


@account_api.get("/account/cached")
def account_cached() -> Any:
    login = account_login()
    cached = None if login is None else runtime().store.snapshot(login)
    if cached is None:
        return error(404, "no snapshot in Redis yet")
    return _with_age(cached["account"], cached["ts"])


@account_api.get("/account/at")
def account_replay() -> Any:
    """Balance, equity, margin, positions and orders as the archive recorded them at ``t``."""
    raw = request.args.get("t")
    t_ms = parse_instant_ms("t", raw)
    if t_ms is None:
        raise BadParameter("t", "an ISO 8601 date or datetime such as 2026-01-31T12:00:00Z", raw or "")
    if t_ms > time.time() * 1000:
        raise BadParameter("t", "a time not in the future", raw)
    archive = runtime().archive_reader
    if archive is None:
        return error(503, "this process keeps no archive: replay from the collector that polls the account")
    login = account_login()
    try:
        found = None if login is None else account_at(archive, login, t_ms)
    except SQLAlchemyError as exc:
        return error(503, f"the archive cannot be read ({type(exc).__name__}); retry shortly")
    if found is None:
        return error(404, f"nothing recorded for account {login} at or before {raw}")
    return jsonify(found)


@account_api.get("/positions")
def positions() -> Any:
    latest, failure = _latest_or_503()
    return failure or _with_age([p.to_dict() for p in latest.positions], latest.ts)


@account_api.get("/orders")
def orders() -> Any:
    latest, failure = _latest_or_503()
    return failure or _with_age([o.to_dict() for o in latest.orders], latest.ts)


@account_api.get("/deals")
def deals() -> Any:
    start, end = parse_range(request.args)
    login = account_login()
    if login is None:
        return error(503, "no account yet: the MT5 source has not answered", **_state())
    found = runtime().store.deals(login, start, end)
    return jsonify(
        {"account": login, "from": start, "to": end, "count": len(found), "deals": [d.to_dict() for d in found]}
    )


@api.get("/mt5/status")
def mt5_status() -> Response:
    rt = runtime()
    info = rt.source.info
    return jsonify(
        {
            "source": info.kind,
            "description": info.description,
            "details": info.details,
            "server_offset_s": rt.server_offset_s(),
            "status": rt.streamer.status().to_dict(),
        }
    )


def _command(name: str) -> tuple[Response, int]:
    future = runtime().streamer.request(name)
    try:
        result = future.result(timeout=COMMAND_WAIT_S)
    except concurrent.futures.TimeoutError:
        return jsonify({"accepted": True, "command": name, "status": runtime().streamer.status().to_dict()}), 202
    return jsonify({"accepted": True, "command": name, "status": result}), 200


@api.post("/mt5/connect")
def mt5_connect() -> tuple[Response, int]:
    return _command("connect")


@api.post("/mt5/disconnect")
def mt5_disconnect() -> tuple[Response, int]:
    return _command("disconnect")


@api.post("/reconnect")
def reconnect() -> tuple[Response, int]:
    return _command("reconnect")
