"""The ``alert-webhook`` worker: at-least-once delivery of every alert to ``ALERT_WEBHOOK_URL``.

Each alert goes into the archive's outbox (``services/storage/archive/outbox.py``) through the archive writer
with the alert itself, before any attempt; the streamer only appends in memory. This worker POSTs the
undelivered alerts of the account this process polls, oldest first, and retries with backoff until the
endpoint answers 2xx, whatever it answered before (garbage, a 500, a timeout, nothing). Only then is an
alert marked delivered, so a crash in between sends it again: every POST carries the alert's stable id
(``Idempotency-Key: <login>-<alert id>``, and ``data.id`` in the body) for receivers to de-duplicate.
A restart sends what is still undelivered. At most ``QUEUE_CAP`` undelivered alerts are kept per account:
past it the oldest go, with one warning and a count in ``/health``.
"""

from __future__ import annotations

import http.client
import logging
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from services.core import VERSION
from services.core.backoff import Backoff
from services.core.protocol import dumps
from services.core.worker import DEGRADING, Streak, Worker
from services.risk.rules import RulesSettings
from services.storage.archive import ArchiveUnavailable, ArchiveWriter, WebhookItem, WebhookMark
from services.storage.archive.outbox import Pending, backlog, drop_oldest, pending

log = logging.getLogger(__name__)

QUEUE_CAP = 5_000  # undelivered alerts kept per account
LATE_AFTER_S = 60.0  # an alert waiting longer than this for its 2xx turns /health degraded
BATCH = 100  # undelivered alerts read per step
IDLE_S = 1.0  # with nothing to send: how soon a new leadership (or another process's alert) is noticed
POST_ERRORS = (OSError, ValueError, http.client.HTTPException)  # refused, timeouts, HTTP errors, non-HTTP answers


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        """A redirected POST would arrive as a GET without its body: a 3xx is not a delivery."""
        return None


OPENER = urllib.request.build_opener(_NoRedirect)


def reason(exc: BaseException) -> str:
    """Short enough for /health: the status of an HTTP error, else the kind of failure (a refused connection
    rather than urllib's URLError around it)."""
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return f"HTTP {code}"
    cause = getattr(exc, "reason", None)
    return type(cause if isinstance(cause, BaseException) else exc).__name__


class WebhookSender:
    """Sends the outbox of the account ``owner()`` returns (None: another process polls it, nothing is sent).

    The URL may carry a token, so logs and ``/health`` name only its host.
    """

    def __init__(
        self,
        url: str,
        writer: ArchiveWriter,
        owner: Callable[[], int | None],
        *,
        cap: int = QUEUE_CAP,
        late_after_s: float = LATE_AFTER_S,
        backoff: Backoff | None = None,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._url = url
        self.host = RulesSettings(webhook_url=url).webhook_host
        self._writer = writer
        self._owner = owner
        self.cap = cap
        self.late_after_s = late_after_s
        self.timeout_s = timeout_s
        self._clock = clock
        self._backoff = backoff or Backoff(base_s=1.0, cap_s=30.0)
        self._posts = Streak(f"alert webhook to {self.host}", self._refused)
        self.worker = Worker(
            "alert-webhook", self._step, interval_s=IDLE_S, on_error=self._fault, backoff=self._backoff
        )
        writer.watch_webhook(self.worker.wake)
        self._unmarked: set[int] = set()  # rows delivered whose mark the writer has not written yet
        self._pending = 0
        self._oldest_ms: int | None = None
        self._overflowing = False
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self.last_error: str | None = None  # why the latest attempt failed; None once one succeeds
        self.last_sent_ms: int | None = None

    def put(self, payload: dict[str, Any]) -> None:
        """An alert event to deliver; never blocks (the caller is the streamer thread)."""
        item = WebhookItem(int(payload["account"]), str(payload["data"]["id"]), self._now_ms(), dumps(payload))
        if self._writer.submit_webhook(item, self.cap):
            self._dropped(1)

    def start(self) -> None:
        self.worker.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop sending; what is undelivered stays in the outbox for the next start."""
        self.worker.stop(timeout)
        if self._pending:
            log.warning("alert webhook: %d alert(s) not delivered yet; sent after the next start", self._pending)

    def health(self) -> dict[str, Any]:
        """``degraded`` while an alert has waited longer than ``late_after_s`` (or the worker fails)."""
        oldest = self._oldest_ms
        age = None if oldest is None else round(max(0, self._now_ms() - oldest) / 1000, 3)
        late = age is not None and age > self.late_after_s
        return {
            "state": "degraded" if late or self.worker.state in DEGRADING else "ok",
            "host": self.host,
            "alive": self.worker.running,
            "sending": self._owner() is not None,
            "pending": self._pending,
            "unrecorded": self._writer.webhook_waiting(),
            "oldest_pending_age_s": age,
            "late_after_s": self.late_after_s,
            "cap": self.cap,
            "sent": self.sent,
            "failed": self.failed,
            "dropped": self.dropped,
            "last_sent_ms": self.last_sent_ms,
            "error": self.last_error or self.worker.streak.error,
        }

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # -- the worker ----------------------------------------------------------------------------------------
    def _step(self) -> float | None:
        """POST the oldest undelivered alerts in order; the first failure ends the step with the backoff."""
        login = self._owner()
        if login is None or not self._writer.opened:
            self._pending, self._oldest_ms = 0, None
            return None
        rows = self._due(login)
        if rows and self._refresh(login) > self.cap:
            self._dropped(self._writer.call(lambda archive: drop_oldest(archive, login, self.cap)))
            rows = self._due(login)
        for row in rows:
            if self.worker.stopping:
                break
            try:
                self._post(row.payload, f"{login}-{row.alert_id}")
            except POST_ERRORS as exc:
                self.failed += 1
                self.last_error = reason(exc)
                self._writer.submit_webhook_mark(WebhookMark(row.seq, login, error=self.last_error))
                self._refresh(login)
                return self._backoff.compute(self._posts.failed(exc))
            self._posts.succeeded()
            self.sent += 1
            self.last_sent_ms = self._now_ms()
            self.last_error = None
            self._unmarked.add(row.seq)
            self._writer.submit_webhook_mark(WebhookMark(row.seq, login, delivered_ms=self.last_sent_ms))
        if rows:
            self._refresh(login)
        else:
            self._pending, self._oldest_ms, self._overflowing = 0, None, False
        return 0.0 if len(rows) == BATCH else None

    def _due(self, login: int) -> list[Pending]:
        """The oldest undelivered rows, but those sent whose mark waits in the writer."""
        rows = pending(self._writer.archive, login, BATCH + len(self._unmarked))
        self._unmarked &= {row.seq for row in rows}  # a row no longer pending has its mark written
        return [row for row in rows if row.seq not in self._unmarked][:BATCH]

    def _refresh(self, login: int) -> int:
        """What ``/health`` shows, measured here so that it never waits on the archive; returns the count."""
        self._pending, self._oldest_ms = backlog(self._writer.archive, login, sorted(self._unmarked))
        if self._pending < self.cap:
            self._overflowing = False
        return self._pending

    def _dropped(self, count: int) -> None:
        if count and not self._overflowing:
            log.warning("alert webhook: more than %d alerts undelivered; the oldest are dropped", self.cap)
        self._overflowing = self._overflowing or count > 0
        self.dropped += count

    def _post(self, body: str, key: str) -> None:
        """Raises unless the endpoint answers 2xx."""
        request = urllib.request.Request(
            self._url,
            data=body.encode("utf-8"),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": f"mt5-dashboard/{VERSION}",
                "Idempotency-Key": key,
            },
        )
        with OPENER.open(request, timeout=self.timeout_s) as response:  # any other status raises HTTPError
            response.read(65_536)

    def _refused(self, exc: BaseException) -> None:
        log.warning("alert webhook to %s failed (%s); alerts wait in the archive, retried with backoff",
                    self.host, reason(exc))  # fmt: skip

    def _fault(self, exc: BaseException) -> None:
        """Once per streak: the archive cannot be read (or refuses the trim), or a fault of this program (traced)."""
        if isinstance(exc, SQLAlchemyError | ArchiveUnavailable):
            log.error("alert webhook: the archive does not answer (%s); alerts wait", type(exc).__name__)
        else:
            log.error("alert webhook: %s; alerts wait in the archive", exc, exc_info=exc)
