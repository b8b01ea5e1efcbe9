"""app.py stops cleanly with only the signals Windows has: a service manager or the collector supervisor there
sends CTRL_BREAK_EVENT (SIGBREAK), never a POSIX-only signal; kill -9's counterpart, TerminateProcess, has no
handler anywhere, and the archive's committed writes survive it (tests/integration/test_restart.py). Under
gunicorn the config's hooks start the same stop, once however many signals come."""

from __future__ import annotations

import enum
import logging
import runpy
import signal
import types
from pathlib import Path
from typing import Any

import pytest

import app as app_module

ROOT = Path(__file__).resolve().parents[2]
WINDOWS = {"SIGABRT": 22, "SIGFPE": 8, "SIGILL": 4, "SIGINT": 2, "SIGSEGV": 11, "SIGTERM": 15, "SIGBREAK": 21}


@pytest.fixture
def handlers(monkeypatch: pytest.MonkeyPatch) -> dict[int, Any]:
    """app.py's ``signal`` as on Windows: a POSIX-only name (SIGHUP, SIGKILL, SIGUSR1 …) raises AttributeError."""
    installed: dict[int, Any] = {}
    windows = types.SimpleNamespace(
        **WINDOWS,
        CTRL_C_EVENT=0,
        CTRL_BREAK_EVENT=1,
        SIG_IGN=signal.SIG_IGN,
        SIG_DFL=signal.SIG_DFL,
        Signals=enum.IntEnum("Signals", WINDOWS),
        signal=installed.__setitem__,
    )
    monkeypatch.setattr(app_module, "signal", windows)
    return installed


def test_sigint_sigterm_and_sigbreak_stop_the_app_as_ctrl_c_does(handlers: dict[int, Any]) -> None:
    app_module.install_signal_handlers()
    assert handlers == {WINDOWS[name]: app_module._raise_interrupt for name in ("SIGINT", "SIGTERM", "SIGBREAK")}
    with pytest.raises(KeyboardInterrupt, match="SIGBREAK"):
        handlers[WINDOWS["SIGBREAK"]](WINDOWS["SIGBREAK"], None)


def test_shutdown_ignores_a_second_stop_signal_on_windows_too(handlers: dict[int, Any]) -> None:
    app_module.ignore_stop_signals()
    assert handlers == {WINDOWS[name]: signal.SIG_IGN for name in ("SIGINT", "SIGTERM", "SIGBREAK")}


class StoppingRuntime:
    stops = 0

    def stop_in_background(self) -> None:
        self.stops += 1


def test_gunicorn_workers_begin_the_runtime_stop_on_each_stop_signal(monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM keeps gunicorn's own handling (the accept loop ends) and starts the stop; SIGINT and SIGQUIT
    reach ``worker_int``. The stop itself runs on its thread (tests/integration/test_gunicorn.py)."""
    installed: dict[int, Any] = {}
    monkeypatch.setattr(signal, "signal", installed.__setitem__)
    hooks = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    runtime, exits = StoppingRuntime(), []
    worker = types.SimpleNamespace(handle_exit=lambda *args: exits.append(args), wsgi=types.SimpleNamespace(
        extensions={"mt5_runtime": runtime}))  # fmt: skip
    hooks["post_worker_init"](worker)
    installed[signal.SIGTERM](signal.SIGTERM, None)
    assert exits == [(signal.SIGTERM, None)] and runtime.stops == 1
    hooks["worker_int"](worker)
    assert runtime.stops == 2


def test_a_runtime_stops_once_and_a_later_caller_waits_for_that_stop(make_app: Any, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="services.runtime")
    runtime = make_app().server.extensions["mt5_runtime"]
    stopper = runtime.stop_in_background()
    assert runtime.stop_in_background() is stopper, "a second signal starts no second stop"
    runtime.stop()
    assert not runtime.streamer.running and not runtime.fanout.client_count()
    stopper.join(5)
    assert len([r for r in caplog.records if r.getMessage().startswith("stopped in")]) == 1
