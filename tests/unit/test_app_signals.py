"""app.py stops cleanly with only the signals Windows has: a service manager or the collector supervisor there
sends CTRL_BREAK_EVENT (SIGBREAK), never a POSIX-only signal; kill -9's counterpart, TerminateProcess, has no
handler anywhere, and the archive's committed writes survive it (tests/integration/test_restart.py)."""

from __future__ import annotations

import enum
import signal
import types
from typing import Any

import pytest

import app as app_module

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


def test_sigterm_and_sigbreak_stop_the_app_as_ctrl_c_does(handlers: dict[int, Any]) -> None:
    app_module.install_signal_handlers()
    assert handlers == {WINDOWS[name]: app_module._raise_interrupt for name in ("SIGTERM", "SIGBREAK")}
    with pytest.raises(KeyboardInterrupt, match="SIGBREAK"):
        handlers[WINDOWS["SIGBREAK"]](WINDOWS["SIGBREAK"], None)


def test_shutdown_ignores_a_second_stop_signal_on_windows_too(handlers: dict[int, Any]) -> None:
    app_module.ignore_stop_signals()
    assert handlers == {WINDOWS[name]: signal.SIG_IGN for name in ("SIGINT", "SIGTERM", "SIGBREAK")}
