"""Several accounts: one collector process per account, supervised by ``python app.py``, over a real Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import RedisServer, free_port
from tests.helpers import get_json, wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
ACCOUNTS = """accounts:
  - {name: personal, login: 7001, source: demo, demo_seed: 1}
  - {name: challenge, login: 7002, source: demo, demo_seed: 2}
  - {name: funded, login: 7003, source: demo, demo_seed: 3}
"""


def environment(redis_url: str, accounts: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MT5", "REDIS", "APP_", "ACCOUNTS"))}
    env.update({"REDIS_URL": redis_url, "ACCOUNTS_FILE": str(accounts), "APP_PORT": str(port),
                "DATA_DIR": str(accounts.parent / "data"),
                "POLL_INTERVAL_MS": "200", "HEARTBEAT_S": "1", "PYTHONUNBUFFERED": "1"})  # fmt: skip
    return env


def rows(base: str) -> dict[int, dict]:
    return {row["login"]: row for row in get_json(base + "/accounts")["accounts"]}


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def test_three_collectors_one_dashboard_stale_and_healed(redis_server: RedisServer, tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(ACCOUNTS, encoding="utf-8")
    port = free_port()
    log = (tmp_path / "app.log").open("w")
    app = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=environment(redis_server.url, accounts, port),
                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        live = wait_until(lambda: (r := rows(base)) and len(r) == 3 and not any(x["stale"] for x in r.values()) and r,
                          60, "three fresh accounts")  # fmt: skip
        assert {row["name"] for row in live.values()} == {"personal", "challenge", "funded"}
        assert len({row["equity"] for row in live.values()}) == 3, "each account has its own data"
        wait_until(lambda: get_json(base + "/account")["login"] == 7001, 5, "the single-account routes: the first")
        for login in live:
            assert get_json(f"{base}/accounts/{login}/account")["login"] == login, "each account's own routes"
            assert get_json(f"{base}/accounts/{login}/trades")["account"] == login
        health = get_json(base + "/health")
        assert {row["name"]: row["state"] for row in health["accounts"]} == dict.fromkeys(
            ("personal", "challenge", "funded"), "live")  # fmt: skip
        with urllib.request.urlopen(base + "/overview/", timeout=10) as page:
            assert page.status == 200 and b"MT5 Accounts" in page.read()

        victim = live[7002]["collector"]["pid"]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: rows(base)[7002]["stale"], 10, "the killed collector turns stale")
        wait_until(lambda: not (r := rows(base))[7001]["stale"] and not r[7003]["stale"], 10,
                   "the others streaming on")  # fmt: skip
        healed = wait_until(lambda: not (r := rows(base)[7002])["stale"] and r, 30, "the supervisor brings it back")
        assert healed["collector"]["restarts"] == 1 and healed["collector"]["pid"] != victim

        extra = tmp_path / "extra.yaml"
        extra.write_text("accounts:\n  - {name: by-hand, login: 7009, source: demo, demo_seed: 9}\n", encoding="utf-8")
        by_hand = subprocess.Popen([sys.executable, "app.py", "collect", "--account", "by-hand"], cwd=ROOT,
                                   env=environment(redis_server.url, extra, port), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        try:
            wait_until(lambda: (r := rows(base).get(7009)) and not r["stale"], 30, "a hand-started collector appears")
        finally:
            stop(by_hand)
        assert by_hand.returncode == 0
    finally:
        stop(app)
        log.close()
    assert app.returncode == 0
    output = (tmp_path / "app.log").read_text()
    assert "[challenge]" in output and "Traceback" not in output


def test_two_hosts_a_dashboard_without_mt5_shows_collectors_started_elsewhere(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """COLLECTORS=none: the dashboard starts no collector; one started by hand (the other host) appears."""
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(ACCOUNTS, encoding="utf-8")
    port = free_port()
    env = {**environment(redis_server.url, accounts, port), "COLLECTORS": "none"}
    app = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    collector = subprocess.Popen([sys.executable, "app.py", "collect", "--account", "challenge"], cwd=ROOT,
                                 env=environment(redis_server.url, accounts, port), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        found = wait_until(lambda: (r := rows(base)) and len(r) == 3 and not r[7002]["stale"] and r, 60,
                           "the hand-started collector, live")  # fmt: skip
        assert found[7001]["stale"] and found[7003]["stale"], "named in the file, but nobody polls them"
        assert all(row["collector"] is None for row in found.values()), "no local collector process"
        assert get_json(base + "/accounts/7002/account")["login"] == 7002
    finally:
        stop(collector)
        stop(app)
    assert collector.returncode == 0 and app.returncode == 0
