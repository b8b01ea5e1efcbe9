"""gunicorn settings for production on Linux: ``gunicorn -c gunicorn.conf.py "app:wsgi()"``.

Threaded workers, because every open WebSocket holds a thread for as long as the page is open.
Each worker takes at most WS_MAX_CONNECTIONS sockets and has REST_THREADS threads more, so
requests always find a thread while every socket slot is taken.
All workers serve the dashboard; one of them (the holder of the Redis leader lock) polls MT5.
A real Redis is required: the embedded one cannot be shared between processes.
"""

import os
from pathlib import Path

from services.settings import SettingsError, load_dotenv_file, ws_max_connections

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
graceful_timeout = 5
keepalive = 5
accesslog = None
errorlog = "-"
