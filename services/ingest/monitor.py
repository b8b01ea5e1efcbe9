"""Watches every account's collector through the status it writes to Redis at each poll.

A collector that dies, hangs or loses Redis writes nothing, so silence is the signal: an
account turns stale once twice its own poll interval has passed without a poll, and never
within 2 s (``is_stale``, the one staleness rule, which ``/health`` applies to this process's
own MT5 link too). The monitor looks often enough to see that in time, and tells the open
pages only when a state flips.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from services.core.backoff import Backoff
from services.core.worker import Worker
from services.storage.redis_conn import REDIS_ERRORS
from services.storage.store import Store

log = logging.getLogger(__name__)

STALE_POLLS = 2  # one late poll is jitter; a second one missed is a stalled poller
STALE_GRACE_MS = 50  # the time a poll itself takes
# Below this, silence is thread scheduling on a busy machine, or a gunicorn follower's copy of the
# leader's status (itself up to a poll old), not a stalled poller: short intervals would flap.
MIN_STALE_MS = 2_000
MIN_PERIOD_S = 0.1
MAX_PERIOD_S = 1.0
LOGINS_EVERY_S = 1.0  # a new collector appears within a second; between, a pass is one MGET


@dataclass(frozen=True, slots=True)
class CollectorHealth:
    login: int
    mt5: str | None  # the collector's own link to its terminal
    mt5_error: str | None
    last_poll_ms: int | None
    lag_ms: int | None
    poll_interval_ms: int
    stale: bool

    @property
    def state(self) -> str:
        """One word for a badge: live, stale, or the MT5 state of a collector that polls but is not connected."""
        if self.stale:
            return "stale"
        return "live" if self.mt5 == "connected" else (self.mt5 or "unknown")

    def to_dict(self) -> dict[str, Any]:
        return {
            "login": self.login,
            "state": self.state,
            "mt5": self.mt5,
            "mt5_error": self.mt5_error,
            "last_poll_ms": self.last_poll_ms,
            "lag_ms": self.lag_ms,
            "poll_interval_ms": self.poll_interval_ms,
            "stale": self.stale,
        }


def stale_after_ms(interval_ms: int) -> int:
    """How long a poller may stay silent: ``STALE_POLLS`` of its intervals and the time of a poll, at least
    ``MIN_STALE_MS``."""
    return max(STALE_POLLS * interval_ms + STALE_GRACE_MS, MIN_STALE_MS)


def is_stale(last_poll_ms: int | None, interval_ms: int, now_ms: int) -> bool:
    """Never polled, or silent for longer than ``stale_after_ms``: the rule for a collector (the monitor) and for
    this process's own MT5 link (``/health``), so a page, ``/accounts`` and ``/health`` agree on the moment."""
    return last_poll_ms is None or now_ms - last_poll_ms > stale_after_ms(interval_ms)


def assess(login: int, status: dict[str, Any] | None, now_ms: int, default_interval_ms: int) -> CollectorHealth:
    """Health from the last status a collector wrote; its own poll interval sets when it is late."""
    status = status or {}
    interval = status.get("poll_interval_ms")
    interval_ms = interval if isinstance(interval, int) and interval > 0 else default_interval_ms
    last_poll = status.get("last_poll_ms")
    last_poll = last_poll if isinstance(last_poll, int) else None
    lag_ms = None if last_poll is None else max(0, now_ms - last_poll)
    return CollectorHealth(
        login=login,
        mt5=status.get("mt5"),
        mt5_error=status.get("mt5_error"),
        last_poll_ms=last_poll,
        lag_ms=lag_ms,
        poll_interval_ms=interval_ms,
        stale=is_stale(last_poll, interval_ms, now_ms),
    )


class AccountsMonitor:
    """One thread reading every account's status (one MGET) a few times per poll interval."""

    def __init__(
        self,
        store: Store,
        *,
        default_interval_ms: int,
        configured: Callable[[], Iterable[int]] = tuple,
        notify: Callable[[list[dict[str, Any]]], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._default_interval_ms = default_interval_ms
        self._configured = configured  # the logins of ACCOUNTS_FILE, listed even before their first poll
        self._notify = notify or (lambda rows: None)
        self._clock = clock
        self._health: dict[int, CollectorHealth] = {}
        self._logins: list[int] = []
        self._logins_read = -LOGINS_EVERY_S
        self._checked = False
        self._check_lock = threading.Lock()
        self._lock = threading.Lock()
        # While Redis is down (or a pass fails) it looks again at most every MAX_PERIOD_S.
        backoff = Backoff(base_s=MIN_PERIOD_S, cap_s=MAX_PERIOD_S)
        self.worker = Worker("accounts-monitor", self._pass, interval_s=MAX_PERIOD_S, on_error=self._fault,
                             backoff=backoff)  # fmt: skip

    def start(self) -> None:
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop(2)

    def current(self) -> dict[int, CollectorHealth]:
        """As of the last pass; the first call before the thread's first pass makes one itself."""
        with self._lock:
            if self._checked:
                return dict(self._health)
        self.check()
        with self._lock:
            return dict(self._health)

    def period_s(self) -> float:
        """A quarter of the shortest poll interval (0.1 s at least): a silent collector is seen soon after two."""
        with self._lock:
            intervals = [h.poll_interval_ms for h in self._health.values()] or [self._default_interval_ms]
        return min(MAX_PERIOD_S, max(MIN_PERIOD_S, min(intervals) / 4000))

    def check(self) -> bool:
        """One pass; True (and the pages told) when an account appeared or its state flipped."""
        with self._check_lock:
            return self._check()

    def _check(self) -> bool:
        now = self._clock()
        if now - self._logins_read >= LOGINS_EVERY_S or now < self._logins_read:
            self._logins = sorted(set(self._store.accounts()) | set(self._configured()))
            self._logins_read = now
        logins = self._logins
        statuses = self._store.statuses(logins)
        now_ms = int(now * 1000)
        fresh = {login: assess(login, statuses.get(login), now_ms, self._default_interval_ms) for login in logins}
        with self._lock:
            before = {login: (h.state, h.mt5_error) for login, h in self._health.items()}
            self._health = fresh
            self._checked = True
        changed = before != {login: (h.state, h.mt5_error) for login, h in fresh.items()}
        if changed:
            self._notify([health.to_dict() for health in fresh.values()])
        return changed

    def _pass(self) -> float:
        """The worker's step: one pass, then the wait until the next."""
        self.check()
        return self.period_s()

    @staticmethod
    def _fault(exc: BaseException) -> None:
        """Once per streak of failed passes: Redis away puts the states on hold; anything else is a fault of ours."""
        if isinstance(exc, REDIS_ERRORS):
            log.warning("accounts monitor: Redis unavailable (%s); account states are on hold", exc)
        else:
            log.error("accounts monitor error: %s", exc, exc_info=exc)
