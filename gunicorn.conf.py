"""gunicorn settings for production on Linux: ``gunicorn -c gunicorn.conf.py "app:wsgi()"``.

Threaded workers, because every open WebSocket holds a thread for as long as the page is open.
All workers serve the dashboard; one of them (the holder of the Redis leader lock) polls MT5.
A real Redis is required: the embedded one cannot be shared between processes.
"""

import os

bind = f"{os.environ.get('APP_HOST', '127.0.0.1')}:{os.environ.get('APP_PORT', '8050')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "64"))  # open pages per worker, plus a few for requests
timeout = 60
graceful_timeout = 5
keepalive = 5
accesslog = None
errorlog = "-"
