"""The archive on disk: one SQLite file (WAL) opened through SQLAlchemy Core, built by Alembic migrations.

Only the archive writer thread writes; any thread may read. Every write is idempotent (a deal by its
ticket, a history point by its time, an alert by its id, a rule save by its time), so a batch retried
after a failure never doubles a row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Table, bindparam, create_engine, event, select, update
from sqlalchemy.dialects import postgresql, sqlite

from services.archive.schema import accounts, alert_rules, alert_states, alerts, deals, history, states
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


@dataclass(frozen=True, slots=True)
class SavedRulesRow:
    """One save of an account's risk rules; ``ruleset`` None records a reset to the file's rules (a tombstone)."""

    login: int
    saved_ms: int
    origin: str  # page | api | reset
    ruleset: str | None  # RuleSet.to_dict() as JSON


@dataclass(frozen=True, slots=True)
class AlertRow:
    """An alert as raised; ``seq`` orders the alerts of one poll, which share their time."""

    login: int
    alert: dict[str, Any]
    seq: int = 0


@dataclass
class Batch:
    """Rows written in one transaction."""

    points: list[tuple[int, HistoryPoint]] = field(default_factory=list)
    deals: list[tuple[int, Deal]] = field(default_factory=list)
    states: list[State] = field(default_factory=list)
    accounts: list[tuple[int, Account]] = field(default_factory=list)  # (updated ms, account)
    rules: list[SavedRulesRow] = field(default_factory=list)
    rule_states: list[tuple[int, str, str]] = field(default_factory=list)  # (login, rule id, RuleState JSON)
    alerts: list[AlertRow] = field(default_factory=list)
    acks: list[tuple[int, str, int]] = field(default_factory=list)  # (login, alert id, UTC ms); after the alerts

    def __len__(self) -> int:
        alerting = len(self.rules) + len(self.rule_states) + len(self.alerts) + len(self.acks)
        return len(self.points) + len(self.deals) + len(self.states) + len(self.accounts) + alerting


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
            self._write_alerting(conn, batch)

    def _write_alerting(self, conn: Any, batch: Batch) -> None:
        """Rule saves and alerts are kept as first written; a rule's state is replaced; an ack keeps its first time."""
        if batch.rules:
            rows = [{"login": r.login, "saved_ms": r.saved_ms, "origin": r.origin, "ruleset": r.ruleset}
                    for r in batch.rules]  # fmt: skip
            conn.execute(self._insert(alert_rules).on_conflict_do_nothing(index_elements=["login", "saved_ms"]), rows)
        if batch.rule_states:
            rows = [{"login": login, "rule_id": rule_id, "data": data} for login, rule_id, data in batch.rule_states]
            stmt = self._insert(alert_states)
            conn.execute(
                stmt.on_conflict_do_update(index_elements=["login", "rule_id"], set_={"data": stmt.excluded.data}),
                rows,
            )
        if batch.alerts:
            rows = [
                {
                    "login": row.login,
                    "id": row.alert["id"],
                    "ts": row.alert["ts"],
                    "seq": row.seq,
                    "rule": row.alert["rule"],
                    "state": row.alert["state"],
                    "data": _json({k: v for k, v in row.alert.items() if k != "acked_ms"}),
                    "acked_ms": None,
                }
                for row in batch.alerts
            ]
            conn.execute(self._insert(alerts).on_conflict_do_nothing(index_elements=["login", "id"]), rows)
        if batch.acks:
            stmt = (
                update(alerts)
                .where(alerts.c.login == bindparam("a_login"), alerts.c.id == bindparam("a_id"))
                .where(alerts.c.acked_ms.is_(None))
                .values(acked_ms=bindparam("a_ms"))
            )
            conn.execute(stmt, [{"a_login": login, "a_id": alert_id, "a_ms": ms} for login, alert_id, ms in batch.acks])

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

    def account(self, login: int) -> Account | None:
        """The latest account record archived for ``login``."""
        with self.engine.connect() as conn:
            data = conn.execute(select(accounts.c.data).where(accounts.c.login == login)).scalar_one_or_none()
        return None if data is None else Account(**json.loads(data))

    def saved_rules(self, login: int) -> SavedRulesRow | None:
        """The newest save (or reset) of ``login``'s rules."""
        query = select(alert_rules).where(alert_rules.c.login == login).order_by(alert_rules.c.saved_ms.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else SavedRulesRow(row.login, row.saved_ms, row.origin, row.ruleset)

    def rule_states(self, login: int) -> dict[str, str]:
        """Rule id -> the rule's state JSON, as last written."""
        query = select(alert_states.c.rule_id, alert_states.c.data).where(alert_states.c.login == login)
        with self.engine.connect() as conn:
            return {rule_id: data for rule_id, data in conn.execute(query)}

    def alerts(
        self,
        login: int,
        *,
        state: str | None = None,
        rule: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Alerts with ``since_ms <= ts <= until_ms``, newest first, each with ``acked_ms`` (None until acked)."""
        query = select(alerts.c.data, alerts.c.acked_ms).where(alerts.c.login == login)
        if state is not None:
            query = query.where(alerts.c.state == state)
        if rule is not None:
            query = query.where(alerts.c.rule == rule)
        if since_ms is not None:
            query = query.where(alerts.c.ts >= since_ms)
        if until_ms is not None:
            query = query.where(alerts.c.ts <= until_ms)
        query = query.order_by(alerts.c.ts.desc(), alerts.c.seq.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [{**json.loads(data), "acked_ms": acked_ms} for data, acked_ms in conn.execute(query)]

    def alert(self, login: int, alert_id: str) -> dict[str, Any] | None:
        query = select(alerts.c.data, alerts.c.acked_ms).where(alerts.c.login == login, alerts.c.id == alert_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else {**json.loads(row.data), "acked_ms": row.acked_ms}
