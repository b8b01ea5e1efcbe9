"""The archive on a real SQLite file in tmp_path (the schema on PostgreSQL too): migrations, idempotent
writes, reads, a restart."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import fakeredis
import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.exc import OperationalError

from services.core import settings as settings_module
from services.core.models import Deal, HistoryPoint
from services.core.settings import SettingsError, load_settings
from services.ingest.sources.demo import DemoSource
from services.storage.archive import FILE_NAME, Archive, Batch, State
from services.storage.archive.database import MIGRATIONS
from services.storage.archive.schema import metadata
from services.storage.series import load_window
from services.storage.store import Store

LOGIN = 5000001


def deal(ticket: int, time_utc_ms: int) -> Deal:
    return Deal(
        ticket, ticket + 1, time_utc_ms // 1000 + 7200, time_utc_ms + 7_200_000, 0, 0, 0, ticket, 0,
        0.1, 1.1, -0.5, 0.0, 12.5, 0.0, "EURUSD", "", "", time_utc_ms,
    )  # fmt: skip


def point(ts: int, equity: float = 1000.0) -> HistoryPoint:
    return HistoryPoint(ts, 1000.0, equity, 10.0, 10_000.0, equity - 1000.0)


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    opened = Archive(tmp_path / "sub" / FILE_NAME)
    opened.open()
    yield opened
    opened.close()


def test_open_creates_the_file_in_wal_mode(archive: Archive) -> None:
    assert archive.path.is_file()
    with archive.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migrations_build_exactly_the_tables_of_the_metadata(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Every table, column, type, key and index, on both backends, at the newest migration whatever it is."""
    target = tmp_path / FILE_NAME if backend == "sqlite" else request.getfixturevalue("postgres_url")
    archive = Archive(target)
    archive.open()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with archive.engine.connect() as conn:
            assert conn.dialect.name == backend
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
            assert set(inspect(conn).get_table_names()) == {*metadata.tables, "alembic_version"}
            head = ScriptDirectory.from_config(config).get_current_head()
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == head
    finally:
        archive.close()


def test_writes_are_idempotent_and_read_back_by_range(archive: Archive) -> None:
    batch = Batch(
        points=[(LOGIN, point(1_000)), (LOGIN, point(2_000, 990.0)), (7, point(1_500))],
        deals=[(LOGIN, deal(11, 1_200)), (LOGIN, deal(12, 2_500)), (7, deal(11, 1_300))],
    )
    archive.write(batch)
    archive.write(batch)  # a retried batch
    archive.write(Batch(points=[(LOGIN, point(2_000, 123.0))], deals=[(LOGIN, replace(deal(12, 2_500), profit=9.0))]))

    assert archive.history(LOGIN, 0, 10_000) == [point(1_000), point(2_000, 990.0)]
    assert archive.history(LOGIN, 1_001, 2_000) == [point(2_000, 990.0)]
    assert [d.ticket for d in archive.deals(LOGIN, 0, 10_000)] == [11, 12]
    assert archive.deals(LOGIN, 2_000, 3_000) == [deal(12, 2_500)]
    assert archive.deals(7, 0, 10_000) == [deal(11, 1_300)]


def test_states_and_the_latest_account_survive_a_restart(tmp_path: Path) -> None:
    source = DemoSource(seed=3)
    source.connect()
    account, positions = source.account(), tuple(source.positions())
    first = Archive(tmp_path / FILE_NAME)
    first.open()
    first.write(
        Batch(
            points=[(account.login, point(5_000))],
            deals=[(account.login, deal(1, 4_000))],
            states=[State(account.login, 5_000, positions, ()), State(account.login, 6_000, (), ())],
            accounts=[(6_000, account)],
        )
    )
    first.write(Batch(accounts=[(5_500, replace(account, balance=1.0))]))  # older: the newer one stays
    first.close()

    again = Archive(tmp_path / FILE_NAME)
    again.open()  # the migration finds its schema and changes nothing
    assert again.history(account.login, 0, 10_000) == [point(5_000)]
    assert again.deals(account.login, 0, 10_000) == [deal(1, 4_000)]
    assert again.states(account.login) == [
        State(account.login, 5_000, positions, ()),
        State(account.login, 6_000, (), ()),
    ]
    assert again.account(account.login) == account
    assert again.size_bytes() > 0
    again.close()


def test_data_dir_defaults_beside_app_py_and_must_be_writable(tmp_path: Path) -> None:
    assert (settings_module.APP_DIR / "app.py").is_file()
    assert load_settings({}, dotenv_path=None).data_dir == settings_module.DEFAULT_DATA_DIR  # a tmp dir in tests
    assert load_settings({"DATA_DIR": str(tmp_path / "a" / "b")}, dotenv_path=None).data_dir == tmp_path / "a" / "b"
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SettingsError, match="DATA_DIR"):
        load_settings({"DATA_DIR": str(blocker / "archive")}, dotenv_path=None)
    with pytest.raises(SettingsError, match="DATA_DIR"):
        load_settings({"DATA_DIR": str(blocker)}, dotenv_path=None)


def test_a_database_another_program_made_is_refused_at_open(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE history (x TEXT)")
    archive = Archive(path)
    with pytest.raises(OperationalError, match="already exists"):
        archive.open()
    archive.close()


def test_charts_read_the_archive_for_what_lies_before_redis_first_point(archive: Archive) -> None:
    store = Store(fakeredis.FakeRedis(decode_responses=True), "t", 10_000)
    archive.write(Batch(points=[(LOGIN, point(ts, 1000.0 + ts)) for ts in range(1_000, 6_000, 1_000)]))

    wiped = load_window(store, LOGIN, 2_000, 4_000, 500, now_ms=10_000, archive=archive)
    assert (wiped.source, [p.ts for p in wiped.points]) == ("archive", [2_000, 3_000, 4_000])
    assert load_window(store, LOGIN, None, None, 500, now_ms=10_000, archive=archive).stored == 5
    assert load_window(store, LOGIN, None, None, 500, now_ms=10_000).points == []

    store.append_history(LOGIN, [point(8_000)])
    assert load_window(store, LOGIN, 7_000, None, 500, now_ms=10_000, archive=archive).points == [point(8_000)]
    assert load_window(store, LOGIN, 2_000, 4_000, 500, now_ms=10_000, archive=archive).source == "archive"
    both = load_window(store, LOGIN, None, None, 500, now_ms=10_000, archive=archive)
    assert both.source == "archive+raw"
    assert [p.ts for p in both.points] == [1_000, 2_000, 3_000, 4_000, 5_000, 8_000], "Redis starts at 8,000"


def test_an_archive_not_opened_yet_reads_as_no_data(tmp_path: Path) -> None:
    store = Store(fakeredis.FakeRedis(decode_responses=True), "t", 10_000)
    window = load_window(store, LOGIN, None, None, 500, archive=Archive(tmp_path / FILE_NAME))
    assert window.points == [] and window.stored == 0
