"""The real mt5linux server with the fake ``MetaTrader5`` in its process, for tests and the bridge benchmark.

``python -m tests.fakes.fake_bridge --port P --deals N [--account real]`` scripts a ``FakeMT5`` (login,
password, N history deals, a position and an order; with ``--account real`` the real-looking account of
tests/fakes/real_account.py, 330 days up to now on a New York close clock; with ``--account moving`` the
account of tests/fakes/moving_terminal.py, new at every poll and a trade a second), registers its module as
``sys.modules["MetaTrader5"]`` and then runs ``python -m mt5linux --host 127.0.0.1 -p P`` from the
installed package, so the client side talks to exactly the server a user starts under Wine.
``FakeBridge`` runs that process, waits for its port, and can kill (SIGKILL) and restart it.
"""

from __future__ import annotations

import argparse
import os
import runpy
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.fakes.fake_mt5 import FakeMT5, ny_close_offset
from tests.fakes.moving_terminal import MovingTerminal
from tests.fakes.real_account import (
    HOUR_MS,
    RealAccount,
    broker_midnight_at_or_before,
    market_open,
    utc_ms_of,
)

ROOT = Path(__file__).resolve().parents[2]
LOGIN = 7001234
PASSWORD = "bridge-Pa55-word!"
SERVER = "FakeBroker-Bridge"
FIRST_DEAL_UTC = 1_600_041_600.0  # Monday 2020-09-14 00:00 UTC: well inside the app's history window
TRADING_WEEK_S = 116 * 3600  # to Friday 20:00 UTC: every scripted deal falls while the forex market is open


def deal_spacing_s(deals: int) -> float:
    """A minute between deals, closer when that would run into the weekend."""
    return min(60.0, TRADING_WEEK_S / max(deals, 1))


def scripted_terminal(deals: int) -> FakeMT5:
    """A terminal with ``deals`` history deals (a deposit, then alternating buys and sells at most a minute
    apart over several symbols, within one trading week), one open position and one pending order."""
    fake = FakeMT5(login=LOGIN, password=PASSWORD, server=SERVER, offset_s=ny_close_offset)
    fake.add_balance(FIRST_DEAL_UTC, 10_000.0)
    spacing = deal_spacing_s(deals)
    symbols = ("EURUSD", "GBPUSD", "USDJPY", "XAUUSD")
    for i in range(1, deals):
        fake.add_deal(
            FIRST_DEAL_UTC + spacing * i,
            symbols[i % len(symbols)],
            type=i % 2,
            entry=i % 2,
            volume=0.01 * (1 + i % 7),
            price=1.1 + i / 100_000,
            profit=round((i % 13 - 6) * 1.25, 2) if i % 2 else 0.0,
            commission=-0.35,
            comment=f"deal {i}",
        )
    fake.add_position("EURUSD", volume=0.3, profit=12.5)
    fake.add_order("GBPUSD", price_open=1.25)
    return fake


def real_terminal(deals: int, now_s: float) -> FakeMT5:
    """The real-looking account (tests/fakes/real_account.py) over the 330 days up to ``now_s``, on a New
    York close clock; read on a weekend, its history ends at Friday's close and every tick is stale."""
    fake = FakeMT5(login=LOGIN, password=PASSWORD, server=SERVER, offset_s=ny_close_offset)
    now = datetime.fromtimestamp(now_s, UTC)
    end = now
    while not market_open(utc_ms_of(end)) or utc_ms_of(end) - broker_midnight_at_or_before(utc_ms_of(end)) < HOUR_MS:
        end -= timedelta(minutes=30)
    account = RealAccount.build(fake, end - timedelta(days=330), end, 7, deals_target=deals)
    if end != now:
        account.market_closed(now)
    return fake


def serve(port: int, deals: int, kind: str = "scripted") -> None:
    """Install the fake as MetaTrader5, then run the installed mt5linux server's own entry point."""
    if kind == "moving":
        fake: FakeMT5 = MovingTerminal(login=LOGIN, password=PASSWORD, server=SERVER, offset_s=ny_close_offset)
    else:
        fake = real_terminal(deals, time.time()) if kind == "real" else scripted_terminal(deals)
    sys.modules["MetaTrader5"] = fake.module
    sys.argv = ["mt5linux", "--host", "127.0.0.1", "-p", str(port), "-q"]
    runpy.run_module("mt5linux", run_name="__main__", alter_sys=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeBridge:
    """One bridge server process on a fixed free port; ``kill()`` and ``start()`` again restart it."""

    def __init__(
        self, deals: int, port: int | None = None, log_path: Path | None = None, kind: str = "scripted"
    ) -> None:
        self.deals = deals
        self.kind = kind
        self.port = port or free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the server and return once it accepts connections (it scripts its deals first)."""
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115 - kept by Popen
        command = [sys.executable, "-m", "tests.fakes.fake_bridge", "--port", str(self.port)]
        command += ["--deals", str(self.deals), "--account", self.kind]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the fake bridge exited with {self.process.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"the fake bridge did not listen on port {self.port} within {timeout_s} s")

    def kill(self) -> None:
        """SIGKILL: the connection drops the way a crashed Wine process drops it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--deals", type=int, default=1000)
    parser.add_argument("--account", choices=("scripted", "real", "moving"), default="scripted")
    args = parser.parse_args()
    serve(args.port, args.deals, args.account)


if __name__ == "__main__":
    main()
