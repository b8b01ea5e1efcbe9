"""MT5 real-time account dashboard: ``python app.py`` serves it on http://127.0.0.1:8050.

``create_app(settings)`` wires the services, the REST API, ``/ws`` and the Dash
callbacks. Nothing starts a thread at import time.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import logging
import os
import signal
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from types import FrameType

from dash import Dash
from flask import Flask
from werkzeug.serving import is_running_from_reloader, run_simple

import api
import views
from api.httpserver import BusyPort, Server, probe, threads_for
from callbacks import alerts, analytics, charts, client, clock, live, overview, replay, routing, tables
from layouts.overview import layout as overview_layout
from layouts.page import layout
from services.core.secret import Secret, mask_in_logs
from services.core.settings import Settings, SettingsError, load_settings
from services.ingest.collectors import load_accounts
from services.ingest.sources.base import SourceError
from services.ingest.sources.mirror import MirrorSource
from services.ingest.supervisor import Supervisor
from services.risk.wiring import attach_risk
from services.runtime import Runtime, build_runtime

ROOT = Path(__file__).resolve().parent
EXIT_BAD_SETTINGS = 2
log = logging.getLogger("mt5dash")


def create_app(settings: Settings, runtime: Runtime | None = None, *, start: bool = True) -> Dash:
    """Build the Dash app and its services; ``start`` launches the streamer and fan-out threads."""
    runtime = runtime or build_runtime(settings)
    app = Dash(
        __name__,
        title="MT5 Dashboard",
        update_title=None,
        assets_folder=str(ROOT / "assets"),
        serve_locally=True,
        compress=True,
    )
    app.layout = layout
    server = app.server
    server.extensions["mt5_runtime"] = runtime
    risk = attach_risk(runtime)
    server.extensions["mt5_risk"] = risk
    runtime.add_companion(risk)
    api.init_app(server)
    views.install(server, runtime, risk)
    client.register(app)
    clock.register(app, runtime)
    routing.register(app, runtime)
    charts.register(app, runtime)
    tables.register(app, runtime)
    live.register(app)
    alerts.register(app, runtime)
    analytics.register(app, runtime)
    replay.register(app, runtime)
    create_overview(server)
    if start:
        runtime.start()
    return app


def create_overview(server: Flask) -> Dash:
    """Every account side by side at ``/overview/``: a second Dash app on the same server, with its own layout."""
    page = Dash(
        __name__,
        server=server,
        url_base_pathname="/overview/",
        title="MT5 Accounts",
        update_title=None,
        assets_folder=str(ROOT / "assets"),
        serve_locally=True,
    )
    page.layout = overview_layout
    overview.register(page)
    return page


def wsgi() -> Flask:
    """Entry point for gunicorn (``gunicorn -c gunicorn.conf.py "app:wsgi()"``): one app per worker.

    Workers share one MT5 caller through the Redis leader lock; each serves ``/ws`` from pub/sub. The stop
    signals' hooks are in gunicorn.conf.py; ``atexit`` covers a server without them.
    """
    settings = load_settings(dotenv_path=ROOT / ".env")
    configure_logging(settings.log_level, settings.secrets())
    app = create_app(settings)
    atexit.register(app.server.extensions["mt5_runtime"].stop)
    gc.freeze()  # as in main(): a worker's exit takes half a second instead of two or three
    return app.server


def build_accounts_runtime(settings: Settings) -> Runtime:
    """With ACCOUNTS_FILE: collectors poll the accounts; this process mirrors the first one and supervises them all
    (unless COLLECTORS=none: they run on the hosts beside the terminals)."""
    assert settings.accounts_file is not None
    specs = load_accounts(settings.accounts_file)
    first = specs[0]
    runtime = build_runtime(first.settings(settings), source=MirrorSource(first.name, first.login, first.source))
    if runtime.redis.mode == "embedded":
        raise SettingsError("REDIS_URL", "a Redis server the collector processes can share (not the embedded one)")
    runtime.accounts = specs
    if settings.collectors == "none":
        log.info("COLLECTORS=none: the %d account(s) of %s are polled by collectors elsewhere", len(specs),
                 settings.accounts_file)  # fmt: skip
        return runtime
    command = [sys.executable, str(ROOT / "app.py"), "collect", "--account"]
    supervisor = Supervisor(specs, lambda spec: [*command, spec.name], cwd=str(ROOT))
    runtime.supervisor = supervisor
    runtime.add_companion(supervisor)
    return runtime


def configure_logging(level: str, secrets: Iterable[Secret] = ()) -> None:
    """Logs to stderr, every line masked of the secrets in all their forms."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("werkzeug").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    mask_in_logs(secrets)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def install_signal_handlers() -> None:
    """SIGTERM (and Windows' SIGBREAK) stop the app the same way Ctrl-C does; Ctrl-C too when the app was started
    with SIGINT ignored, as a non-interactive shell starts a background job (``python app.py &``)."""
    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _raise_interrupt)


def ignore_stop_signals() -> None:
    """Shutdown is bounded (about 2 s); a second Ctrl-C must not interrupt it halfway."""
    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)


def listen(settings: Settings) -> Server:
    """The server's socket, bound before the app starts a thread; raises BusyPort."""
    server = Server(settings.app_host, settings.app_port, None, threads_for(settings.ws_max_connections))
    server.listen()
    return server


def serve(app: Dash, server: Server, settings: Settings) -> None:
    """Until Ctrl-C or a stop signal: then the runtime's stop closes every page's socket (1001), and the server's
    threads, freed, end."""
    runtime: Runtime = app.server.extensions["mt5_runtime"]
    server.wsgi_app = app.server
    log.info("Dashboard on http://%s:%d/ (Ctrl-C to stop)", settings.app_host, settings.app_port)
    try:
        server.serve()
    except KeyboardInterrupt:
        log.info("Stopping…")
    finally:
        ignore_stop_signals()
        runtime.stop()
        server.stop()
        log.info("Stopped")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="app.py", description="MT5 real-time account dashboard")
    commands = parser.add_subparsers(dest="command")
    collect = commands.add_parser("collect", help="poll one account of ACCOUNTS_FILE into Redis (no web server)")
    collect.add_argument("--account", required=True, help="the account's name in ACCOUNTS_FILE")
    return parser.parse_args(argv)


def run_collector(settings: Settings, name: str) -> int:
    """One account's streamer and risk rules, writing to the shared Redis; stops on Ctrl-C or SIGTERM."""
    if settings.accounts_file is None:
        print("Invalid setting: ACCOUNTS_FILE: expected the accounts file that names this account", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    specs = {spec.name: spec for spec in load_accounts(settings.accounts_file)}
    if name not in specs:
        print(f"Invalid setting: --account: expected one of {', '.join(specs)} (got {name!r})", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    account_settings = specs[name].settings(settings)
    mask_in_logs(account_settings.secrets())  # this account's password, from its password_env
    runtime = build_runtime(account_settings)
    if runtime.redis.mode == "embedded":
        print("Invalid setting: REDIS_URL: expected a Redis server shared with the dashboard", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    runtime.add_companion(attach_risk(runtime))
    runtime.start(with_fanout=False)
    log.info("collector %s: account #%d into %s", name, specs[name].login, runtime.redis.url)
    try:
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        log.info("collector %s: stopping", name)
    finally:
        ignore_stop_signals()
        runtime.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = load_settings(dotenv_path=ROOT / ".env")
    except SettingsError as exc:
        print(f"Invalid setting: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    configure_logging(settings.log_level, settings.secrets())
    install_signal_handlers()
    if args.command == "collect":
        try:
            return run_collector(settings, args.account)
        except (SettingsError, SourceError) as exc:
            print(f"Invalid setting: {exc}", file=sys.stderr)
            return EXIT_BAD_SETTINGS
    if settings.app_host in ("0.0.0.0", "::") and settings.app_auth == "none":
        log.warning(
            "APP_HOST=%s WITHOUT AUTHENTICATION: anyone on your network can see this account. "
            "Set APP_AUTH=basic and APP_USERS, or bind to 127.0.0.1",
            settings.app_host,
        )
    try:
        if not is_running_from_reloader():  # the reloader's child serves on its parent's socket
            probe(settings.app_host, settings.app_port)
    except BusyPort as exc:
        return busy_port(exc)
    if settings.app_debug and not is_running_from_reloader():
        run_simple(settings.app_host, settings.app_port, _reloader_parent, use_reloader=True, reloader_type="stat")
        return 0
    try:
        app = create_app(settings, build_accounts_runtime(settings) if settings.accounts_file else None, start=False)
    except SourceError as exc:
        print(f"Invalid setting: MT5_SOURCE: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    except SettingsError as exc:  # a rules file whose content is wrong: file, line and field
        print(f"Invalid setting: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    runtime: Runtime = app.server.extensions["mt5_runtime"]
    if settings.app_debug:
        runtime.start()
        try:
            run_simple(
                settings.app_host, settings.app_port, app.server, threaded=True, use_reloader=True, reloader_type="stat"
            )
        finally:
            runtime.stop()
        return 0
    try:
        server = listen(settings)
    except BusyPort as exc:  # taken since the probe: still before the runtime starts a thread
        runtime.stop()
        return busy_port(exc)
    runtime.start()
    gc.freeze()  # the app's long-lived objects: no collection walks them again, nor the one at exit
    serve(app, server, settings)
    return 0


def busy_port(exc: BusyPort) -> int:
    """One line naming APP_PORT, as for any other bad setting, instead of the server's own words."""
    print(f"Invalid setting: APP_PORT: {exc}", file=sys.stderr)
    return EXIT_BAD_SETTINGS


def _reloader_parent(environ: dict, start_response: object) -> list[bytes]:
    """The debug reloader's parent only watches files and restarts the child; the child serves."""
    raise RuntimeError("the reloader parent process does not serve requests")


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
