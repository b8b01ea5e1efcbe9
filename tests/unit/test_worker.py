"""The one worker-thread pattern: survives its step's faults, wakes on demand, runs on_stop once."""

from __future__ import annotations

import threading

from services.worker import Worker


def test_a_failing_step_is_reported_and_the_worker_goes_on() -> None:
    calls: list[int] = []
    errors: list[BaseException] = []

    def step() -> float | None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return None

    worker = Worker("w", step, interval_s=60, on_error=errors.append)
    assert worker.run_once() is None
    worker.run_once()
    assert len(calls) == 2
    assert [str(e) for e in errors] == ["boom"]
    assert worker.health()["errors"] == 1 and worker.health()["steps"] == 1


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
