"""Who may use the app, from where, and the headers every response carries.

Authentication (``APP_AUTH=basic``) guards every route: the page, ``/_dash-*``, the
REST API, exports, assets and the ``/ws`` handshake. The WebSocket also checks the
``Origin`` header, since browsers send cookies and cached credentials cross-site.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request

from services.settings import Settings

REALM = 'Basic realm="MT5 Dashboard", charset="UTF-8"'
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Content-Security-Policy": "frame-ancestors 'none'; object-src 'none'; base-uri 'self'",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def credentials_match(settings: Settings, username: str | None, password: str | None) -> bool:
    """Constant-time over every configured user, so timing tells neither names nor passwords."""
    given_user = (username or "").encode()
    given_password = (password or "").encode()
    matched = False
    for name, secret in settings.app_users:
        user_ok = hmac.compare_digest(given_user, name.encode())
        password_ok = hmac.compare_digest(given_password, secret.reveal().encode())
        matched |= user_ok & password_ok
    return matched


def origin_allowed(origin: str | None, host: str, settings: Settings) -> bool:
    """Same origin, or one listed in CORS_ORIGINS; clients that send no Origin (scripts) are not browsers."""
    if origin is None:
        return True
    if origin.rstrip("/") in settings.cors_origins:
        return True
    return urlsplit(origin).netloc.lower() == host.lower()


def _settings() -> Settings:
    return current_app.extensions["mt5_runtime"].settings


def require_login() -> Response | None:
    settings = _settings()
    if settings.app_auth != "basic":
        return None
    auth = request.authorization
    if auth is not None and auth.type == "basic" and credentials_match(settings, auth.username, auth.password):
        return None
    response = Response('{"error": "authentication required", "status": 401}', 401, mimetype="application/json")
    response.headers["WWW-Authenticate"] = REALM
    return response


def check_websocket_origin() -> Response | None:
    if request.path != "/ws" or origin_allowed(request.headers.get("Origin"), request.host, _settings()):
        return None
    return Response('{"error": "origin not allowed", "status": 403}', 403, mimetype="application/json")


def add_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith(("/api", "/health", "/account", "/positions", "/orders", "/deals", "/stats")):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(server: Flask) -> None:
    server.before_request(require_login)
    server.before_request(check_websocket_origin)
    server.after_request(add_headers)
