"""gunicorn settings for production on Linux: ``gunicorn -c gunicorn.conf.py "app:wsgi()"``.

Threaded workers, because every open WebSocket holds a thread for as long as the page is open.
Each worker takes at most WS_MAX_CONNECTIONS sockets and has REST_THREADS threads more, so
requests always find a thread while every socket slot is taken.
All workers serve the dashboard; one of them (the holder of the Redis leader lock) polls MT5.
A real Redis is required: the embedded one cannot be shared between processes.

Stopping: a worker's SIGTERM (from the master's, or sent to it alone) only ends its accept loop; it then
waits for its requests, and a ``/ws`` request lasts as long as its page. So the hooks below stop the
runtime at once, on a thread of its own: every page gets close 1001 and its request ends, the streamer
writes its last polls and the rollup and releases the leader lock, the archive is flushed, and the
worker exits by itself within a second or two, well before ``graceful_timeout``.
"""

import os
import signal
import sys
from pathlib import Path
from typing import Any

from api.httpserver import BusyPort, probe
from services.core.settings import SettingsError, load_dotenv_file, ws_max_connections
from services.runtime import STOP_BOUND_S

REST_THREADS = 16  # threads a worker keeps for requests and Dash callbacks when its sockets are all taken

settings_env = {**load_dotenv_file(Path(__file__).resolve().parent / ".env"), **os.environ}
try:
    ws_cap = ws_max_connections(settings_env)
except SettingsError as exc:
    raise SystemExit(f"Invalid setting: {exc}") from None
bind = f"{os.environ.get('APP_HOST', '127.0.0.1')}:{os.environ.get('APP_PORT', '8050')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", ws_cap + REST_THREADS))
if threads <= ws_cap:
    raise SystemExit(
        f"Invalid setting: GUNICORN_THREADS: expected more than WS_MAX_CONNECTIONS ({ws_cap}), so that requests "
        f"still find a thread while every WebSocket slot is taken (got {threads})"
    )
timeout = 60
graceful_timeout = STOP_BOUND_S
keepalive = 5
accesslog = None
errorlog = "-"


def on_starting(server: Any) -> None:
    """A port in use ends the start at once with one line naming APP_PORT and exit status 2, as ``python app.py``
    does, instead of gunicorn's five retries and its own words."""
    for address in server.cfg.bind:
        if address.startswith(("unix:", "fd://")):
            continue
        host, _, port = address.rpartition(":")
        try:
            probe(host.strip("[]") or "0.0.0.0", int(port))
        except BusyPort as exc:
            print(f"Invalid setting: APP_PORT: {exc}", file=sys.stderr)
            raise SystemExit(2) from None


def _stop_runtime(worker: Any) -> None:
    worker.wsgi.extensions["mt5_runtime"].stop_in_background()


def post_worker_init(worker: Any) -> None:
    """SIGTERM does what gunicorn does with it (the accept loop ends), and starts the runtime's stop."""
    graceful = worker.handle_exit

    def handle_exit(signum: int, frame: Any) -> None:
        graceful(signum, frame)
        _stop_runtime(worker)

    signal.signal(signal.SIGTERM, handle_exit)


def worker_int(worker: Any) -> None:
    """SIGINT or SIGQUIT (Ctrl-C, a quick stop): the worker exits right after this, and its exit waits for the
    runtime's stop thread (not a daemon) while the pages it closes end their requests."""
    _stop_runtime(worker)
