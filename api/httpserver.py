"""The server of ``python app.py``: cheroot's threaded WSGI server, on Windows (where gunicorn does not run) as on
Linux, with ``/ws`` on real threads.

Werkzeug's development server starts a thread per connection without bound and says it is not for production.
cheroot (CherryPy's server, pure Python) runs a fixed pool of real threads, so no monkey-patching touches the
streamer's or Redis's threads (gevent would need it, and waitress cannot hand a socket over to a WebSocket). The
pool is sized as gunicorn's workers are (``WS_MAX_CONNECTIONS`` sockets plus ``REST_THREADS``), so requests find a
thread while every socket slot is taken. cheroot gives no socket to the application, so the gateway here does:
``/ws`` takes it (``api/wsconn.py``), and once the socket is done with the gateway writes nothing more on it and
closes the connection. ``bench/server.py`` measures it against Werkzeug's server.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from cheroot import wsgi

from api.wsconn import HAND_OVER_KEY, SOCKET_KEY

log = logging.getLogger(__name__)

REST_THREADS = 16  # threads kept for requests and Dash callbacks while every WebSocket slot is taken
SHUTDOWN_TIMEOUT_S = 1.0  # the runtime's stop has closed every socket already: requests end within this
SOCKET_TIMEOUT_S = 10  # a keep-alive connection idle (or a request stalled) this long is closed: cheroot's default


class BusyPort(OSError):
    """The address cannot be listened on (in use by another program, not this machine's, not allowed); the
    message says which and what to set."""


class Gateway(wsgi.Gateway_10):
    """WSGI 1.0, plus the connection's socket for ``/ws`` and a way to take the connection over."""

    def get_environ(self) -> dict[str, Any]:
        env = super().get_environ()
        env[SOCKET_KEY] = self.req.conn.socket
        env[HAND_OVER_KEY] = self.hand_over
        return env

    def hand_over(self) -> None:
        """The socket was a WebSocket's: no status line or header goes out on it any more, and it is closed."""
        self.req.sent_headers = True
        self.req.close_connection = True


class Server(wsgi.Server):
    """cheroot's server with the gateway above and its errors in this app's log."""

    def __init__(self, host: str, port: int, app: Callable[..., Any] | None, threads: int) -> None:
        super().__init__(
            (host, port), app, numthreads=threads, max=threads, timeout=SOCKET_TIMEOUT_S,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S, request_queue_size=128, server_name=host,
        )  # fmt: skip
        self.gateway = Gateway

    def listen(self) -> None:
        """Bind and listen now, before the runtime starts a thread: a port in use is a ``BusyPort`` naming it."""
        host, port = self.bind_addr
        probe(host, port)
        try:
            self.prepare()
        except OSError as exc:
            raise BusyPort(f"cannot listen on {host}:{port} ({exc})") from exc

    def error_log(self, msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        log.log(level, "%s", msg, exc_info=traceback)


def probe(host: str, port: int) -> None:
    """Bind the address once, as the server will (SO_REUSEADDR on POSIX), and raise ``BusyPort`` with the one-line
    reason when that fails; cheroot's and gunicorn's own errors do not name APP_PORT, and cheroot's keeps only the
    system's text."""
    try:
        socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET).close()
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        if exc.errno == errno.EADDRINUSE:
            raise BusyPort(f"port {port} on {host} is in use by another program ({reason}); stop it, or set "
                           "APP_PORT to a free port") from exc  # fmt: skip
        raise BusyPort(f"cannot listen on {host}:{port} ({reason}); set APP_HOST and APP_PORT to an address of "
                       "this machine") from exc  # fmt: skip


def threads_for(ws_max_connections: int) -> int:
    return ws_max_connections + REST_THREADS
