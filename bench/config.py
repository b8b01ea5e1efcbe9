"""Sizes of a full run and of the ``--quick`` smoke run, and the context every scenario gets."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.infra import AppProcess, RedisServer
from services.storage.store import Store

PREFIX = "mt5"
HISTORY_CAP = 1_000_000


@dataclass(frozen=True)
class Sizes:
    """How much each scenario does; a full run fits in about 25 minutes on 2 cores."""

    poll_intervals_ms: tuple[int, ...] = (100, 250, 1000)
    latency_window_s: tuple[float, ...] = (20.0, 20.0, 40.0)  # two changes per interval: 80 even at 1000 ms
    pushpoll_interval_ms: int = 250
    pushpoll_browsers: int = 2
    pushpoll_window_s: float = 20.0
    settle_s: float = 3.0  # after the pages painted, before the window opens
    pushpoll_history: int = 10_000
    client_counts: tuple[int, ...] = (50, 100, 200, 500)
    clients_interval_ms: int = 500  # 2 updates/s
    clients_window_s: float = 15.0
    clients_per_worker: int = 250
    history_points: int = 1_000_000
    history_step_ms: int = 250  # a million polls at the default rate: about 69 hours
    export_deals: int = 1_000_000
    soak_hours: float = 24.0
    soak_step_ms: int = 250  # 4 updates per simulated second
    accounts: int = 20
    accounts_interval_ms: int = 250  # 4 updates/s each
    accounts_window_s: float = 20.0
    pages_interval_ms: int = 250  # 4 polls/s
    pages_counts: tuple[int, ...] = (0, 1, 2, 4)  # Chromium pages open while the server's CPU is measured
    pages_window_s: float = 15.0
    pages_history: int = 10_000
    dom_intervals_ms: tuple[int, ...] = (100, 250, 1000)
    dom_window_s: tuple[float, ...] = (20.0, 20.0, 30.0)
    page_sockets: int = 500
    page_sockets_window_s: float = 20.0
    scale_browsers: int = 2


FULL = Sizes()
QUICK = Sizes(
    poll_intervals_ms=(250,),
    latency_window_s=(2.0,),
    pushpoll_browsers=1,
    pushpoll_window_s=2.0,
    settle_s=0.5,
    pushpoll_history=2_000,
    client_counts=(5,),
    clients_window_s=2.0,
    history_points=20_000,
    export_deals=20_000,
    soak_hours=0.1,
    accounts=2,
    accounts_window_s=2.0,
    pages_counts=(0, 1),
    pages_window_s=2.0,
    pages_history=2_000,
    dom_intervals_ms=(250,),
    dom_window_s=(2.0,),
    page_sockets=5,
    page_sockets_window_s=2.0,
    scale_browsers=1,
)


@dataclass
class Context:
    """The private Redis, the sizes, and where logs and scratch files go."""

    redis: RedisServer
    sizes: Sizes
    workdir: Path
    started: float = field(default_factory=time.monotonic)

    def app(self, name: str, **options: object) -> AppProcess:
        return AppProcess(self.redis.url, self.workdir / f"{name}.log", **options)

    def store(self) -> Store:
        return Store(self.redis.client(), PREFIX, HISTORY_CAP)

    def log(self, message: str) -> None:
        print(f"[bench {time.monotonic() - self.started:6.1f} s] {message}", flush=True)
