"""The alert webhook's outbox in the archive: every alert to POST, recorded before its first attempt.

Rows come in through the archive writer with the alerts (``WebhookItem``) and so survive a restart;
the sender reads the undelivered ones of its account oldest first, and its attempts come back through
the writer as ``WebhookMark``s (one more attempt, the error, or the time of the 2xx). A delivered row is
kept ``DELIVERED_KEEP_MS`` for the record, then deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, func, select, update

from services.core.units import DAY_MS
from services.storage.archive.schema import webhook_outbox

if TYPE_CHECKING:
    from services.storage.archive.database import Archive

DELIVERED_KEEP_MS = 7 * DAY_MS


@dataclass(frozen=True, slots=True)
class WebhookItem:
    """An alert to deliver: ``payload`` is the JSON POSTed; (login, alert id) is the receivers' dedupe key."""

    login: int
    alert_id: str
    queued_ms: int
    payload: str


@dataclass(frozen=True, slots=True)
class WebhookMark:
    """What attempts at one row came to: ``delivered_ms`` once the endpoint answered 2xx, else the error."""

    seq: int
    login: int
    attempts: int = 1
    error: str | None = None
    delivered_ms: int | None = None

    def then(self, later: WebhookMark) -> WebhookMark:
        """Two marks of a row waiting for the same write: the attempts add up, the first delivery stands."""
        delivered = self.delivered_ms if self.delivered_ms is not None else later.delivered_ms
        return WebhookMark(self.seq, self.login, self.attempts + later.attempts, later.error, delivered)


@dataclass(frozen=True, slots=True)
class Pending:
    """An undelivered row, as the sender reads it."""

    seq: int
    login: int
    alert_id: str
    queued_ms: int
    payload: str
    attempts: int


def write_outbox(conn: Any, insert: Any, items: Sequence[WebhookItem], marks: Sequence[WebhookMark]) -> None:
    """In the writer's transaction: new rows (an alert recorded twice stays one row), then the attempts' marks."""
    if items:
        rows = [
            {"login": i.login, "alert_id": i.alert_id, "queued_ms": i.queued_ms, "payload": i.payload, "attempts": 0}
            for i in items
        ]
        conn.execute(insert.on_conflict_do_nothing(index_elements=["login", "alert_id"]), rows)
    if marks:
        stmt = (
            update(webhook_outbox)
            .where(webhook_outbox.c.seq == bindparam("m_seq"))
            .values(
                attempts=webhook_outbox.c.attempts + bindparam("m_attempts"),
                last_error=bindparam("m_error"),
                delivered_ms=func.coalesce(webhook_outbox.c.delivered_ms, bindparam("m_delivered")),
            )
        )
        conn.execute(
            stmt,
            [
                {"m_seq": m.seq, "m_attempts": m.attempts, "m_error": m.error, "m_delivered": m.delivered_ms}
                for m in marks
            ],
        )
        for login, newest in _newest_deliveries(marks).items():
            conn.execute(
                delete(webhook_outbox).where(
                    webhook_outbox.c.login == login, webhook_outbox.c.delivered_ms < newest - DELIVERED_KEEP_MS
                )
            )


def _newest_deliveries(marks: Sequence[WebhookMark]) -> dict[int, int]:
    newest: dict[int, int] = {}
    for mark in marks:
        if mark.delivered_ms is not None:
            newest[mark.login] = max(mark.delivered_ms, newest.get(mark.login, mark.delivered_ms))
    return newest


def _undelivered(login: int, skip: Sequence[int]) -> Any:
    condition = (webhook_outbox.c.login == login) & webhook_outbox.c.delivered_ms.is_(None)
    return condition & webhook_outbox.c.seq.not_in(skip) if skip else condition


def pending(archive: Archive, login: int, limit: int, skip: Sequence[int] = ()) -> list[Pending]:
    """The oldest undelivered rows of ``login`` but those in ``skip`` (sent, their mark not written yet)."""
    columns = [webhook_outbox.c[name] for name in Pending.__slots__]
    query = select(*columns).where(_undelivered(login, skip)).order_by(webhook_outbox.c.seq).limit(limit)
    with archive.engine.connect() as conn:
        return [Pending(*row) for row in conn.execute(query)]


def backlog(archive: Archive, login: int, skip: Sequence[int] = ()) -> tuple[int, int | None]:
    """How many rows of ``login`` wait for delivery, and when the oldest was recorded (UTC ms)."""
    query = select(func.count(), func.min(webhook_outbox.c.queued_ms)).where(_undelivered(login, skip))
    with archive.engine.connect() as conn:
        count, oldest = conn.execute(query).one()
    return int(count), oldest


def drop_oldest(archive: Archive, login: int, cap: int) -> int:
    """Keep the newest ``cap`` undelivered rows of ``login``; returns how many older ones were deleted.

    Run on the archive writer's thread (``ArchiveWriter.call``): the only thread that writes.
    """
    newest = (
        select(webhook_outbox.c.seq)
        .where(_undelivered(login, ()))
        .order_by(webhook_outbox.c.seq.desc())
        .offset(cap)
        .limit(1)
        .scalar_subquery()
    )
    with archive.engine.begin() as conn:
        dropped = conn.execute(
            delete(webhook_outbox).where(_undelivered(login, ()), webhook_outbox.c.seq <= newest)
        ).rowcount
    return int(dropped)
