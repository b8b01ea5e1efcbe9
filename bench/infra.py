"""What every benchmark stands on: a private redis-server, the app in its own process, CPU meters, percentiles.

The app runs as a subprocess so psutil sees only the server's CPU and memory, never the clients'.
Nothing here touches the shared Redis on 6379: each run starts its own server on a free port.
"""

from __future__ import annotations

import gzip
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import redis

ROOT = Path(__file__).resolve().parents[1]
LOGIN = 5_000_001


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], Any], timeout: float, what: str, step: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


class RedisServer:
    """A private ``redis-server`` (no persistence) in a temporary directory."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (scripts/test.sh installs it)")
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", str(self.workdir), "--daemonize", "no", "--loglevel", "warning"]
        self.process = subprocess.Popen([binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        probe = redis.Redis(port=self.port, socket_connect_timeout=0.2)

        def answers() -> bool:
            try:
                return bool(probe.ping())
            except redis.ConnectionError:
                return False

        wait_for(answers, 10, f"redis-server on port {self.port}", 0.05)
        probe.close()
        return self

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True, socket_timeout=120)

    def flush(self) -> None:
        with self.client() as client:
            client.flushall()

    def memory(self) -> dict[str, int]:
        with self.client() as client:
            info = client.info("memory")
        return {"used_memory": int(info["used_memory"]), "used_memory_rss": int(info["used_memory_rss"])}

    def version(self) -> str:
        with self.client() as client:
            return str(client.info("server")["redis_version"])

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


class AppProcess:
    """``python -m bench.server``: the app (``push``) or the polling reference (``poll``), ready once it has polled."""

    def __init__(self, redis_url: str, log_path: Path, *, app: str = "push", poll_ms: int = 250, **extra: Any) -> None:
        self.port = free_port()
        self.args = ["--app", app, "--port", str(self.port), "--redis-url", redis_url, "--poll-ms", str(poll_ms)]
        for name, value in extra.items():
            flag = f"--{name.replace('_', '-')}"
            self.args += [flag] if value is True else [flag, str(value)]
        self.log_path = log_path
        self.popen: subprocess.Popen[bytes] | None = None
        self.proc: psutil.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def __enter__(self) -> AppProcess:
        with self.log_path.open("wb") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "bench.server", *self.args],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.proc = psutil.Process(self.popen.pid)

        def ready() -> bool:
            if self.popen is not None and self.popen.poll() is not None:
                raise RuntimeError(f"bench server exited early; see {self.log_path}")
            try:
                return bool(self.state()["ready"])
            except OSError:
                return False

        wait_for(ready, 90, f"the bench server on port {self.port}", 0.2)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.popen is None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)
        self.popen = None

    def state(self) -> dict[str, Any]:
        return get_json(self.url + "/_bench/state")

    def timeline(self) -> dict[str, Any]:
        """Every poll's read time with the change count it saw, and every injected change's time (epoch ms)."""
        return get_json(self.url + "/_bench/timeline", timeout=30)

    def health(self) -> dict[str, Any]:
        return get_json(self.url + "/health")

    def rss(self) -> int:
        assert self.proc is not None
        return int(self.proc.memory_info().rss)


def get_json(url: str, timeout: float = 10) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def post_json(url: str, body: Any, timeout: float = 60) -> tuple[Any, int, float]:
    """POST as a browser would (gzip accepted); returns the decoded answer, the bytes on the wire and the seconds."""
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Accept-Encoding": "gzip"}
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=timeout) as response:
        raw = response.read()
        encoding = response.headers.get("Content-Encoding")
    seconds = time.perf_counter() - started
    payload = gzip.decompress(raw) if encoding == "gzip" else raw
    return json.loads(payload), len(raw), seconds


def summary(values: Any) -> dict[str, float | int | None]:
    """n, mean, p50, p95, p99 and max (ms or whatever unit came in); Nones when there is no sample."""
    array = np.asarray(list(values), dtype=float)
    if array.size == 0:
        return {"n": 0, "mean": None, "p50": None, "p95": None, "p99": None, "max": None}
    p50, p95, p99 = np.percentile(array, [50, 95, 99])
    return {
        "n": int(array.size),
        "mean": round(float(array.mean()), 2),
        "p50": round(float(p50), 2),
        "p95": round(float(p95), 2),
        "p99": round(float(p99), 2),
        "max": round(float(array.max()), 2),
    }


class CpuMeter:
    """CPU seconds a process (all its threads) spent between ``start()`` and ``stop()``, as % of one core."""

    def __init__(self, proc: psutil.Process) -> None:
        self.proc = proc
        self._cpu = 0.0
        self._wall = 0.0

    def _cpu_now(self) -> float:
        times = self.proc.cpu_times()
        return times.user + times.system

    def start(self) -> CpuMeter:
        self._cpu, self._wall = self._cpu_now(), time.monotonic()
        return self

    def stop(self) -> dict[str, float]:
        cpu, wall = self._cpu_now() - self._cpu, time.monotonic() - self._wall
        return {"cpu_s": round(cpu, 3), "wall_s": round(wall, 3), "cpu_pct": round(100 * cpu / wall, 2)}


class Sampler:
    """Calls ``sample()`` every ``interval_s`` on a thread and keeps the rows, for memory-over-time figures."""

    def __init__(self, sample: Callable[[], dict[str, Any]], interval_s: float) -> None:
        self.sample = sample
        self.interval_s = interval_s
        self.rows: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.rows.append(self.sample())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self.rows.append(self.sample())
