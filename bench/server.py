"""One benchmark server: the app (``--app push``) or the ``dcc.Interval`` reference (``--app poll``).

Run by the suite as ``python -m bench.server --app push --port P --redis-url U --poll-ms 250``. Both
serve the same timed demo account, polled by the app's own streamer at the same rate. Besides their
own routes they serve ``/_bench/state`` and ``/_bench/timeline``: when each poll read the account and
when each injected change happened, the ground truth every latency is measured from.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from collections import deque
from dataclasses import replace
from typing import Any

from flask import Flask, jsonify

from app import configure_logging, create_app, install_signal_handlers, listen, serve
from services.core.models import Account, HistoryPoint, Terminal
from services.core.settings import Settings, load_settings
from services.ingest.sources.demo import DemoSource
from services.runtime import Runtime, build_runtime

TIMELINE_LEN = 200_000
WS_CAP = 1_000  # sockets a bench server takes (the app's default is 64): the pages scenario opens 500 and more
# Each change adds this much credit, which MT5 counts in equity: far above the demo's own equity (a 10,000
# deposit), so any text or point of equity tells how many changes it includes (``changes_in``).
CREDIT_STEP = 1_000_000


def changes_in(equity: float) -> int:
    """How many injected changes an equity (a KPI's text, a chart's point, an account event) includes."""
    return int(equity // CREDIT_STEP)


class SimClock:
    """Simulated wall time, moved only by ``advance()``: the soak's compression of a day into minutes."""

    def __init__(self, start_s: float) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


class TimedDemoSource(DemoSource):
    """The demo account plus the ground truth the latencies are measured from.

    A change (the account's ``credit`` going up by ``CREDIT_STEP``, and with it equity, free margin and
    margin level, as MT5 counts them) happens at seeded random wall times, spaced ``mean_gap_s`` apart on
    average and independent of the poll phase, like a trader's action. Every poll records when it read
    the account and how many changes it saw. With ``sim_step_s`` set (the soak), each poll moves a
    simulated clock on by that step instead, and nothing is injected or recorded: a timeline kept for a
    whole simulated day would itself grow this process by megabytes. ``backfill=False``: no simulated past,
    so the history holds only what the run polls (the polling reference's empty history).
    """

    def __init__(self, *, mean_gap_s: float, sim_step_s: float = 0.0, seed: int = 7, backfill: bool = True) -> None:
        self.sim = SimClock(time.time()) if sim_step_s else None
        super().__init__(seed=seed, clock=self.sim or time.time)
        self.sim_step_s = sim_step_s
        self._backfill = backfill
        self._gaps = random.Random(seed)
        self._mean_gap_s = mean_gap_s
        self._next_change_s = 0.0
        self._changes = 0
        self._lock = threading.Lock()
        self.polls: deque[tuple[float, int]] = deque(maxlen=TIMELINE_LEN)
        self.change_times: deque[float] = deque(maxlen=TIMELINE_LEN)

    def terminal(self) -> Terminal:
        """The first call of every poll, so the simulated clock moves once per poll."""
        if self.sim is not None:
            self.sim.advance(self.sim_step_s)
        return super().terminal()

    def account(self) -> Account:
        if self.sim is not None:
            return super().account()
        now_s = time.time()
        with self._lock:
            if not self._next_change_s:
                self._next_change_s = now_s + self._gap()
            while self._next_change_s <= now_s:
                self.change_times.append(self._next_change_s * 1000)
                self._changes += 1
                self._next_change_s += self._gap()
            self.polls.append((now_s * 1000, self._changes))
        account = super().account()
        credit = float(self._changes * CREDIT_STEP)
        equity = round(account.equity + credit, 2)
        level = round(equity / account.margin * 100, 2) if account.margin else 0.0
        free = round(account.margin_free + credit, 2)
        return replace(account, credit=credit, equity=equity, margin_free=free, margin_level=level)

    def backfill(self) -> list[HistoryPoint]:
        return super().backfill() if self._backfill else []

    def _gap(self) -> float:
        return self._mean_gap_s * self._gaps.uniform(0.5, 1.5)

    def timeline(self) -> dict[str, Any]:
        with self._lock:
            return {"polls": list(self.polls), "changes": list(self.change_times)}


def add_bench_routes(server: Flask, runtime: Runtime, source: TimedDemoSource) -> None:
    @server.get("/_bench/state")
    def state() -> Any:
        status = runtime.streamer.status()
        return jsonify(
            ready=runtime.streamer.latest() is not None,
            polls=status.polls,
            sim_ms=None if source.sim is None else int(source.sim() * 1000),
            history=runtime.store.history_length(status.login) if status.login else 0,
        )

    @server.get("/_bench/timeline")
    def timeline() -> Any:
        return jsonify(source.timeline())


def build(args: argparse.Namespace) -> tuple[Any, Settings]:
    env = {
        "REDIS_URL": args.redis_url,
        "APP_PORT": str(args.port),
        "POLL_INTERVAL_MS": str(args.poll_ms),
        "LOG_LEVEL": "WARNING",
        "WS_MAX_CONNECTIONS": str(WS_CAP),
    }
    settings = load_settings(env, dotenv_path=None)
    source = TimedDemoSource(
        mean_gap_s=args.poll_ms / 2000, sim_step_s=args.sim_step_ms / 1000, backfill=not args.no_backfill
    )
    runtime = build_runtime(settings, source=source)
    if source.sim is not None:
        # Every time the streamer makes (history ids, heartbeats, rollup minutes) follows the simulated
        # day, and its loop no longer waits. Streamer takes a clock, but Runtime builds it without one.
        runtime.streamer._clock = source.sim
    if args.app == "poll":
        from bench.polling_app import create_polling_app

        app = create_polling_app(runtime, interval_ms=args.poll_ms, points=args.points)
        runtime.streamer.start()
    else:
        app = create_app(settings, runtime, start=True)
    add_bench_routes(app.server, runtime, source)
    return app, settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--app", choices=("push", "poll"), default="push")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--poll-ms", type=int, default=250)
    parser.add_argument("--sim-step-ms", type=int, default=0, help="soak: simulated ms each poll moves the clock on")
    parser.add_argument("--points", type=int, default=10_000, help="poll: history points each tick redraws")
    parser.add_argument("--no-backfill", action="store_true", help="no simulated past: history only from the run")
    args = parser.parse_args()
    configure_logging("WARNING")
    install_signal_handlers()
    app, settings = build(args)
    serve(app, listen(settings), settings)


if __name__ == "__main__":
    main()
