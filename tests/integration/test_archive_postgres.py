"""The archive on a real PostgreSQL server (a private one, ``tests/pg.py``): the same schema and rows as on
SQLite, the writer, the app with ``DATABASE_URL``, a server that goes away and comes back, and a password
that never shows."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from services.core.secret import redact_url
from services.ingest.sources.demo import DemoSource
from services.storage.archive import Archive, ArchiveWriter, Batch, State
from tests.conftest import free_port
from tests.helpers import wait_until
from tests.integration.test_app_process import ROOT, get_json, launch
from tests.integration.test_replay_api import iso
from tests.pg import PASSWORD, PostgresServer, started_server
from tests.unit.test_archive import LOGIN, deal, point
from tests.unit.test_archive_writer import QUICK

pytestmark = pytest.mark.integration

BIG = 2**63 - 1  # logins and tickets are BIGINT on both backends


def opened(url: str) -> Archive:
    archive = Archive(url)
    archive.open()
    return archive


def test_rows_round_trip_and_a_rewrite_changes_nothing(postgres_url: str) -> None:
    source = DemoSource(seed=3)
    source.connect()
    account, positions, orders = source.account(), tuple(source.positions()), tuple(source.orders())
    login = account.login
    batch = Batch(
        points=[(login, point(1_000)), (login, point(2_000, 990.5)), (BIG, point(1_500))],
        deals=[(login, deal(11, 1_200)), (login, deal(BIG, 2_500)), (7, deal(11, 1_300))],
        states=[State(login, 1_000, positions, orders), State(login, 3_000, (), ())],
        accounts=[(6_000, account)],
    )
    archive = opened(postgres_url)
    archive.write(batch)
    archive.write(batch)  # a retried batch: no row doubles, none changes
    archive.write(
        Batch(
            points=[(login, point(2_000, 1.0))],
            deals=[(login, replace(deal(11, 1_200), profit=9.0))],
            states=[State(login, 3_000, positions, ())],  # the latest state of a moment wins
            accounts=[(5_500, replace(account, balance=1.0))],  # older than the stored one: ignored
        )
    )
    archive.close()

    again = opened(postgres_url)  # a restart: the migration finds its schema and changes nothing
    try:
        assert again.history(login, 0, 10_000) == [point(1_000), point(2_000, 990.5)]
        assert again.history(BIG, 0, 10_000) == [point(1_500)]
        assert again.deals(login, 0, 10_000) == [deal(11, 1_200), deal(BIG, 2_500)]
        assert again.deals(7, 0, 10_000) == [deal(11, 1_300)]
        assert again.states(login) == [State(login, 1_000, positions, orders), State(login, 3_000, positions, ())]
        assert again.point_at(login, 1_999) == point(1_000)
        assert again.point_at(login, 999) is None
        assert again.state_at(login, 2_999) == State(login, 1_000, positions, orders)
        assert again.account(login) == account
        assert again.size_bytes() > 0
    finally:
        again.close()


def test_hosts_starting_together_migrate_one_after_the_other(postgres_url: str) -> None:
    archives = [Archive(postgres_url) for _ in range(3)]
    start = threading.Barrier(len(archives))
    errors: list[BaseException] = []

    def open_at_once(archive: Archive) -> None:
        start.wait()
        try:
            archive.open()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_at_once, args=(a,)) for a in archives]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert errors == []
        for archive in archives:
            archive.write(Batch(points=[(LOGIN, point(1_000))]))
        assert archives[0].history(LOGIN, 0, 2_000) == [point(1_000)]
    finally:
        for archive in archives:
            archive.close()


def test_the_writer_batches_into_postgresql_and_reports_the_masked_url(postgres_url: str) -> None:
    writer = ArchiveWriter(Archive(postgres_url), batch_rows=4, interval_s=0.01, backoff=QUICK)
    writer.submit_points(LOGIN, [point(ts) for ts in range(1_000, 11_000, 1_000)])
    writer.submit_deals(LOGIN, [deal(1, 1_500), deal(2, 2_500), deal(2, 2_500)])
    writer.start()
    try:
        wait_until(lambda: writer.pending == 0 and writer.written == 12, message="the rows written")
        health = writer.health()
    finally:
        writer.stop()
    assert (health["backend"], health["path"], health["state"]) == ("postgresql", None, "ok")
    assert health["url"] == redact_url(postgres_url) and "postgres:********@127.0.0.1:" in health["url"]
    assert health["size_bytes"] > 0 and health["last_write_ms"] is not None
    archive = opened(postgres_url)
    try:
        assert [p.ts for p in archive.history(LOGIN, 0, 20_000)] == list(range(1_000, 11_000, 1_000))
        assert [d.ticket for d in archive.deals(LOGIN, 0, 20_000)] == [1, 2]
    finally:
        archive.close()


def archived_app(make_app: Any, url: str) -> tuple[Any, Any]:
    """The demo account polled into the archive at ``url``, once its first poll is written."""
    app = make_app({"MT5_SOURCE": "demo", "DATABASE_URL": url})
    client = app.server.test_client()
    wait_until(
        lambda: (body := client.get("/health").get_json())["status"] == "ok" and body["archive"]["written"],
        timeout=60,
        message="a healthy app that archived its first poll",
    )
    return app, client


def test_the_app_records_into_postgresql_and_replays_from_it(make_app: Any, postgres_url: str) -> None:
    app, client = archived_app(make_app, postgres_url)
    archive = client.get("/health").get_json()["archive"]
    assert (archive["backend"], archive["url"], archive["path"]) == ("postgresql", redact_url(postgres_url), None)
    assert archive["size_bytes"] > 0

    login = app.server.extensions["mt5_runtime"].login()
    reader = opened(postgres_url)  # the server itself, not the app's engine
    try:
        recorded = wait_until(lambda: reader.history(login, 0, 2**62), message="history on the server")
    finally:
        reader.close()
    body = client.get("/account/at", query_string={"t": iso(recorded[-1].ts)}).get_json()
    assert (body["account"], body["t"], body["point"]) == (login, recorded[-1].ts, recorded[-1].to_dict())
    assert body["state"] is not None and body["currency"] == "USD"


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A server of the test's own, to stop and start without disturbing the session's."""
    server = started_server(free_port())
    try:
        yield server
    finally:
        server.remove()


def test_a_server_that_goes_away_degrades_the_archive_until_it_returns(
    own_postgres: PostgresServer, make_app: Any
) -> None:
    app, client = archived_app(make_app, own_postgres.create_database())
    writer = app.server.extensions["mt5_runtime"].archive
    login = app.server.extensions["mt5_runtime"].login()

    own_postgres.stop()
    report = wait_until(
        lambda: (body := client.get("/health").get_json())["archive"]["state"] == "degraded" and body,
        timeout=30,
        message="/health saying the archive refuses writes",
    )
    assert report["status"] == "degraded" and "OperationalError" in report["archive"]["error"]
    writer.submit_deals(login, [deal(77, 1_000)])  # recorded while the server is away: kept in memory
    assert writer.pending >= 1

    own_postgres.start()
    wait_until(
        lambda: client.get("/health").get_json()["archive"]["state"] == "ok" and writer.archive.deals(login, 0, 2_000),
        timeout=60,  # the writer's backoff after a few failures (1 s doubling), on a loaded machine
        message="the writer writing again once the server is back",
    )
    assert writer.archive.deals(login, 0, 2_000) == [deal(77, 1_000)]


def forms(secret: str) -> list[str]:
    """The password as it may leak: plain, URL-encoded either way, and base64 (alone or as HTTP Basic)."""
    return [
        secret,
        quote(secret, safe=""),
        quote(secret),
        base64.b64encode(secret.encode()).decode(),
        base64.b64encode(f"postgres:{secret}".encode()).decode(),
    ]


def run_app(
    env: dict[str, str], tmp_path: Path, ready: Callable[[dict[str, Any]], bool], paths: Callable[[], tuple[str, ...]]
) -> tuple[list[str], str]:
    """``python app.py`` until ``ready(health)``; the bodies of ``/health`` and ``paths()`` then, and the whole
    log after a stop."""
    process, port, log_path = launch({"REDIS_URL": "embedded", "LOG_LEVEL": "DEBUG", **env}, tmp_path)
    try:
        wait_until(lambda: ready(get_json(port, "/health")), timeout=60, message="the app ready")
        bodies = [json.dumps(get_json(port, path)) for path in ("/health", *paths())]
        process.send_signal(signal.SIGTERM)
        process.wait(10)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    return bodies, log_path.read_text()


def test_the_password_shows_in_no_log_line_response_or_error(postgres_url: str, tmp_path: Path) -> None:
    def archived(health: dict[str, Any]) -> bool:
        return health["status"] == "ok" and bool(health["archive"]["written"])

    def now() -> tuple[str, ...]:
        return "/api", "/mt5/status", "/connection-status", f"/account/at?t={quote(iso(int(time.time() * 1000)))}"

    bodies, output = run_app({"DATABASE_URL": postgres_url}, tmp_path, archived, now)
    assert f"archive: {redact_url(postgres_url)} (PostgreSQL)" in output
    assert json.loads(bodies[0])["archive"]["url"] == redact_url(postgres_url)
    assert json.loads(bodies[-1])["point"] is not None  # replayed from the server

    wrong = "Wr0ng/pass:word@x%"
    refused_url = postgres_url.replace(quote(PASSWORD, safe=""), quote(wrong, safe=""))
    refused_bodies, refused_output = run_app(
        {"DATABASE_URL": refused_url}, tmp_path, lambda health: health["archive"]["failures"] >= 1, tuple
    )
    refused = json.loads(refused_bodies[0])["archive"]
    assert refused["state"] == "degraded" and "password authentication failed" in refused["error"]
    assert "archive refuses writes" in refused_output

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MT5", "REDIS", "APP_", "DATABASE"))}
    invalid = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env={**env, "DATABASE_URL": f"mysql://postgres:{quote(PASSWORD, safe='')}@127.0.0.1/archive"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert invalid.returncode == 2 and "DATABASE_URL" in invalid.stderr

    for text in (*bodies, output, *refused_bodies, refused_output, invalid.stdout + invalid.stderr):
        for secret in (PASSWORD, wrong):
            leaked = [form for form in forms(secret) if form in text]
            assert leaked == [], f"the password shows as {leaked}"
