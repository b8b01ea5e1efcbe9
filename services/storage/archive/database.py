"""The archive: one SQLite file (WAL), or a PostgreSQL database shared by several dashboard hosts, opened
through SQLAlchemy Core and built by the same Alembic migrations on either.

Only the archive writer thread writes; any thread may read. Every write is idempotent (a deal by its
ticket, a history point by its time, an alert by its id, a rule save by its time), so a batch retried
after a failure never doubles a row.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, String, Table, bindparam, column, create_engine, event, func, select, update, values
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url

from services.core.brokertime import parse_zone
from services.core.models import Account, Deal, HistoryPoint, Order, Position
from services.core.secret import Secret, redact_url, scrub
from services.storage.archive.outbox import WebhookItem, WebhookMark, write_outbox
from services.storage.archive.rollup import SPANS_MS, Rollup, fold
from services.storage.archive.schema import (
    accounts,
    alert_rules,
    alert_states,
    alerts,
    deals,
    history,
    metadata,
    rollups,
    states,
    webhook_outbox,
)

log = logging.getLogger(__name__)
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
    webhook: list[WebhookItem] = field(default_factory=list)  # alerts for the webhook's outbox
    webhook_marks: list[WebhookMark] = field(default_factory=list)  # the sender's attempts; after the items

    def __len__(self) -> int:
        alerting = len(self.rules) + len(self.rule_states) + len(self.alerts) + len(self.acks)
        delivery = len(self.webhook) + len(self.webhook_marks)
        return len(self.points) + len(self.deals) + len(self.states) + len(self.accounts) + alerting + delivery


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
        # The newest rollup of each (login, span) as written: the next batch merges into it without a read.
        self._latest_rollups: dict[tuple[int, int], Rollup] = {}
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
        return scrub(text, Secret(self._password or ""))

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
        self.build_rollups()

    def build_rollups(self, page: int = 10_000) -> int:
        """Fold recorded points into rollups where none exist yet: an archive from before the rollups
        (migration 0002), or points bulk-loaded past ``write``. Once; returns the points folded."""
        with self.engine.connect() as conn:
            if conn.execute(select(rollups.c.login).limit(1)).first() is not None:
                return 0
            logins = [login for (login,) in conn.execute(select(history.c.login).distinct())]
        folded = 0
        for login in logins:
            chunk: list[tuple[int, HistoryPoint]] = []
            for point in self.iter_history(login, 0, 2**62, page):
                chunk.append((login, point))
                if len(chunk) == page:
                    folded += self._fold_in(chunk)
                    chunk = []
            folded += self._fold_in(chunk)
        if folded:
            log.info("archive: %d recorded points folded into minute and hour rollups", folded)
        return folded

    def _fold_in(self, points: list[tuple[int, HistoryPoint]]) -> int:
        if points:
            with self.engine.begin() as conn:
                self._roll(conn, points)
        return len(points)

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
        rolled: dict[tuple[int, int, int], Rollup] = {}
        with self.engine.begin() as conn:
            if batch.points:
                rows = [{"login": login, **point.to_dict()} for login, point in batch.points]
                conn.execute(self._insert(history).on_conflict_do_nothing(index_elements=["login", "ts"]), rows)
                rolled = self._roll(conn, batch.points)
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
            if batch.webhook or batch.webhook_marks:
                write_outbox(conn, self._insert(webhook_outbox), batch.webhook, batch.webhook_marks)
        self._remember(rolled)

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

    def _remember(self, rolled: dict[tuple[int, int, int], Rollup]) -> None:
        """After the commit only: a rolled-back batch must not leave the cache ahead of the table."""
        for rollup in rolled.values():
            key = (rollup.login, rollup.span_ms)
            if key not in self._latest_rollups or rollup.start >= self._latest_rollups[key].start:
                self._latest_rollups[key] = rollup

    def _roll(self, conn: Any, points: list[tuple[int, HistoryPoint]]) -> dict[tuple[int, int, int], Rollup]:
        """Fold the batch into the stored rollups of the spans it touches: merged with the span last written
        (kept in memory), read back only for spans the cache does not hold; returns what was written."""
        folded = fold(points)
        for login, span in {(key[0], key[1]) for key in folded}:
            latest = self._latest_rollups.get((login, span))
            cached = None if latest is None else latest.start
            starts = [key[2] for key in folded if key[:2] == (login, span) and key[2] != cached]
            if latest is not None and latest.key() in folded:
                folded[latest.key()] = latest.merge(folded[latest.key()])
            if latest is not None and all(start > latest.start for start in starts):
                continue  # spans newer than any written: nothing stored to merge with
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
        return folded

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

    def iter_history(self, login: int, start_ms: int, end_ms: int, size: int) -> Iterator[HistoryPoint]:
        """``history`` in pages of ``size`` down the primary key: a year exported with bounded memory."""
        after = start_ms - 1
        columns = [history.c[name] for name in HistoryPoint.__slots__]
        while True:
            query = (
                select(*columns)
                .where(history.c.login == login, history.c.ts > after, history.c.ts <= end_ms)
                .order_by(history.c.ts)
                .limit(size)
            )
            with self.engine.connect() as conn:
                page = [HistoryPoint(*row) for row in conn.execute(query)]
            yield from page
            if len(page) < size:
                return
            after = page[-1].ts

    def equity_peak(self, login: int) -> float | None:
        """The highest equity recorded for the account: the hourly rollups' highs, and the points from the last
        hour rolled up on (so a million points cost a few thousand rows)."""
        span = max(SPANS_MS)
        mine = (rollups.c.login == login, rollups.c.span_ms == span)
        with self.engine.connect() as conn:
            high, last = conn.execute(select(func.max(rollups.c.high), func.max(rollups.c.start)).where(*mine)).one()
            tail = select(func.max(history.c.equity)).where(history.c.login == login, history.c.ts >= (last or 0))
            newest = conn.execute(tail).scalar()
        found = [value for value in (high, newest) if value is not None]
        return max(found) if found else None

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
