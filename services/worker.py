"""The one background-thread pattern: a run flag, ``wake()``, ``stop()`` and an injected error handler.

A worker calls its ``step`` until stopped. ``step`` returns how long to wait before the next call
(None: the worker's interval); ``wake()`` cuts the wait short. An exception from ``step`` is handed
to ``on_error`` and the worker goes on, so one bad record or one refusing server never ends it;
``health()`` says whether it is alive and when its last step finished and failed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


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
    ) -> None:
        self.name = name
        self.interval_s = interval_s
        self._step = step
        self._on_error = on_error or (lambda exc: log.error("%s: %s", name, exc, exc_info=exc))
        self._on_stop = on_stop
        self._run = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
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
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def stopping(self) -> bool:
        """A stop was asked for: a long step may cut its work short."""
        return self._stop.is_set()

    def health(self) -> dict[str, Any]:
        return {
            "alive": self.running,
            "steps": self.steps,
            "errors": self.errors,
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
        """One step with the error handling of the thread; public so tests drive a worker without a thread."""
        try:
            delay = self._step()
        except Exception as exc:  # noqa: BLE001 - the worker must outlive any single fault
            self.errors += 1
            self.last_error_ms = int(time.time() * 1000)
            self._on_error(exc)
            return None
        self.steps += 1
        self.last_step_ms = int(time.time() * 1000)
        return delay
