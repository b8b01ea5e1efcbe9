"""Who may use the app, from where, and the headers every response carries.

Authentication (``APP_AUTH=basic``) guards every route: the page, ``/_dash-*``, the
REST API, exports, assets and the ``/ws`` handshake; only a CORS preflight from an origin in
``CORS_ORIGINS`` to a JSON API route is answered without credentials, as browsers never send
them on one, and so is ``/livez``, which answers "ok" and nothing more. Whatever the authentication:
- the ``Host`` header must name this machine (loopback, ``APP_HOST`` or ``ALLOWED_HOSTS``), so a
  DNS-rebinding page that makes the browser call ``evil.example`` resolved to 127.0.0.1 gets a 400;
- a request that changes something (any method but GET, HEAD, OPTIONS; Dash's update route included)
  from another site is refused: a browser says so in ``Sec-Fetch-Site`` and ``Origin``, which a page
  cannot forge. Scripts that send neither (curl, the tests) are not browsers and pass;
- the WebSocket handshake checks ``Origin`` too, since browsers send cookies and cached credentials
  cross-site;
- a request body larger than ``MAX_REQUEST_BYTES`` is a 413 before anything reads it.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request

from api.rest import cors_route
from services.core.settings import Settings

REALM = 'Basic realm="MT5 Dashboard", charset="UTF-8"'
LIVENESS_PATH = "/livez"  # says only that the process answers: open to any health checker, with or without APP_AUTH
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


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
ANY_ADDRESS = ("0.0.0.0", "::", "")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def host_name(host: str) -> str:
    """``Host`` without its port, lower-case, IPv6 brackets removed."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_allowed(host: str, settings: Settings) -> bool:
    name = host_name(host)
    allowed = {*LOOPBACK_HOSTS, *(host_name(h) for h in settings.allowed_hosts)}
    if settings.app_host not in ANY_ADDRESS:
        allowed.add(host_name(settings.app_host))
    return name in allowed or name.endswith(".localhost")


def cross_site_write(method: str, headers: Mapping[str, str], host: str, settings: Settings) -> bool:
    """A state-changing request that a browser says comes from another site (or an origin not allowed)."""
    if method.upper() in SAFE_METHODS:
        return False
    origin = headers.get("Origin")
    if origin is not None and origin != "null":
        return not origin_allowed(origin, host, settings)
    if origin == "null":  # a sandboxed frame, a file:// page, a redirect across sites
        return True
    return headers.get("Sec-Fetch-Site", "none") not in ("same-origin", "none")


def _settings() -> Settings:
    return current_app.extensions["mt5_runtime"].settings


def cors_preflight(method: str, headers: Mapping[str, str], settings: Settings) -> bool:
    """A browser's CORS preflight from an origin in CORS_ORIGINS. Browsers never send credentials on one, and it
    reads nothing: it is answered without them (on the JSON API's routes only)."""
    origin = (headers.get("Origin") or "").rstrip("/")
    return method == "OPTIONS" and "Access-Control-Request-Method" in headers and origin in settings.cors_origins


def require_login() -> Response | None:
    settings = _settings()
    if settings.app_auth != "basic" or (cors_preflight(request.method, request.headers, settings) and cors_route()):
        return None
    if request.path == LIVENESS_PATH:
        return None
    auth = request.authorization
    if auth is not None and auth.type == "basic" and credentials_match(settings, auth.username, auth.password):
        return None
    response = Response('{"error": "authentication required", "status": 401}', 401, mimetype="application/json")
    response.headers["WWW-Authenticate"] = REALM
    return response


def _refuse(status: int, message: str) -> Response:
    return Response(json.dumps({"error": message, "status": status}), status, mimetype="application/json")


def check_host() -> Response | None:
    """Any name may ask ``/livez`` (a checker in a container calls the app by its service name): it reads nothing."""
    settings = _settings()
    if host_allowed(request.host, settings) or request.path == LIVENESS_PATH:
        return None
    return _refuse(400, f"host {host_name(request.host)[:100]!r} is not served here: add it to ALLOWED_HOSTS")


def check_cross_site() -> Response | None:
    settings = _settings()
    if cross_site_write(request.method, request.headers, request.host, settings):
        return _refuse(403, "cross-site request refused: change the dashboard from its own page")
    return None


def check_body_size() -> Response | None:
    """A body announced larger than MAX_REQUEST_BYTES is refused before anything reads it; one sent in chunks is
    read up to the limit only (Flask's ``MAX_CONTENT_LENGTH``), so a route sees it cut and refuses it."""
    limit = _settings().max_request_bytes
    if request.content_length is not None and request.content_length > limit:
        return _refuse(413, f"the request body is larger than MAX_REQUEST_BYTES ({limit} bytes)")
    return None


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


def liveness() -> Response:
    """The process answers and its streamer runs (``/health``'s "down"); everything else is ``/health``'s, behind
    authentication."""
    if not current_app.extensions["mt5_runtime"].streamer.running:
        return Response("down\n", 503, mimetype="text/plain", headers={"Cache-Control": "no-store"})
    return Response("ok\n", 200, mimetype="text/plain", headers={"Cache-Control": "no-store"})


def init_app(server: Flask) -> None:
    server.add_url_rule(LIVENESS_PATH, "liveness", liveness, methods=["GET", "HEAD"])
    server.config["MAX_CONTENT_LENGTH"] = server.extensions["mt5_runtime"].settings.max_request_bytes
    server.before_request(check_host)
    server.before_request(check_body_size)
    server.before_request(check_cross_site)
    server.before_request(check_websocket_origin)  # a foreign page gets 403 whether or not it sent credentials
    server.before_request(require_login)
    server.after_request(add_headers)
