"""One subscriber thread per process, fanning Redis pub/sub messages out to WebSocket clients.

Each client has a bounded queue: a slow client loses its oldest messages and
never blocks the others or the subscriber. At most ``max_clients`` clients at a time: each holds
a server thread for as long as it stays, and the threads must not all go to sockets.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

import redis

from services.backoff import Backoff
from services.redis_conn import REDIS_ERRORS
from services.store import dumps, event

log = logging.getLogger(__name__)


class ClientQueue:
    """Messages waiting for one WebSocket client."""

    def __init__(self, maxlen: int) -> None:
        self._items: deque[str] = deque(maxlen=maxlen)
        self._ready = threading.Condition()
        self.dropped = 0
        self.closed = False

    def put(self, message: str) -> None:
        with self._ready:
            if len(self._items) == self._items.maxlen:
                self.dropped += 1
            self._items.append(message)
            self._ready.notify()

    def take(self, timeout: float) -> list[str]:
        """Everything queued, waiting up to ``timeout`` for the first message."""
        with self._ready:
            if not self._items and not self.closed:
                self._ready.wait(timeout)
            items = list(self._items)
            self._items.clear()
            return items

    def close(self) -> None:
        with self._ready:
            self.closed = True
            self._ready.notify_all()


class Fanout:
    def __init__(
        self,
        client: redis.Redis,
        pattern: str,
        *,
        max_clients: int,
        queue_size: int = 256,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._client = client
        self._pattern = pattern
        self.max_clients = max_clients
        self.refused = 0
        self._queue_size = queue_size
        self._backoff = backoff or Backoff(base_s=0.5, cap_s=2.0)
        self._clock = clock
        self._on_error = on_error or (lambda exc: log.error("fan-out error: %s", exc, exc_info=exc))
        self._clients: set[ClientQueue] = set()
        self._lock = threading.Lock()
        self._run = threading.Event()
        self._thread: threading.Thread | None = None
        self._idle = threading.Condition(self._lock)
        self.redis_up: bool | None = None
        self.messages = 0
        self.last_message_ms: int | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._run.set()
        self._thread = threading.Thread(target=self._loop, name="ws-fanout", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.5) -> None:
        """Close every client queue (their sockets send a close frame) and wait for them to leave."""
        self._run.clear()
        with self._lock:
            clients = list(self._clients)
        for queue in clients:
            queue.close()
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._clients and time.monotonic() < deadline:
                self._idle.wait(max(0.0, deadline - time.monotonic()))
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()) + 0.5)
            self._thread = None

    @property
    def stopping(self) -> bool:
        return not self._run.is_set()

    def register(self) -> ClientQueue | None:
        """A queue for a new client, or None when ``max_clients`` are connected already."""
        queue = ClientQueue(self._queue_size)
        with self._lock:
            if len(self._clients) >= self.max_clients:
                self.refused += 1
                return None
            if not self._run.is_set():
                queue.close()
            self._clients.add(queue)
        return queue

    def unregister(self, queue: ClientQueue) -> None:
        with self._idle:
            self._clients.discard(queue)
            self._idle.notify_all()

    def client_count(self) -> int:
        with self._lock:
            return len(self._clients)

    def dropped_total(self) -> int:
        with self._lock:
            return sum(queue.dropped for queue in self._clients)

    def broadcast(self, message: str) -> None:
        with self._lock:
            clients = list(self._clients)
        for queue in clients:
            queue.put(message)

    def _loop(self) -> None:
        failures = 0
        while self._run.is_set():
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.psubscribe(self._pattern)
                self._set_link(True)
                failures = 0
                while self._run.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is not None and message["type"] in ("pmessage", "message"):
                        self.messages += 1
                        self.last_message_ms = int(self._clock() * 1000)
                        self.broadcast(message["data"])
            except REDIS_ERRORS as exc:
                failures += 1
                self._set_link(False, exc)
                self._run_wait(self._backoff.compute(failures))
            except Exception as exc:  # noqa: BLE001 - the fan-out must outlive any single fault
                failures += 1
                self._on_error(exc)
                self._run_wait(self._backoff.compute(failures))
            finally:
                with contextlib.suppress(REDIS_ERRORS):
                    pubsub.close()

    def _run_wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self._run.is_set() and time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def _set_link(self, up: bool, exc: BaseException | None = None) -> None:
        """Tell the clients directly: while Redis is down no status can travel through it."""
        if self.redis_up == up:
            return
        was_known = self.redis_up is not None
        self.redis_up = up
        if up and was_known:
            log.info("fan-out: Redis subscription restored")
        elif not up:
            log.error("fan-out: Redis subscription lost (%s); retrying", type(exc).__name__ if exc else "")
        if was_known or not up:
            status = {"link": "redis", "redis": "up" if up else "down", "error": type(exc).__name__ if exc else None}
            self.broadcast(dumps(event("status", None, int(self._clock() * 1000), status)))
