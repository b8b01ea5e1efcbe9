"""The accounts file and the collector supervisor."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from services.core.backoff import Backoff
from services.core.settings import load_settings
from services.ingest.collectors import AccountsError, load_accounts
from services.ingest.supervisor import Supervisor
from tests.helpers import wait_until

GOOD = """accounts:
  - name: personal
    login: 1001
    server: Broker-Live
    password_env: MT5_PASSWORD_PERSONAL
    source: mt5
    path: C:/Program Files/MT5 A/terminal64.exe
  - name: challenge
    login: 2002
    source: demo
    poll_interval_ms: 500
"""


def write(tmp_path: Path, text: str, name: str = "accounts.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_gives_each_account_its_own_settings(tmp_path: Path) -> None:
    specs = load_accounts(write(tmp_path, GOOD))
    assert [(s.name, s.login, s.source) for s in specs] == [("personal", 1001, "mt5"), ("challenge", 2002, "demo")]
    base = load_settings({"POLL_INTERVAL_MS": "250", "REDIS_URL": "redis://127.0.0.1:6390/0"}, dotenv_path=None)
    personal = specs[0].settings(base, {"MT5_PASSWORD_PERSONAL": "s3cret!"})
    assert personal.mt5_login == 1001 and personal.mt5_password.reveal() == "s3cret!"
    assert personal.mt5_path == "C:/Program Files/MT5 A/terminal64.exe" and personal.poll_interval_ms == 250
    assert personal.redis_url == base.redis_url, "Redis and the prefix are shared"
    assert specs[1].settings(base, {}).poll_interval_ms == 500


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("accounts: []", "the top level"),
        ("accounts:\n  - login: 1\n", "accounts[0].name"),
        ("accounts:\n  - name: a\n    login: x\n", "accounts[0].login"),
        ("accounts:\n  - name: a\n    login: 1\n    source: fix\n", "accounts[0].source"),
        ("accounts:\n  - name: a\n    login: 1\n    password: hunter2\n", "accounts[0].password"),
        ("accounts:\n  - name: a\n    login: 1\n    password_env: hunter2 x\n", "accounts[0].password_env"),
        ("accounts:\n  - name: a\n    login: 1\n  - name: a\n    login: 2\n", "accounts (name a)"),
        ("accounts:\n  - name: a\n    login: 1\n    poll_interval_ms: 1\n", "accounts[0].poll_interval_ms"),
        ("accounts: [\n", "line 2"),
    ],
)
def test_errors_name_the_account_and_the_field(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(AccountsError) as caught:
        load_accounts(write(tmp_path, text))
    message = str(caught.value)
    assert message.startswith("ACCOUNTS_FILE: expected") and f"at {where} in " in message
    assert "hunter2" not in message


def test_the_accounts_file_setting_must_exist(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="ACCOUNTS_FILE: expected an existing"):
        load_settings({"ACCOUNTS_FILE": str(tmp_path / "missing.yaml")}, dotenv_path=None)


def test_the_supervisor_restarts_a_crashed_collector_and_stops_them_all(tmp_path: Path) -> None:
    specs = load_accounts(write(tmp_path, GOOD))
    sleeper = [sys.executable, "-c", "import time; print('collecting', flush=True); time.sleep(60)"]
    supervisor = Supervisor(specs, lambda spec: sleeper, backoff=Backoff(base_s=0.2, cap_s=0.5, jitter=0))
    supervisor.start()
    try:
        pids = wait_until(lambda: all(s["alive"] for s in supervisor.status().values()) and supervisor.status(), 10,
                          "both collectors running")  # fmt: skip
        first = pids["personal"]["pid"]
        os.kill(first, signal.SIGKILL)
        again = wait_until(
            lambda: (s := supervisor.status()["personal"])["alive"] and s["pid"] != first and s, 10, "a restart"
        )
        assert again["restarts"] == 1
        assert supervisor.status()["challenge"]["restarts"] == 0, "the others are untouched"
    finally:
        supervisor.stop()
    assert not any(s["alive"] for s in supervisor.status().values())
