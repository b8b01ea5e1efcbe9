"""The one background-thread pattern: a run flag, ``wake()``, ``stop()`` and an injected error handler.

A worker calls its ``step`` until stopped. ``step`` returns how long to wait before the next call
(None: the worker's interval); ``wake()`` cuts the wait short. An exception from ``step`` never ends
the worker: the next step comes after a backoff, so one bad record or one refusing server neither
ends it nor spins it. A fault that repeats is reported once (``on_error`` at the first failure, or
when the kind of failure changes) and its end once (one line); ``health()`` says whether the worker
is alive, failing, and why.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from services.core.backoff import Backoff

log = logging.getLogger(__name__)

ERROR_CHARS = 300  # a fault as /health shows it: its type and the start of its message
DEGRADING = ("failing", "dead")  # the thread states that degrade /health


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]


class Streak:
    """Consecutive failures of one piece of work: told once when they start (or change kind), once when they end."""

    def __init__(self, name: str, on_error: Callable[[BaseException], None]) -> None:
        self.name = name
        self._on_error = on_error
        self._kind: type[BaseException] | None = None
        self.count = 0
        self.error: str | None = None  # the latest failure's description; None once the work succeeds

    def failed(self, exc: BaseException) -> int:
        """Count one failure, reporting it when it starts a streak or is of another kind; returns the count."""
        self.count += 1
        self.error = describe(exc)
        if type(exc) is not self._kind:
            self._kind = type(exc)
            self._on_error(exc)
        return self.count

    def succeeded(self) -> None:
        if self.count:
            log.info("%s: working again after %d failure(s)", self.name, self.count)
        self.count, self._kind, self.error = 0, None, None


class Worker:
    """Runs ``step`` on a daemon thread named ``name``; ``on_stop`` runs once on that thread at the end."""

    def __init__(
        self,
        name: str,
        step: Callable[[], float | None],
        *,
        interval_s: float,
        on_error: Callable[[BaseException], None] | None = None,
        on_stop: Callable[[], None] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.name = name
        self.interval_s = interval_s
        self._step = step
        self._on_error = on_error or (lambda exc: log.error("%s: %s", name, exc, exc_info=exc))
        self._on_stop = on_stop
        self._backoff = backoff or Backoff(base_s=1.0, cap_s=30.0)
        self._run = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._idle = False
        self.streak = Streak(name, self._on_error)
        self.steps = 0
        self.errors = 0
        self.last_step_ms: int | None = None
        self.last_error_ms: int | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._run.set()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Run the next step now instead of at the end of the wait."""
        self._wake.set()

    def idle(self) -> None:
        """Called by a step that found no work (no message came): it does not end a streak of failures, which
        only work done can (else a fault in each message would be told at every message)."""
        self._idle = True

    def stop(self, timeout: float = 5.0) -> None:
        """Ends the loop after the current step; ``on_stop`` (a last flush, say) runs before the join returns."""
        if self._thread is None:
            return
        self._stop.set()
        self._run.clear()
        self._wake.set()
        self._thread.join(timeout)
        self._thread = None

    @property
    def started(self) -> bool:
        """Started and not stopped since (alive or not)."""
        return self._thread is not None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def stopping(self) -> bool:
        """A stop was asked for: a long step may cut its work short."""
        return self._stop.is_set()

    @property
    def state(self) -> str:
        """stopped (not started, or stopped), dead (its thread ended on its own), failing (its last step raised), ok."""
        if self._thread is None:
            return "stopped"
        if not self._thread.is_alive():
            return "dead"
        return "failing" if self.streak.count else "ok"

    def health(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "alive": self.running,
            "steps": self.steps,
            "errors": self.errors,
            "failures": self.streak.count,
            "error": self.streak.error,
            "last_step_ms": self.last_step_ms,
            "last_error_ms": self.last_error_ms,
        }

    def _loop(self) -> None:
        while self._run.is_set():
            delay = self.run_once()
            self._wake.wait(self.interval_s if delay is None else max(0.0, delay))
            self._wake.clear()
        if self._on_stop is not None:
            try:
                self._on_stop()
            except Exception as exc:  # noqa: BLE001 - shutting down; report and go on
                self._on_error(exc)

    def run_once(self) -> float | None:
        """One step with the error handling of the thread; public so tests drive a worker without a thread.

        Returns the wait before the next step: the step's own, or the backoff after a failure.
        """
        self._idle = False
        try:
            delay = self._step()
        except Exception as exc:  # noqa: BLE001 - the worker must outlive any single fault
            self.errors += 1
            self.last_error_ms = int(time.time() * 1000)
            return self._backoff.compute(self.streak.failed(exc))
        if not self._idle:
            self.streak.succeeded()
        self.steps += 1
        self.last_step_ms = int(time.time() * 1000)
        return delay
