"""The archive: one SQLite file (WAL), or a PostgreSQL database shared by several dashboard hosts, opened
through SQLAlchemy Core and built by the same Alembic migrations on either.

Only the archive writer thread writes; any thread may read. Every write is idempotent (a deal by its
ticket, a history point by its time), so a batch retried after a failure never doubles a row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, String, Table, bindparam, column, create_engine, event, func, select, update, values
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url

from services.archive.rollup import Rollup, fold
from services.archive.schema import accounts, deals, history, metadata, rollups, states
from services.brokertime import parse_zone
from services.models import Account, Deal, HistoryPoint, Order, Position
from services.secret import MASK, redact_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
FILE_NAME = "archive.sqlite"
# A server that is down or unreachable fails a connect within seconds, and a peer that vanishes under an open
# connection is noticed by TCP keepalives, so the writer thread reports and retries instead of waiting forever.
POSTGRES_CONNECT_ARGS = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}
MIGRATION_LOCK = 0x6D7435  # pg_advisory_xact_lock key: hosts starting together migrate one after the other


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
    """``open()`` creates the file (or connects) and applies the migrations; nothing is touched before it.

    ``target`` is the SQLite file, or a database URL (``DATABASE_URL``, as the settings normalise it).
    """

    def __init__(self, target: Path | str, *, busy_timeout_ms: int = 5_000, connect_timeout_s: int = 5) -> None:
        url = URL.create("sqlite", database=str(target)) if isinstance(target, Path) else make_url(target)
        self.backend = url.get_backend_name()  # "sqlite" or "postgresql"
        self.path = Path(str(url.database)) if self.backend == "sqlite" else None
        self.url = redact_url(url.render_as_string(hide_password=False))  # what logs and /health may show
        self._password = url.password
        self.busy_timeout_ms = busy_timeout_ms
        if self.backend == "sqlite":
            self.engine: Engine = create_engine(url, connect_args={"check_same_thread": False})
            event.listen(self.engine, "connect", self._configure)
        else:
            connect_args = {"connect_timeout": connect_timeout_s, **POSTGRES_CONNECT_ARGS}
            self.engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)

    @property
    def where(self) -> str:
        """Where the archive is, for the start-up log: never the password."""
        return f"{self.path} (SQLite, WAL)" if self.path is not None else f"{self.url} (PostgreSQL)"

    def redact(self, text: str) -> str:
        """A driver's message without the password, should it ever quote the connection string."""
        if self._password:
            for form in {self._password, quote(self._password, safe="")}:
                text = text.replace(form, MASK)
        return text

    def _configure(self, dbapi_connection: Any, _record: Any) -> None:
        """WAL lets readers go on while the writer writes; the busy timeout waits out another writer."""
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    def open(self) -> None:
        """Create the directory and file if needed and bring the schema to the newest migration."""
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            if self.backend == "postgresql":
                connection.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK)))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def _insert(self, table: Table) -> Any:
        """An INSERT with the dialect's ON CONFLICT clause (SQLite and PostgreSQL spell it alike)."""
        dialect = postgresql if self.backend == "postgresql" else sqlite
        return dialect.insert(table)

    def close(self) -> None:
        self.engine.dispose()

    def size_bytes(self) -> int:
        """What the archive takes on disk: the SQLite file with its write-ahead log, or on PostgreSQL the
        archive's own tables with their indexes and TOAST (not the rest of a database it may share)."""
        if self.path is not None:
            files = (self.path, self.path.with_name(self.path.name + "-wal"))
            return sum(f.stat().st_size for f in files if f.exists())
        tables = values(column("name", String), name="archive_tables").data([(name,) for name in metadata.tables])
        size = func.coalesce(func.sum(func.pg_total_relation_size(func.to_regclass(tables.c.name))), 0)
        with self.engine.connect() as conn:
            return int(conn.execute(select(size)).scalar_one())

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
