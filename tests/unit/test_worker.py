"""The one worker-thread pattern: survives its step's faults, wakes on demand, runs on_stop once."""

from __future__ import annotations

import logging
import threading

import pytest

from services.core.backoff import Backoff
from services.core.worker import Worker


def test_a_failing_step_is_reported_and_the_worker_goes_on() -> None:
    calls: list[int] = []
    errors: list[BaseException] = []

    def step() -> float | None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return None

    worker = Worker("w", step, interval_s=60, on_error=errors.append, backoff=Backoff(base_s=2.0, jitter=0))
    assert worker.run_once() == 2.0, "the next step after the backoff, not the interval"
    worker.run_once()
    assert len(calls) == 2
    assert [str(e) for e in errors] == ["boom"]
    assert worker.health()["errors"] == 1 and worker.health()["steps"] == 1


def test_a_repeated_fault_is_told_once_backs_off_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "services.core.worker")
    faults: list[BaseException | None] = [RuntimeError("a"), RuntimeError("b"), RuntimeError("c"), KeyError("k"), None]
    errors: list[BaseException] = []

    def step() -> float | None:
        fault = faults.pop(0)
        if fault is not None:
            raise fault
        return None

    worker = Worker("w", step, interval_s=60, on_error=errors.append, backoff=Backoff(base_s=1.0, jitter=0))
    assert [worker.run_once() for _ in range(4)] == [1.0, 2.0, 4.0, 8.0], "backing off while it fails"
    assert [repr(e) for e in errors] == ["RuntimeError('a')", "KeyError('k')"], "once, and again for another kind"
    health = worker.health()
    assert (health["state"], health["failures"], health["error"]) == ("stopped", 4, "KeyError: 'k'")
    assert worker.run_once() is None
    assert worker.health()["failures"] == 0 and worker.health()["error"] is None
    assert [r.getMessage() for r in caplog.records] == ["w: working again after 4 failure(s)"]


def test_wake_runs_the_next_step_now_and_stop_runs_on_stop_once() -> None:
    stepped = threading.Event()
    stopped: list[int] = []
    count = [0]

    def step() -> float | None:
        count[0] += 1
        if count[0] >= 2:
            stepped.set()
        return None

    worker = Worker("w", step, interval_s=3600, on_stop=lambda: stopped.append(1))
    worker.start()
    worker.wake()  # the interval is an hour: only the wake can bring the second step
    assert stepped.wait(30)
    assert worker.running
    worker.stop()
    assert not worker.running and stopped == [1]


def test_an_idle_step_neither_ends_nor_extends_a_streak_of_failures() -> None:
    """A fan-out whose every message fails, with idle waits between them, is one streak, told once."""
    errors: list[BaseException] = []
    script = ["fail", "idle", "fail", "idle", "fail", "work"]
    worker: Worker

    def step() -> float | None:
        action = script.pop(0)
        if action == "fail":
            raise RuntimeError("each message fails")
        if action == "idle":
            worker.idle()
        return None

    worker = Worker("w", step, interval_s=60, on_error=errors.append)
    for _ in range(5):
        worker.run_once()
    assert len(errors) == 1 and worker.health()["failures"] == 3
    worker.run_once()
    assert worker.health()["failures"] == 0, "work done ends it"
