"""Risk alerts wired into the runtime: the engine listens to the streamer, the webhook has its own thread.

``attach_risk(runtime)`` builds everything and starts nothing; ``RiskEngine.start()/stop()`` run the
engine's ``alerts-redis`` worker and the webhook worker. The webhook's HTTP calls live on that worker:
the streamer only appends to a bounded queue, and a slow or dead endpoint can neither block polling
nor grow memory.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.alerts import AlertEngine
from services.backoff import Backoff
from services.rules import DEFAULT_RULES, RulesSettings, load_rules_file
from services.runtime import VERSION, Runtime
from services.store import dumps
from services.worker import Worker

log = logging.getLogger(__name__)

RETRYABLE_HTTP = (408, 425, 429)


class WebhookSender:
    """POSTs each alert event as JSON to ``ALERT_WEBHOOK_URL``, retried with backoff on its own thread.

    The URL may carry a token, so logs name only its host. A full queue drops its oldest alert.
    """

    def __init__(
        self,
        url: str,
        *,
        queue_size: int = 100,
        attempts: int = 5,
        backoff: Backoff | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self._url = url
        self.host = RulesSettings(webhook_url=url).webhook_host
        self.attempts = attempts
        self.timeout_s = timeout_s
        self._backoff = backoff or Backoff(base_s=1.0, cap_s=30.0)
        self._queue: deque[dict[str, Any]] = deque(maxlen=queue_size)
        self._ready = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self.last_error: str | None = None  # why the latest alert was not delivered; None once one is
        self.last_sent_ms: int | None = None

    def put(self, payload: dict[str, Any]) -> None:
        """Never blocks: the caller is the streamer thread."""
        with self._ready:
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1
            self._queue.append(payload)
            self._ready.notify()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="alert-webhook", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop retrying; an alert still queued is reported as not delivered."""
        if self._thread is None:
            return
        self._stop.set()
        with self._ready:
            self._ready.notify_all()
        self._thread.join(timeout)
        self._thread = None
        if self._queue:
            log.warning("alert webhook: %d alert(s) not delivered at shutdown", len(self._queue))

    def _take(self) -> dict[str, Any] | None:
        with self._ready:
            if not self._queue and not self._stop.is_set():
                self._ready.wait(0.5)
            return self._queue.popleft() if self._queue and not self._stop.is_set() else None

    def _loop(self) -> None:
        """Survives anything a delivery raises: one bad answer must never end the sending of every later alert."""
        while not self._stop.is_set():
            payload = self._take()
            if payload is None:
                continue
            try:
                self._deliver(payload)
            except Exception as exc:  # noqa: BLE001 - reported, counted, and the next alert is sent
                self.failed += 1
                self.last_error = type(exc).__name__
                log.error("alert webhook to %s: %s; alert not delivered", self.host, type(exc).__name__)

    def health(self) -> dict[str, Any]:
        """``degraded`` while the latest alert could not be delivered (or alerts were dropped from the queue)."""
        failing = self.last_error is not None
        return {
            "state": "degraded" if failing else "ok",
            "host": self.host,
            "alive": self._thread is not None and self._thread.is_alive(),
            "queued": len(self._queue),
            "sent": self.sent,
            "failed": self.failed,
            "dropped": self.dropped,
            "last_sent_ms": self.last_sent_ms,
            "error": self.last_error,
        }

    def _deliver(self, payload: dict[str, Any]) -> None:
        body = dumps(payload).encode("utf-8")
        reason = ""
        for attempt in range(1, self.attempts + 1):
            try:
                self._post(body)
            except urllib.error.HTTPError as exc:
                reason = f"HTTP {exc.code}"
                if exc.code < 500 and exc.code not in RETRYABLE_HTTP:
                    break  # the endpoint refuses this request; repeating it cannot help
            except (OSError, ValueError, http.client.HTTPException) as exc:  # refused, timeouts, a non-HTTP answer
                reason = type(exc).__name__
            else:
                self.sent += 1
                self.last_sent_ms = int(time.time() * 1000)
                self.last_error = None
                return
            if attempt < self.attempts and self._stop.wait(self._backoff.compute(attempt)):
                break
        self.failed += 1
        self.last_error = reason
        log.warning("alert webhook to %s failed (%s); alert %s not delivered", self.host, reason, payload["data"]["id"])

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(
            self._url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": f"mt5-dashboard/{VERSION}"},
        )
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            response.read(65_536)


@dataclass
class RiskEngine:
    """The alert engine plus the webhook worker it feeds; ``start``/``stop`` follow the runtime's."""

    alerts: AlertEngine
    settings: RulesSettings
    webhook: WebhookSender | None = None

    def start(self) -> None:
        self.alerts.start()
        if self.webhook is not None:
            self.webhook.start()

    def stop(self) -> None:
        self.alerts.stop()
        if self.webhook is not None:
            self.webhook.stop()

    def workers(self) -> list[Worker]:
        """The engine's ``alerts-redis`` worker (the webhook keeps its own thread)."""
        return [self.alerts.worker]


def attach_risk(runtime: Runtime, settings: RulesSettings | None = None) -> RiskEngine:
    """Build the engine from ``RULES_FILE`` (or the margin defaults) and listen to the streamer.

    The engine records into the runtime's archive when this process keeps one; ``/health`` gets its section.

    Raises SettingsError (RuleError for the file's content) naming the variable, file, line and field.
    """
    settings = settings or RulesSettings.of(runtime.settings)
    rules = load_rules_file(settings.rules_file) if settings.rules_file else DEFAULT_RULES
    webhook = WebhookSender(settings.webhook_url) if settings.webhook_url else None
    notify: Callable[[dict[str, Any]], None] | None = webhook.put if webhook else None
    engine = AlertEngine(runtime.store, rules, archive=runtime.archive, notify=notify)
    runtime.streamer.add_listener(engine.evaluate)
    runtime.add_health("alerts", engine.health)
    if webhook is not None:
        runtime.add_health("webhook", webhook.health)
    log.info(
        "Risk rules: %s (%d rules); alert webhook: %s",
        settings.rules_file or "built-in margin rules",
        len(rules.rules),
        webhook.host if webhook else "off",
    )
    return RiskEngine(engine, settings, webhook)
