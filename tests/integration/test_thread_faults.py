"""Every long-lived thread survives an exception injected into its work: it logs the fault once, backs off,
/health reports it (the thread failing, the whole degraded), and it works again once the fault is gone."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import services.risk.webhook
from services.core.backoff import Backoff
from services.ingest.collectors import AccountSpec
from services.ingest.sources.demo import DemoSource
from services.ingest.supervisor import Supervisor
from tests.fakes.webhook_endpoint import Endpoint
from tests.helpers import wait_until

pytestmark = pytest.mark.integration

QUICK = Backoff(base_s=0.05, cap_s=0.2, jitter=0)


class Fault:
    """Wraps a callable so that it raises while ``on``, but only on the thread named ``thread``."""

    def __init__(self, thread: str) -> None:
        self.thread = thread
        self.on = threading.Event()
        self.on.set()
        self.message = f"injected into {thread}"

    def wrap(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def broken(*args: Any, **kwargs: Any) -> Any:
            if self.on.is_set() and threading.current_thread().name == self.thread:
                raise RuntimeError(self.message)
            return original(*args, **kwargs)

        return broken


def inject(app: Any, name: str, fault: Fault, monkeypatch: pytest.MonkeyPatch) -> None:
    """Into the work of the thread ``name``: what its step calls, not the step itself."""
    runtime, risk = app.server.extensions["mt5_runtime"], app.server.extensions["mt5_risk"]
    targets: dict[str, tuple[Any, str]] = {
        "mt5-streamer": (runtime.source, "account"),
        "redis-writer": (runtime.store, "save_status"),
        "ws-fanout": (runtime.fanout, "broadcast"),
        "accounts-monitor": (runtime.store, "statuses"),
        "alerts-redis": (risk.alerts, "_flush"),
        "alert-webhook": (services.risk.webhook, "pending"),
    }
    owner, attribute = targets[name]
    monkeypatch.setattr(owner, attribute, fault.wrap(getattr(owner, attribute)))


@pytest.fixture
def app(make_app: Any) -> Iterator[Any]:
    endpoint = Endpoint()
    try:
        yield make_app({"POLL_INTERVAL_MS": "100", "ALERT_WEBHOOK_URL": endpoint.url}, source=DemoSource(seed=11))
    finally:
        endpoint.stop()


def health(app: Any) -> dict[str, Any]:
    return app.server.test_client().get("/health").get_json()


def errors(caplog: pytest.LogCaptureFixture, fault: Fault) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR and fault.message in r.getMessage()]


@pytest.mark.parametrize(
    "name", ["mt5-streamer", "redis-writer", "ws-fanout", "accounts-monitor", "alerts-redis", "alert-webhook"]
)
def test_a_thread_survives_a_fault_in_its_work_logs_it_once_and_health_reports_it(
    app: Any, name: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    wait_until(lambda: health(app)["status"] == "ok", 20, "a healthy start")
    assert health(app)["threads"][name]["state"] == "ok"
    fault = Fault(name)
    inject(app, name, fault, monkeypatch)

    failing = wait_until(lambda: (h := health(app))["threads"][name]["failures"] >= 3 and h, 30, "repeated faults")
    thread = failing["threads"][name]
    assert thread["state"] == "failing" and thread["alive"], "alive, and reported failing"
    assert thread["error"] == f"RuntimeError: {fault.message}"
    assert failing["status"] == "degraded"
    assert len(errors(caplog, fault)) == 1, "logged once, not at every attempt"

    fault.on.clear()
    wait_until(lambda: health(app)["threads"][name]["state"] == "ok", 30, "working again")
    wait_until(lambda: health(app)["status"] == "ok", 20, "healthy again")
    assert len(errors(caplog, fault)) == 1
    assert [r for r in caplog.records if r.getMessage().startswith(f"{name}: working again after ")]


def test_a_listener_failing_at_every_poll_is_logged_once_and_degrades_health(
    app: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    engine = app.server.extensions["mt5_risk"].alerts
    wait_until(lambda: health(app)["status"] == "ok", 20, "a healthy start")
    fault = Fault("mt5-streamer")
    monkeypatch.setattr(engine, "_load", fault.wrap(engine._load))  # what AlertEngine.evaluate does first
    polls = app.server.extensions["mt5_runtime"].streamer.status().polls
    wait_until(lambda: app.server.extensions["mt5_runtime"].streamer.status().polls >= polls + 5, 10, "five polls")
    report = health(app)
    assert report["mt5"]["listener_errors"] == [f"RuntimeError: {fault.message}"]
    assert report["status"] == "degraded" and report["threads"]["mt5-streamer"]["state"] == "ok", "polling goes on"
    assert len(errors(caplog, fault)) == 1
    fault.on.clear()
    wait_until(lambda: health(app)["status"] == "ok", 20, "healthy again")
    assert health(app)["mt5"]["listener_errors"] == []


def test_the_archive_writer_survives_a_fault_in_its_writes(
    app: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    runtime = app.server.extensions["mt5_runtime"]
    wait_until(lambda: health(app)["status"] == "ok", 20, "a healthy start")
    fault = Fault("archive-writer")
    monkeypatch.setattr(runtime.archive.archive, "write", fault.wrap(runtime.archive.archive.write))
    failing = wait_until(lambda: (h := health(app))["archive"]["failures"] >= 3 and h, 30, "refused writes")
    assert failing["archive"]["state"] == "degraded" and fault.message in failing["archive"]["error"]
    assert failing["threads"]["archive-writer"]["alive"] and failing["status"] == "degraded"
    warned = [r for r in caplog.records if r.levelno >= logging.WARNING and fault.message in r.getMessage()]
    assert len(warned) == 1, "logged once"
    fault.on.clear()
    wait_until(lambda: health(app)["archive"]["state"] == "ok", 30, "writing again")
    wait_until(lambda: health(app)["status"] == "ok", 20, "healthy again")


def test_the_supervisor_survives_a_collector_that_cannot_start_and_keeps_the_others_running(
    make_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    specs = [AccountSpec("good", 8_101, "demo"), AccountSpec("bad", 8_102, "demo")]
    runnable = {"good"}

    def command(spec: AccountSpec) -> list[str]:
        interpreter = sys.executable if spec.name in runnable else "/nonexistent/python"
        return [interpreter, "-c", "import time; time.sleep(60)"]

    app = make_app({"POLL_INTERVAL_MS": "100"}, source=DemoSource(seed=11), start=False)
    runtime = app.server.extensions["mt5_runtime"]
    supervisor = Supervisor(specs, command, backoff=QUICK)
    runtime.accounts, runtime.supervisor = tuple(specs), supervisor
    runtime.add_companion(supervisor)
    runtime.start()

    def collector(name: str) -> dict[str, Any]:
        login = next(spec.login for spec in specs if spec.name == name)
        rows = health(app)["accounts"]
        return next((row["collector"] for row in rows if row["login"] == login), None) or {}

    wait_until(lambda: collector("good").get("alive"), 10, "the good collector runs")
    wait_until(lambda: supervisor._collectors["bad"].failures >= 3, 10, "failed starts of the bad one")
    bad = collector("bad")
    assert not bad["alive"] and bad["error"].startswith("FileNotFoundError")
    assert health(app)["threads"]["collector-supervisor"]["state"] == "ok", "the supervisor goes on"
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR and "collector bad" in r.getMessage()]
    assert len(logged) == 1, "logged once"

    runnable.add("bad")
    wait_until(lambda: collector("bad").get("alive"), 10, "the bad collector starts once it can")
    assert collector("bad")["error"] is None and collector("good")["alive"]
