"""Issue 13, "nothing recorded is ever lost": ``python app.py`` with no Redis server, stopped and started again.

With no Redis configured the app runs the embedded Redis, which dies with the process; what survives is
the archive in DATA_DIR (``archive.sqlite``, written every 0.5 s). The app polls the mt5linux server
holding the moving fake terminal (tests/fakes/moving_terminal.py: a new account at every poll, a trade a
second), which outlives the app as a real terminal does. The ground truth is what the API showed before
the stop; after the restart the same routes must show it again:

- ``/export/equity.csv``: the raw history points (the page's equity download);
- the chart callback for "All", requested as the page's renderer requests it: every point drawn;
- ``/account/at?t=``: the archive's point at each recorded moment;
- ``/deals``, ``/account``, ``/positions``, ``/orders``.

After a clean stop nothing may be missing; after ``kill -9`` at most the last second. The stops are
what each OS offers: SIGTERM (POSIX) or CTRL_BREAK_EVENT (Windows), both handled by app.py as Ctrl-C, and
SIGKILL or TerminateProcess, which no program can handle.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bench.bighistory import Callbacks
from bench.infra import post_json
from services.storage.archive import FILE_NAME, Archive
from tests.conftest import free_port
from tests.fakes.fake_bridge import LOGIN, PASSWORD, SERVER, FakeBridge
from tests.helpers import wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
WINDOWS = sys.platform == "win32"
POLL_MS = 100
POINTS = 30  # history points seen before the stop: about 3 s of polls
TRADES = 3  # trades booked while the first run polled, besides the deposit
KILL_LOSS_MS = 1_000  # what a kill may cost: the archive writes every 0.5 s
FIELDS = ("balance", "equity", "margin", "margin_level", "profit")
METADATA = ("login", "name", "server", "company", "currency", "currency_digits", "leverage", "trade_mode")
EVERYTHING = {"choice": "all", "from_ms": None, "to_ms": None}


@dataclass
class App:
    """One ``python app.py`` on the moving terminal, the embedded Redis and a DATA_DIR of the test's own."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def text(self, path: str) -> str:
        assert self.process.poll() is None, f"the app exited with {self.process.returncode}: {self.log()[-3000:]}"
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return response.read().decode()

    def get(self, path: str) -> Any:
        return json.loads(self.text(path))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        """What a service manager sends; app.py stops on it as on Ctrl-C."""
        self.process.send_signal(signal.CTRL_BREAK_EVENT if WINDOWS else signal.SIGTERM)
        return self.process.wait(30)

    def kill(self) -> None:
        """``kill -9`` (TerminateProcess on Windows): no handler runs, nothing is flushed."""
        self.process.kill()
        self.process.wait(30)


def launch(bridge: FakeBridge, data_dir: Path, log_path: Path) -> App:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MT5", "REDIS", "APP_", "BROKER", "DATA_DIR"))}
    port = free_port()
    env.update(
        MT5_SOURCE="mt5linux", MT5LINUX_PORT=str(bridge.port), MT5_LOGIN=str(LOGIN), MT5_PASSWORD=PASSWORD,
        MT5_SERVER=SERVER, POLL_INTERVAL_MS=str(POLL_MS), DATA_DIR=str(data_dir), APP_PORT=str(port),
        PYTHONUNBUFFERED="1",
    )  # fmt: skip
    group = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if WINDOWS else {"start_new_session": True}
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, **group
        )
    app = App(process, port, log_path)
    try:
        wait_until(lambda: app.get("/health")["status"] == "ok", 90, "the app healthy on the moving terminal")
        wait_until(lambda: (app.get("/health")["mt5"]["history_sync"] or {}).get("done"), 60, "the deal history read")
    except BaseException:
        app.kill()
        raise
    return app


def iso(ms: int) -> str:
    moment = datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=ms % 1000 * 1000)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms(text: str) -> int:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(moment.replace(microsecond=0).timestamp()) * 1000 + moment.microsecond // 1000


def history(app: App) -> dict[int, dict[str, float]]:
    """Every raw point ``/export/equity.csv`` returns (what the page's equity download holds), by time."""
    rows = csv.DictReader(io.StringIO(app.text("/export/equity.csv")))
    return {epoch_ms(row["time_utc"]): {name: float(row[name]) for name in FIELDS} for row in rows}


def archived(app: App, ts: int) -> dict[str, float] | None:
    """The archive's point at ``ts`` through ``/account/at``: None when its last point before is older."""
    point = app.get("/account/at?t=" + urllib.parse.quote(iso(ts)))["point"]
    return None if point is None or point["ts"] != ts else {name: point[name] for name in FIELDS}


def drawn(app: App) -> dict[int, float]:
    """The equity the page's "All" chart draws (a few hundred points: fewer than the chart's width, none dropped)."""
    answer, _, _ = post_json(app.url + "/_dash-update-component", Callbacks(app.url).charts(EVERYTHING))
    traces = answer["response"]["equity-graph"]["figure"]["data"]
    equity = next(trace for trace in traces if trace["name"] == "Equity")
    return dict(zip(equity["x"], equity["y"], strict=True))


def deals(app: App) -> dict[int, dict[str, Any]]:
    return {deal["ticket"]: deal for deal in app.get("/deals")["deals"]}


def metadata(account: dict[str, Any]) -> dict[str, Any]:
    return {name: account[name] for name in METADATA}


@dataclass
class Seen:
    """What the API showed before the stop, and the app started again on the same DATA_DIR."""

    points: dict[int, dict[str, float]]
    deals: dict[int, dict[str, Any]]
    account: dict[str, Any]
    positions: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    stopped_ms: int
    archive: Path
    first_log: str
    restarted: App

    def recorded_a_second_before(self) -> dict[int, dict[str, float]]:
        """The points a kill must not lose: those seen at least KILL_LOSS_MS before it."""
        return {ts: point for ts, point in self.points.items() if ts <= self.stopped_ms - KILL_LOSS_MS}


def tickets(records: list[dict[str, Any]]) -> list[int]:
    return sorted(r["ticket"] for r in records)


def run_until_stopped(bridge: FakeBridge, workdir: Path, *, kill: bool) -> Seen:
    """Poll until the API shows POINTS points and TRADES new trades, note what it shows, stop, start again."""
    data_dir = workdir / "data"
    first = launch(bridge, data_dir, workdir / "first.log")
    try:
        deposit_only = len(deals(first))
        wait_until(lambda: len(deals(first)) >= deposit_only + TRADES, 30, f"{TRADES} trades booked")
        seen_deals = deals(first)
        noted_ms = int(time.time() * 1000)

        def enough(points: dict[int, dict[str, float]]) -> bool:
            """POINTS points, and the deals noted were recorded at least KILL_LOSS_MS before the stop."""
            return len(points) >= POINTS and max(points) >= noted_ms + KILL_LOSS_MS

        wait_until(lambda: enough(history(first)), 30, f"{POINTS} points, the last a second after the deals")
        account, positions, orders = first.get("/account"), first.get("/positions"), first.get("/orders")
        points = history(first)
        stopped_ms = int(time.time() * 1000)
        if kill:
            first.kill()
        else:
            assert first.stop() == 0, first.log()[-3000:]
    finally:
        if first.process.poll() is None:
            first.kill()
    restarted = launch(bridge, data_dir, workdir / "second.log")
    return Seen(
        points, seen_deals, account, positions, orders, stopped_ms, data_dir / FILE_NAME, first.log(), restarted
    )


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeBridge]:
    server = FakeBridge(0, kind="moving", log_path=tmp_path_factory.mktemp("bridge") / "bridge.log")
    server.start()
    yield server
    server.kill()


def scenario(bridge: FakeBridge, workdir: Path, *, kill: bool) -> Iterator[Seen]:
    seen = run_until_stopped(bridge, workdir, kill=kill)
    yield seen
    seen.restarted.kill()


class TestCleanStop:
    """SIGTERM (CTRL_BREAK_EVENT on Windows), then ``python app.py`` again on the same DATA_DIR."""

    @pytest.fixture(scope="class")
    def seen(self, bridge: FakeBridge, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seen]:
        yield from scenario(bridge, tmp_path_factory.mktemp("stopped"), kill=False)

    def test_the_stop_is_clean_and_the_archive_has_every_point(self, seen: Seen) -> None:
        assert "Traceback" not in seen.first_log and "not written at shutdown" not in seen.first_log
        missing = [ts for ts, point in seen.points.items() if archived(seen.restarted, ts) != point]
        assert not missing, f"{len(missing)} of {len(seen.points)} points not in the archive: {missing[:5]}"

    def test_the_history_route_returns_every_point(self, seen: Seen) -> None:
        now = history(seen.restarted)
        missing = [ts for ts, point in seen.points.items() if now.get(ts) != point]
        assert not missing, f"/export/equity.csv lost {len(missing)} of {len(seen.points)} points: {missing[:5]}"

    def test_the_page_draws_every_point(self, seen: Seen) -> None:
        drawn_now = drawn(seen.restarted)
        missing = [ts for ts, point in seen.points.items() if drawn_now.get(ts) != point["equity"]]
        assert not missing, f'"All" lost {len(missing)} of {len(seen.points)} points: {missing[:5]}'

    def test_deals_and_the_account_are_the_same(self, seen: Seen) -> None:
        now = deals(seen.restarted)
        assert {t: now.get(t) for t in seen.deals} == seen.deals
        assert metadata(seen.restarted.get("/account")) == metadata(seen.account)
        assert tickets(seen.restarted.get("/positions")) == tickets(seen.positions)
        assert tickets(seen.restarted.get("/orders")) == tickets(seen.orders)


class TestKill:
    """``kill -9`` (TerminateProcess on Windows), then ``python app.py`` again on the same DATA_DIR."""

    @pytest.fixture(scope="class")
    def seen(self, bridge: FakeBridge, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seen]:
        yield from scenario(bridge, tmp_path_factory.mktemp("killed"), kill=True)

    def test_the_archive_loses_at_most_the_last_second(self, seen: Seen) -> None:
        kept = seen.recorded_a_second_before()
        assert len(kept) >= POINTS // 2, "the test saw enough points older than a second before the kill"
        missing = [ts for ts, point in kept.items() if archived(seen.restarted, ts) != point]
        assert not missing, (
            f"{len(missing)} of {len(kept)} points recorded ≥ 1 s before the kill are gone: {missing[:5]}"
        )

    def test_no_deal_and_no_account_record_is_lost(self, seen: Seen) -> None:
        archive = Archive(seen.archive)
        try:
            stored = {deal.ticket: deal.to_dict() for deal in archive.deals(LOGIN, 0, 2**62)}
            account = archive.account(LOGIN)
        finally:
            archive.close()
        assert {t: stored.get(t) for t in seen.deals} == seen.deals, "the archive kept every deal"
        assert account is not None and metadata(account.to_dict()) == metadata(seen.account)
        now = deals(seen.restarted)
        assert {t: now.get(t) for t in seen.deals} == seen.deals, "/deals shows every deal again"
        assert metadata(seen.restarted.get("/account")) == metadata(seen.account)

    def test_the_history_route_returns_every_point_but_the_last_second(self, seen: Seen) -> None:
        kept = seen.recorded_a_second_before()
        now = history(seen.restarted)
        missing = [ts for ts, point in kept.items() if now.get(ts) != point]
        assert not missing, f"/export/equity.csv lost {len(missing)} of {len(kept)} points: {missing[:5]}"

    def test_the_page_draws_every_point_but_the_last_second(self, seen: Seen) -> None:
        kept = seen.recorded_a_second_before()
        drawn_now = drawn(seen.restarted)
        missing = [ts for ts, point in kept.items() if drawn_now.get(ts) != point["equity"]]
        assert not missing, f'"All" lost {len(missing)} of {len(kept)} points: {missing[:5]}'
