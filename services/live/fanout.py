"""One subscriber thread per process, fanning Redis pub/sub messages out to WebSocket clients.

Each message is parsed once, here (``Message``), its account read from its channel. Plain clients get it in
their queue; pages get what their view renders of it (``taps``: the view hub, ``services/live/viewhub.py``). Each
client has a bounded queue: a slow client loses its oldest items and never blocks the others or the
subscriber. At most ``max_clients`` clients at a time: each holds a server thread for as long as it stays,
and the threads must not all go to sockets.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import redis

from services.core.backoff import Backoff
from services.core.protocol import STATUS, Message, event
from services.core.worker import Worker
from services.storage.redis_conn import REDIS_ERRORS

log = logging.getLogger(__name__)

LISTEN_S = 0.5  # the longest wait for a message in one step: how soon a stop is noticed


class ClientQueue:
    """What waits for one WebSocket client: messages, or the renderings of its page's view (``raw`` False)."""

    def __init__(self, maxlen: int, raw: bool = True) -> None:
        self.raw = raw
        self._items: deque[Any] = deque(maxlen=maxlen)
        self._ready = threading.Condition()
        self.dropped = 0
        self.closed = False
        self._woken = False
        self._early = False  # a take waits for the first item (else a batch waits its interval: puts let it sleep)

    def put(self, item: Any) -> None:
        with self._ready:
            if len(self._items) == self._items.maxlen:
                self.dropped += 1
            self._items.append(item)
            if self._early:
                self._ready.notify()

    def clear(self) -> None:
        """Drop what waits: a whole rendering of the page supersedes it."""
        with self._ready:
            self._items.clear()

    def wake(self) -> None:
        """End a ``take`` that waits: the socket's client sent a frame or went (its reader thread calls this), so
        the socket's thread sleeps on this queue alone, not on the queue and the socket in turn."""
        with self._ready:
            self._woken = True
            self._ready.notify()

    def take(self, timeout: float, early: bool = True) -> list[Any]:
        """Everything queued, waiting up to ``timeout`` for the first message or a ``wake``. ``early`` False: the
        whole ``timeout`` whatever is put meanwhile (a batch waiting its interval, or for the client's ack), so
        each message put does not wake the socket's thread for nothing; only a ``wake`` or ``close`` ends it."""
        with self._ready:
            if not self.closed and not self._woken and (not early or not self._items):
                self._early = early
                self._ready.wait(timeout)
                self._early = False
            self._woken = False
            items = list(self._items)
            self._items.clear()
            return items

    def close(self) -> None:
        with self._ready:
            self.closed = True
            self._ready.notify_all()


class Tap(Protocol):
    """Takes every message on the fan-out's thread (the view hub renders each once per page view)."""

    def publish(self, message: Message) -> None: ...

    def tick(self) -> None: ...


class Fanout:
    """The ``ws-fanout`` worker: each step waits up to ``LISTEN_S`` for a pub/sub message and hands it to every client.

    A lost subscription (or any other fault) is dropped and taken again after a backoff, told once.
    """

    def __init__(
        self,
        client: redis.Redis,
        pattern: str,
        *,
        login_of_channel: Callable[[str], int | None],
        max_clients: int,
        queue_size: int = 256,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._client = client
        self._pattern = pattern
        self._login_of_channel = login_of_channel
        self.taps: list[Tap] = []  # each gets every message once, and a tick while none comes
        self.max_clients = max_clients
        self.refused = 0
        self._queue_size = queue_size
        self._clock = clock
        self._on_error = on_error or (lambda exc: log.error("fan-out error: %s", exc, exc_info=exc))
        self._clients: set[ClientQueue] = set()
        self._lock = threading.Lock()
        self._open = threading.Event()  # clients are taken from start() until stop()
        self._idle = threading.Condition(self._lock)
        self._pubsub: Any = None  # the subscription, on the worker's thread only
        self.worker = Worker(
            "ws-fanout",
            self._listen,
            interval_s=0.0,
            on_error=self._fault,
            on_stop=self._unsubscribe,
            backoff=backoff or Backoff(base_s=0.5, cap_s=2.0),
        )
        self.redis_up: bool | None = None
        self.messages = 0
        self.last_message_ms: int | None = None

    def start(self) -> None:
        self._open.set()
        self.worker.start()

    def stop(self, timeout: float = 1.5) -> None:
        """Close every client queue (their sockets send a close frame) and wait for them to leave."""
        self._open.clear()
        with self._lock:
            clients = list(self._clients)
        for queue in clients:
            queue.close()
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._clients and time.monotonic() < deadline:
                self._idle.wait(max(0.0, deadline - time.monotonic()))
        self.worker.stop(max(0.0, deadline - time.monotonic()) + LISTEN_S)

    def register(self, raw: bool = True) -> ClientQueue | None:
        """A queue for a new client, or None when ``max_clients`` are connected already. ``raw`` False: a page's,
        which its view fills."""
        queue = ClientQueue(self._queue_size, raw)
        with self._lock:
            if len(self._clients) >= self.max_clients:
                self.refused += 1
                return None
            if not self._open.is_set():
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

    def broadcast(self, message: Message) -> None:
        with self._lock:
            clients = [queue for queue in self._clients if queue.raw]
        for queue in clients:
            queue.put(message)
        for tap in self.taps:
            tap.publish(message)

    def _listen(self) -> float:
        """Subscribe if needed, then pass on the next message (a wait with none is idle). A fault of the
        subscription drops it; any fault ends the step, and the worker backs off."""
        try:
            if self._pubsub is None:
                self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                self._pubsub.psubscribe(self._pattern)
                self._set_link(True)
                return 0.0
            message = self._pubsub.get_message(timeout=LISTEN_S)
        except Exception as exc:  # a subscription that failed is not used again
            self._unsubscribe()
            if isinstance(exc, REDIS_ERRORS):
                self._set_link(False, exc)
            raise
        if message is None or message["type"] not in ("pmessage", "message"):
            for tap in self.taps:
                tap.tick()
            self.worker.idle()
            return 0.0
        self.messages += 1
        self.last_message_ms = int(self._clock() * 1000)
        self.broadcast(Message.of_text(message["data"], self._login_of_channel(message["channel"])))
        return 0.0

    def _unsubscribe(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(REDIS_ERRORS):
                pubsub.close()

    def _fault(self, exc: BaseException) -> None:
        """Once per streak of failures: Redis going away is an outage, anything else a fault of this program."""
        if isinstance(exc, REDIS_ERRORS):
            log.error("fan-out: Redis subscription lost (%s); retrying", type(exc).__name__)
        else:
            self._on_error(exc)

    def _set_link(self, up: bool, exc: BaseException | None = None) -> None:
        """Tell the clients directly: while Redis is down no status can travel through it."""
        if self.redis_up == up:
            return
        was_known = self.redis_up is not None
        self.redis_up = up
        if was_known or not up:
            status = {"link": "redis", "redis": "up" if up else "down", "error": type(exc).__name__ if exc else None}
            self.broadcast(Message.of_event(event(STATUS, None, int(self._clock() * 1000), status)))
