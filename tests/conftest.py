"""Shared fixtures: a real redis-server and a private PostgreSQL on free ports, headless Chromium options,
app builders."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from tests.pg import PostgresServer, started_server

# Property tests check logic, not speed: a loaded CI machine must not fail them on time, and each run draws the
# same examples, so a failure reproduces (a new example set comes with each change to a strategy).
hypothesis_settings.register_profile(
    "suite", deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
hypothesis_settings.load_profile("suite")

CHROMIUM = "/usr/bin/chromium"
CHROME_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--window-size=1280,1000",
)


def pytest_setup_options():
    """dash_duo's Chrome options: Debian's Chromium, headless, no network chatter."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = CHROMIUM
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    return options


def pytest_configure(config: pytest.Config) -> None:
    config.option.headless = True
    if not getattr(config.option, "webdriver", None):
        config.option.webdriver = "Chrome"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RedisServer:
    """A private redis-server process; tests may stop, freeze or restart it."""

    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    options: tuple[str, ...] = ()  # more redis-server arguments; a repeated option wins over the defaults

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: run scripts/test.sh, which installs it")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
                *self.options,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    client.close()
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        pytest.fail(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True, socket_timeout=5)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with tempfile.TemporaryDirectory() as workdir:
        server = RedisServer(free_port(), Path(workdir))
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One private PostgreSQL for the session (``tests/pg.py``); each test takes a database of its own."""
    server = started_server(free_port())
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A new, empty database on the private server: the URL carries the server's password."""
    return postgres_server.create_database()


@pytest.fixture(autouse=True, scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Apps built by tests keep their archive in a temporary directory, never in the repository's data/."""
    from services.core import settings

    original, settings.DEFAULT_DATA_DIR = settings.DEFAULT_DATA_DIR, tmp_path_factory.mktemp("data")
    yield settings.DEFAULT_DATA_DIR
    settings.DEFAULT_DATA_DIR = original


@pytest.fixture
def make_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Build apps the way ``app.py`` does (one per test), and stop their threads afterwards.

    Each app keeps its archive in a directory of its own (as each has its own Redis), unless ``DATA_DIR``
    is given: saved rules and alerts must not leak from one test into the next.
    """
    from app import create_app
    from services.core.settings import load_settings
    from services.runtime import build_runtime

    built: list[Any] = []

    def build(env: dict[str, str] | None = None, source: Any = None, start: bool = True) -> Any:
        defaults = {"REDIS_URL": "embedded", "DATA_DIR": str(tmp_path_factory.mktemp("data"))}
        settings = load_settings({**defaults, **(env or {})}, dotenv_path=None)
        app = create_app(settings, build_runtime(settings, source=source), start=start)
        built.append(app)
        return app

    yield build
    for app in built:
        app.server.extensions["mt5_runtime"].stop()


@dataclass
class LiveServer:
    url: str
    ws_url: str
    server: Any
    thread: threading.Thread

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def serve() -> Iterator[Any]:
    """Serve a Flask app on a free port in a thread (werkzeug, threaded, as ``python app.py`` does)."""
    from werkzeug.serving import make_server

    servers: list[LiveServer] = []

    def start(flask_app: Any, port: int = 0) -> LiveServer:
        server = make_server("127.0.0.1", port, flask_app, threaded=True)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        port = server.server_port
        live = LiveServer(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws", server, thread)
        servers.append(live)
        return live

    yield start
    for live in servers:
        live.stop()


def pytest_assertrepr_compare(op: str, left: Any, right: Any) -> list[str] | None:
    """Show browser console messages in full when ``dash_duo.get_logs() == []`` fails."""
    if op == "==" and right == [] and isinstance(left, list) and left and isinstance(left[0], dict):
        return ["browser console is not empty:", *(str(entry.get("message"))[:800] for entry in left)]
    return None
