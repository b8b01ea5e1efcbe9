"""The archive on disk: one SQLite file (WAL) opened through SQLAlchemy Core, built by Alembic migrations.

Only the archive writer thread writes; any thread may read. Every write is idempotent (a deal by its
ticket, a history point by its time), so a batch retried after a failure never doubles a row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Table, create_engine, event, func, select
from sqlalchemy.dialects import postgresql, sqlite

from services.archive.schema import accounts, deals, history, states
from services.models import Account, Deal, HistoryPoint, Order, Position

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
FILE_NAME = "archive.sqlite"


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class State:
    """The open positions and pending orders of an account from ``ts`` until the next state."""

    login: int
    ts: int
    positions: tuple[Position, ...]
    orders: tuple[Order, ...]


def _state(row: Any) -> State:
    return State(
        row.login,
        row.ts,
        tuple(Position(**p) for p in json.loads(row.positions)),
        tuple(Order(**o) for o in json.loads(row.orders)),
    )


@dataclass
class Batch:
    """Rows written in one transaction."""

    points: list[tuple[int, HistoryPoint]] = field(default_factory=list)
    deals: list[tuple[int, Deal]] = field(default_factory=list)
    states: list[State] = field(default_factory=list)
    accounts: list[tuple[int, Account]] = field(default_factory=list)  # (updated ms, account)

    def __len__(self) -> int:
        return len(self.points) + len(self.deals) + len(self.states) + len(self.accounts)


class Archive:
    """``open()`` creates the file and applies the migrations; nothing touches the disk before it."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = 5_000) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.engine: Engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
        event.listen(self.engine, "connect", self._configure)

    def _configure(self, dbapi_connection: Any, _record: Any) -> None:
        """WAL lets readers go on while the writer writes; the busy timeout waits out another writer."""
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    def open(self) -> None:
        """Create the directory and file if needed and bring the schema to the newest migration."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def _insert(self, table: Table) -> Any:
        """An INSERT with the dialect's ON CONFLICT clause (SQLite and PostgreSQL spell it alike)."""
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    def close(self) -> None:
        self.engine.dispose()

    def size_bytes(self) -> int:
        """The database with its write-ahead log: what the archive takes on disk."""
        files = (self.path, self.path.with_name(self.path.name + "-wal"))
        return sum(f.stat().st_size for f in files if f.exists())

    def write(self, batch: Batch) -> None:
        """One transaction; rows already stored are kept as they are (the latest account and state win)."""
        with self.engine.begin() as conn:
            if batch.points:
                rows = [{"login": login, **point.to_dict()} for login, point in batch.points]
                conn.execute(self._insert(history).on_conflict_do_nothing(index_elements=["login", "ts"]), rows)
            if batch.deals:
                rows = [
                    {
                        "login": login,
                        "ticket": deal.ticket,
                        "time_utc_ms": deal.time_utc_ms,
                        "time_msc": deal.time_msc,
                        "data": _json(deal.to_dict()),
                    }
                    for login, deal in batch.deals
                ]
                conn.execute(self._insert(deals).on_conflict_do_nothing(index_elements=["login", "ticket"]), rows)
            if batch.states:
                rows = [
                    {
                        "login": s.login,
                        "ts": s.ts,
                        "positions": _json([p.to_dict() for p in s.positions]),
                        "orders": _json([o.to_dict() for o in s.orders]),
                    }
                    for s in batch.states
                ]
                stmt = self._insert(states)
                update = {"positions": stmt.excluded.positions, "orders": stmt.excluded.orders}
                conn.execute(stmt.on_conflict_do_update(index_elements=["login", "ts"], set_=update), rows)
            if batch.accounts:
                rows = [
                    {"login": a.login, "updated_ms": ts, "currency": a.currency, "data": _json(a.to_dict())}
                    for ts, a in batch.accounts
                ]
                stmt = self._insert(accounts)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["login"],
                        set_={name: stmt.excluded[name] for name in ("updated_ms", "currency", "data")},
                        where=stmt.excluded.updated_ms >= accounts.c.updated_ms,
                    ),
                    rows,
                )

    # -- reads ------------------------------------------------------------------------------------------
    def history(self, login: int, start_ms: int, end_ms: int) -> list[HistoryPoint]:
        """Every recorded point with ``start_ms <= ts <= end_ms``, oldest first."""
        query = (
            select(*(history.c[name] for name in HistoryPoint.__slots__))
            .where(history.c.login == login, history.c.ts.between(start_ms, end_ms))
            .order_by(history.c.ts)
        )
        with self.engine.connect() as conn:
            return [HistoryPoint(*row) for row in conn.execute(query)]

    def deals(self, login: int, start_ms: int, end_ms: int) -> list[Deal]:
        """Deals with ``start_ms <= time_utc_ms <= end_ms``, in time then ticket order."""
        query = (
            select(deals.c.data)
            .where(deals.c.login == login, deals.c.time_utc_ms.between(start_ms, end_ms))
            .order_by(deals.c.time_utc_ms, deals.c.ticket)
        )
        with self.engine.connect() as conn:
            return [Deal.from_dict(json.loads(data)) for (data,) in conn.execute(query)]

    def states(self, login: int) -> list[State]:
        """Every recorded change of positions and orders, oldest first."""
        query = select(states).where(states.c.login == login).order_by(states.c.ts)
        with self.engine.connect() as conn:
            return [_state(row) for row in conn.execute(query)]

    def point_at(self, login: int, t_ms: int) -> HistoryPoint | None:
        """The last point with ``ts <= t_ms``: one step down the (login, ts) primary key."""
        query = (
            select(*(history.c[name] for name in HistoryPoint.__slots__))
            .where(history.c.login == login, history.c.ts <= t_ms)
            .order_by(history.c.ts.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else HistoryPoint(*row)

    def state_at(self, login: int, t_ms: int) -> State | None:
        """The positions and orders held at ``t_ms``: the last state recorded at or before it."""
        query = select(states).where(states.c.login == login, states.c.ts <= t_ms).order_by(states.c.ts.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _state(row)

    def first_ts(self, login: int) -> int | None:
        """When the archive first recorded the account (a point or a state): what a replay can reach back to."""
        firsts = [select(func.min(table.c.ts)).where(table.c.login == login) for table in (history, states)]
        with self.engine.connect() as conn:
            found = [ts for query in firsts if (ts := conn.execute(query).scalar()) is not None]
        return min(found, default=None)

    def account(self, login: int) -> Account | None:
        """The latest account record archived for ``login``."""
        with self.engine.connect() as conn:
            data = conn.execute(select(accounts.c.data).where(accounts.c.login == login)).scalar_one_or_none()
        return None if data is None else Account(**json.loads(data))
