"""Replay from the archive on a real SQLite file: the point and state at or before a moment, and how they are found."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from services.analytics.replay import account_at, day_at
from services.core.brokertime import fixed
from services.core.models import Account, Deal, HistoryPoint, Order, Position
from services.ingest.sources.demo import DemoSource
from services.storage.archive import FILE_NAME, Archive, Batch, State


@dataclass(frozen=True)
class Demo:
    account: Account
    positions: tuple[Position, ...]
    orders: tuple[Order, ...]


@pytest.fixture
def demo() -> Demo:
    """One reading of the demo account, with positions and pending orders open."""
    now = 1_780_000_000.0
    source = DemoSource(seed=5, clock=lambda: now, start_utc_s=now - 86_400)  # a fixed clock: the same orders each run
    source.connect()
    source.fast_forward(3_600)
    return Demo(source.account(), tuple(source.positions()), tuple(source.orders()))


@pytest.fixture
def archive(tmp_path: Path, demo: Demo) -> Iterator[Archive]:
    """Points at 1 000, 2 000 and 3 000 ms; positions and orders from 1 500, none from 2 500."""
    opened = Archive(tmp_path / FILE_NAME)
    opened.open()
    login = demo.account.login
    opened.write(
        Batch(
            points=[
                (login, HistoryPoint(ts, 1_000.0, 1_000.0 + ts, 50.0, 2_000.0, ts)) for ts in (1_000, 2_000, 3_000)
            ],
            states=[State(login, 1_500, demo.positions, demo.orders), State(login, 2_500, (), ())],
            accounts=[(3_000, demo.account)],
        )
    )
    yield opened
    opened.close()


def test_the_last_point_and_state_at_or_before_t(archive: Archive, demo: Demo) -> None:
    login = demo.account.login
    assert demo.positions and demo.orders

    at_1500 = account_at(archive, login, 1_500)
    assert at_1500 == {
        "account": login,
        "t": 1_500,
        "point": {
            "ts": 1_000,
            "balance": 1_000.0,
            "equity": 2_000.0,
            "margin": 50.0,
            "margin_level": 2_000.0,
            "profit": 1_000.0,
        },
        "state": {
            "ts": 1_500,
            "positions": [p.to_dict() for p in demo.positions],
            "orders": [o.to_dict() for o in demo.orders],
        },
        "currency": demo.account.currency,
        "currency_digits": demo.account.currency_digits,
    }
    assert account_at(archive, login, 2_000)["point"]["ts"] == 2_000  # exactly at a point's time
    assert account_at(archive, login, 2_499)["state"]["ts"] == 1_500
    between = account_at(archive, login, 2_999)
    assert (between["point"]["ts"], between["state"]) == (2_000, {"ts": 2_500, "positions": [], "orders": []})
    assert account_at(archive, login, 10**13)["point"]["equity"] == 4_000.0


def test_nothing_before_the_first_record_or_for_another_account(archive: Archive, demo: Demo) -> None:
    login = demo.account.login
    assert account_at(archive, login, 999) is None
    assert account_at(archive, login + 1, 10_000) is None
    early = account_at(archive, login, 1_000)
    assert (early["point"]["ts"], early["state"]) == (1_000, None)  # no positions recorded yet: unknown, not empty


def test_an_archive_without_its_account_row_still_replays(tmp_path: Path) -> None:
    archive = Archive(tmp_path / FILE_NAME)
    archive.open()
    archive.write(Batch(points=[(7, HistoryPoint(5, 1.0, 1.0, 0.0, 0.0, 0.0))]))
    replayed = account_at(archive, 7, 5)
    assert replayed["point"] == {
        "ts": 5,
        "balance": 1.0,
        "equity": 1.0,
        "margin": 0.0,
        "margin_level": 0.0,
        "profit": 0.0,
    }
    assert (replayed["currency"], replayed["currency_digits"]) == (None, None)
    archive.close()


def test_each_lookup_is_one_search_down_the_primary_key(archive: Archive, demo: Demo) -> None:
    """Replaying a year-old moment must not scan a year of rows."""
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(archive.engine, "before_cursor_execute", capture)
    archive.point_at(demo.account.login, 2_000)
    archive.state_at(demo.account.login, 2_000)
    event.remove(archive.engine, "before_cursor_execute", capture)

    assert len(statements) == 2
    with archive.engine.connect() as conn:
        for statement, parameters in statements:
            plan = " ".join(row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))
            assert "USING INDEX sqlite_autoindex_" in plan and "(login=? AND ts<?)" in plan, plan
            assert "TEMP B-TREE" not in plan, plan  # no sort: the index is read backwards


def test_the_first_record_is_the_earlier_of_the_first_point_and_state(archive: Archive, demo: Demo) -> None:
    login = demo.account.login
    assert archive.first_ts(login) == 1_000
    archive.write(Batch(states=[State(login, 400, (), ())]))
    assert archive.first_ts(login) == 400
    assert archive.first_ts(login + 1) is None


def test_the_day_of_a_moment_starts_at_the_last_point_before_the_brokers_midnight(tmp_path: Path) -> None:
    """As the live page counts today: equity then, and the money moved since, up to the moment."""
    zone = fixed(7_200)
    login, midnight = 7, zone.day_start_ms(1_780_000_000_000)
    archive = Archive(tmp_path / FILE_NAME)
    archive.open()
    deposit = Deal.from_dict({"ticket": 1, "order": 0, "time": 0, "time_msc": 0, "type": 2, "entry": 0, "magic": 0,
                              "position_id": 0, "reason": 0, "volume": 0.0, "price": 0.0, "commission": 0.0,
                              "swap": 0.0, "profit": 500.0, "fee": 0.0, "symbol": "", "comment": "",
                              "external_id": "", "time_utc_ms": midnight + 60_000})  # fmt: skip
    archive.write(
        Batch(
            points=[(login, HistoryPoint(midnight - 5_000, 1_000.0, 1_010.0, 100.0, 1_010.0, 10.0))],
            deals=[(login, deposit)],
        )
    )
    day = day_at(archive, login, zone, midnight + 3_600_000)
    assert (day["start_ms"], day["end_ms"]) == (midnight, midnight + 86_400_000)
    assert (day["balance"], day["equity"], day["margin_free"], day["flows"]) == (1_000.0, 1_010.0, 910.0, 500.0)
    assert day_at(archive, login, zone, midnight + 30_000)["flows"] == 0.0, "money moved after the moment is not in"
    assert "equity" not in day_at(archive, login, zone, midnight - 86_400_000), "no point by that midnight"
    archive.close()
