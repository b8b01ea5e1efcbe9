"""The webhook's outbox in the archive: rows recorded once, attempts marked, the cap, delivered rows kept a while."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.storage.archive import FILE_NAME, Archive, ArchiveWriter, Batch, WebhookItem, WebhookMark
from services.storage.archive.outbox import DELIVERED_KEEP_MS, backlog, drop_oldest, pending
from tests.unit.test_archive import LOGIN


@pytest.fixture(params=["sqlite", "postgresql"])
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Archive]:
    """On both backends: the outbox's queries (an OFFSET subquery, NOT IN) are the dialects' own."""
    target = tmp_path / FILE_NAME if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    opened = Archive(target)
    opened.open()
    yield opened
    opened.close()


def item(n: int, login: int = LOGIN) -> WebhookItem:
    return WebhookItem(login, f"{n}-rule", 1_000 + n, f'{{"n": {n}}}')


def test_rows_are_recorded_once_marked_and_read_oldest_first(archive: Archive) -> None:
    archive.write(Batch(webhook=[item(1), item(2), item(3, login=7)]))
    archive.write(Batch(webhook=[item(1)]))  # a retried batch
    rows = pending(archive, LOGIN, 10)
    assert [(r.alert_id, r.queued_ms, r.attempts) for r in rows] == [("1-rule", 1_001, 0), ("2-rule", 1_002, 0)]
    assert backlog(archive, LOGIN) == (2, 1_001) and backlog(archive, 7) == (1, 1_003)
    first = rows[0].seq
    archive.write(Batch(webhook_marks=[WebhookMark(first, LOGIN, error="HTTP 500").then(WebhookMark(first, LOGIN))]))
    assert pending(archive, LOGIN, 10)[0].attempts == 2
    archive.write(Batch(webhook_marks=[WebhookMark(first, LOGIN, delivered_ms=5_000)]))
    assert [r.alert_id for r in pending(archive, LOGIN, 10)] == ["2-rule"]
    assert backlog(archive, LOGIN, skip=[rows[1].seq]) == (0, None), "a row sent, its mark not written yet"


def test_the_oldest_undelivered_rows_go_past_the_cap_and_delivered_rows_after_a_week(archive: Archive) -> None:
    archive.write(Batch(webhook=[item(n) for n in range(5)]))
    assert drop_oldest(archive, LOGIN, 3) == 2 and drop_oldest(archive, LOGIN, 3) == 0
    rows = pending(archive, LOGIN, 10)
    assert [r.alert_id for r in rows] == ["2-rule", "3-rule", "4-rule"]
    archive.write(Batch(webhook_marks=[WebhookMark(rows[0].seq, LOGIN, delivered_ms=10_000)]))
    later = 10_000 + DELIVERED_KEEP_MS + 1
    archive.write(Batch(webhook_marks=[WebhookMark(rows[1].seq, LOGIN, delivered_ms=later)]))
    with archive.engine.connect() as conn:
        kept = conn.exec_driver_sql("SELECT alert_id FROM webhook_outbox ORDER BY seq").scalars().all()
    assert kept == ["3-rule", "4-rule"], "the delivery a week older than the newest is deleted"


def test_the_writer_puts_a_failed_batch_back_in_front_and_merges_the_marks_of_a_row(tmp_path: Path) -> None:
    writer = ArchiveWriter(Archive(tmp_path / FILE_NAME))
    writer.submit_webhook(item(1), cap=10)
    writer.submit_webhook_mark(WebhookMark(1, LOGIN, error="HTTP 500"))
    batch = writer._take()
    assert [i.alert_id for i in batch.webhook] == ["1-rule"] and len(batch.webhook_marks) == 1
    writer.submit_webhook_mark(WebhookMark(1, LOGIN, delivered_ms=9))
    writer._put_back(batch)  # the write failed
    assert writer.webhook_waiting() == 1
    again = writer._take()
    assert again.webhook == batch.webhook
    assert again.webhook_marks == [WebhookMark(1, LOGIN, attempts=2, error=None, delivered_ms=9)], "in their order"
