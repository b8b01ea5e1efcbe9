"""The archive on disk: one SQLite file (WAL) opened through SQLAlchemy Core, built by Alembic migrations.

Only the archive writer thread writes; any thread may read. Every write is idempotent (a deal by its
ticket, a history point by its time), so a batch retried after a failure never doubles a row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Table, bindparam, create_engine, event, select, update
from sqlalchemy.dialects import postgresql, sqlite

from services.archive.rollup import Rollup, fold
from services.archive.schema import accounts, deals, history, rollups, states
from services.brokertime import parse_zone
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
                self._roll(conn, batch.points)
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

    def _roll(self, conn: Any, points: list[tuple[int, HistoryPoint]]) -> None:
        """Fold the batch into the stored rollups of the spans it touches (read, merge, write back)."""
        folded = fold(points)
        for login, span in {(key[0], key[1]) for key in folded}:
            starts = [key[2] for key in folded if key[:2] == (login, span)]
            query = select(rollups).where(
                rollups.c.login == login, rollups.c.span_ms == span, rollups.c.start.in_(starts)
            )
            for row in conn.execute(query):
                stored = Rollup(*row)
                folded[stored.key()] = stored.merge(folded[stored.key()])
        stmt = self._insert(rollups)
        names = [c.name for c in rollups.columns if not c.primary_key]
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["login", "span_ms", "start"], set_={name: stmt.excluded[name] for name in names}
            ),
            [{c.name: getattr(r, c.name) for c in rollups.columns} for r in folded.values()],
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

    def rollup_points(self, login: int, span_ms: int, start_ms: int, end_ms: int) -> list[HistoryPoint]:
        """Two points per span (the equity low and high) of the spans that start in [start, end], oldest first."""
        query = (
            select(rollups)
            .where(
                rollups.c.login == login,
                rollups.c.span_ms == span_ms,
                rollups.c.start.between(start_ms - start_ms % span_ms, end_ms),
            )
            .order_by(rollups.c.start)
        )
        with self.engine.connect() as conn:
            found = [p for row in conn.execute(query) for p in Rollup(*row).points()]
        return [p for p in found if start_ms <= p.ts <= end_ms]

    def first_ts(self, login: int) -> int | None:
        """The oldest recorded point's time."""
        query = select(history.c.ts).where(history.c.login == login).order_by(history.c.ts).limit(1)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    def deals(self, login: int, start_ms: int, end_ms: int) -> list[Deal]:
        """Deals with ``start_ms <= time_utc_ms <= end_ms``, in time then ticket order."""
        query = (
            select(deals.c.data)
            .where(deals.c.login == login, deals.c.time_utc_ms.between(start_ms, end_ms))
            .order_by(deals.c.time_utc_ms, deals.c.ticket)
        )
        with self.engine.connect() as conn:
            return [Deal.from_dict(json.loads(data)) for (data,) in conn.execute(query)]

    def deal_pages(self, login: int, size: int) -> Iterator[list[Deal]]:
        """Every deal of ``login`` in pages of ``size``, by ticket: a whole history restored with bounded memory."""
        after = -1
        while True:
            query = (
                select(deals.c.ticket, deals.c.data)
                .where(deals.c.login == login, deals.c.ticket > after)
                .order_by(deals.c.ticket)
                .limit(size)
            )
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            if not rows:
                return
            after = rows[-1].ticket
            yield [Deal.from_dict(json.loads(data)) for _, data in rows]

    def restamp_deals(self, login: int, spec: str, chunk: int = 2_000) -> int:
        """Every deal's UTC time made again from its server time with the broker clock ``spec``; returns how many moved.

        The archive keeps MT5's server time beside the UTC time, so a clock learned late corrects it as
        it corrects Redis (``Store.restamp_deals``).
        """
        zone = parse_zone(spec)
        moved = 0
        stmt = (
            update(deals)
            .where(deals.c.login == bindparam("b_login"), deals.c.ticket == bindparam("b_ticket"))
            .values(time_utc_ms=bindparam("b_utc"), data=bindparam("b_data"))
        )
        for page in self.deal_pages(login, chunk):
            rows = []
            for deal in page:
                utc_ms = zone.to_utc_ms(deal.time_msc)
                if deal.time_utc_ms != utc_ms:
                    data = {**deal.to_dict(), "time_utc_ms": utc_ms}
                    rows.append({"b_login": login, "b_ticket": deal.ticket, "b_utc": utc_ms, "b_data": _json(data)})
            if rows:
                with self.engine.begin() as conn:
                    conn.execute(stmt, rows)
                moved += len(rows)
        return moved

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

    def account(self, login: int) -> Account | None:
        """The latest account record archived for ``login``."""
        with self.engine.connect() as conn:
            data = conn.execute(select(accounts.c.data).where(accounts.c.login == login)).scalar_one_or_none()
        return None if data is None else Account(**json.loads(data))
