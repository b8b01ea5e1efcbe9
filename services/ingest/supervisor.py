"""Starts one collector process per account, restarts a crashed one with backoff, stops them all.

Collectors are plain subprocesses of the same interpreter (``python app.py collect --account
NAME``): spawn-safe, so it works the same on Windows, and a hung or crashing account never
stalls the others. Their output is relayed line by line, prefixed with the account's name.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from services.core.backoff import Backoff
from services.core.worker import Streak, Worker, describe
from services.ingest.collectors import AccountSpec

log = logging.getLogger(__name__)

STABLE_S = 60.0  # a collector that ran this long starts its backoff afresh after a crash
STOP_WAIT_S = 5.0
PASS_S = 0.2
WINDOWS = sys.platform == "win32"


@dataclass
class Collector:
    spec: AccountSpec
    process: subprocess.Popen[str] | None = None
    started_at: float = 0.0
    restarts: int = 0
    failures: int = 0
    next_start: float = 0.0
    relay: threading.Thread | None = field(default=None, repr=False)
    launches: Streak = field(init=False, repr=False)  # failed starts: told once, tried again after a backoff

    def __post_init__(self) -> None:
        self.launches = Streak(f"collector {self.spec.name}", self._not_started)

    def _not_started(self, exc: BaseException) -> None:
        log.error("collector %s could not be started (%s); retrying with backoff", self.spec.name, describe(exc))

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def to_dict(self) -> dict[str, object]:
        return {
            "pid": self.process.pid if self.alive() and self.process else None,
            "alive": self.alive(),
            "restarts": self.restarts,
            "uptime_s": round(time.monotonic() - self.started_at, 1) if self.alive() else None,
            "error": self.launches.error,
        }


class Supervisor:
    def __init__(
        self,
        specs: Sequence[AccountSpec],
        command: Callable[[AccountSpec], list[str]],
        *,
        env: dict[str, str] | None = None,
        backoff: Backoff | None = None,
        cwd: str | None = None,
    ) -> None:
        self._collectors = {spec.name: Collector(spec) for spec in specs}
        self._command = command
        self._env = env
        self._cwd = cwd
        self._backoff = backoff or Backoff(base_s=1.0, cap_s=30.0)
        self.worker = Worker("collector-supervisor", self._pass, interval_s=PASS_S, backoff=self._backoff)

    def start(self) -> None:
        self.worker.start()

    def workers(self) -> list[Worker]:
        return [self.worker]

    def stop(self) -> None:
        """Ask every collector to stop (they flush and release their lock), then make sure they did."""
        self.worker.stop(2)
        running = [c for c in self._collectors.values() if c.alive()]
        for collector in running:
            _interrupt(collector.process)
        deadline = time.monotonic() + STOP_WAIT_S
        for collector in running:
            assert collector.process is not None
            try:
                collector.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("collector %s did not stop in time; killing it", collector.spec.name)
                collector.process.kill()

    def status(self) -> dict[str, dict[str, object]]:
        return {name: collector.to_dict() for name, collector in self._collectors.items()}

    def _pass(self) -> None:
        """The worker's step: restart what crashed, start what is due; one account's failure never stops the others."""
        now = time.monotonic()
        for collector in self._collectors.values():
            if collector.process is not None and not collector.alive():
                self._crashed(collector, now)
            if collector.process is None and now >= collector.next_start:
                try:
                    self._launch(collector)
                except Exception as exc:  # noqa: BLE001 - a missing interpreter, a bad cwd, no more processes
                    collector.failures += 1
                    collector.next_start = now + self._backoff.compute(collector.failures)
                    collector.launches.failed(exc)

    def _launch(self, collector: Collector) -> None:
        flags = subprocess.CREATE_NEW_PROCESS_GROUP if WINDOWS else 0  # type: ignore[attr-defined]
        process = subprocess.Popen(
            self._command(collector.spec),
            cwd=self._cwd,
            env=self._env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            creationflags=flags,
            start_new_session=not WINDOWS,
        )
        collector.launches.succeeded()  # before the process shows: a status never pairs it with the old error
        collector.started_at = time.monotonic()
        collector.process = process
        collector.relay = threading.Thread(
            target=_relay,
            args=(collector.spec.name, collector.process),
            name=f"relay-{collector.spec.name}",
            daemon=True,
        )
        collector.relay.start()
        log.info("collector %s started (pid %d)", collector.spec.name, collector.process.pid)

    def _crashed(self, collector: Collector, now: float) -> None:
        assert collector.process is not None
        code = collector.process.returncode
        collector.failures = 1 if now - collector.started_at >= STABLE_S else collector.failures + 1
        delay = self._backoff.compute(collector.failures)
        collector.process = None
        collector.restarts += 1
        collector.next_start = now + delay
        log.error("collector %s exited with code %s; restarting in %.1f s", collector.spec.name, code, delay)


def _relay(name: str, process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        sys.stderr.write(f"[{name}] {line}")


def _interrupt(process: subprocess.Popen[str] | None) -> None:
    """The graceful stop: SIGTERM, or CTRL_BREAK on Windows (the collector handles SIGBREAK)."""
    if process is None or process.poll() is not None:
        return
    try:
        if WINDOWS:
            os.kill(process.pid, signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]
        else:
            process.send_signal(signal.SIGTERM)
    except OSError:
        pass
