"""The alert tables on a real SQLite file: rule saves and resets, rule state, alert history, acknowledgements."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.core.backoff import Backoff
from services.storage.archive import (
    FILE_NAME,
    AlertRow,
    Archive,
    ArchiveUnavailable,
    ArchiveWriter,
    Batch,
    SavedRulesRow,
)

LOGIN = 7_001


def alert(ts: int, rule: str = "drawdown", state: str = "breached") -> dict[str, Any]:
    return {"id": f"{ts}-{rule}", "account": LOGIN, "rule": rule, "state": state, "ts": ts, "message": "m"}


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    opened = Archive(tmp_path / FILE_NAME)
    opened.open()
    yield opened
    opened.close()


def test_the_newest_rule_save_wins_and_a_reset_is_a_row_of_its_own(archive: Archive) -> None:
    assert archive.saved_rules(LOGIN) is None
    page = SavedRulesRow(LOGIN, 1_000, "page", '{"rules":[{"id":"drawdown","kind":"drawdown","limit":2.0}]}')
    reset = SavedRulesRow(LOGIN, 2_000, "reset", None)
    archive.write(Batch(rules=[page, reset]))
    archive.write(Batch(rules=[page]))  # a stale copy written again: kept once, and still older
    assert archive.saved_rules(LOGIN) == reset
    api = SavedRulesRow(LOGIN, 3_000, "api", '{"rules":[]}')
    archive.write(Batch(rules=[api]))
    assert archive.saved_rules(LOGIN) == api
    assert archive.saved_rules(LOGIN + 1) is None


def test_rule_state_is_replaced_and_alerts_are_kept_once_newest_first(archive: Archive) -> None:
    archive.write(Batch(rule_states=[(LOGIN, "drawdown", '{"state":"warning"}'), (LOGIN, "stop_out", "{}")]))
    archive.write(Batch(rule_states=[(LOGIN, "drawdown", '{"state":"breached"}')]))
    assert archive.rule_states(LOGIN) == {"drawdown": '{"state":"breached"}', "stop_out": "{}"}

    same_poll = [
        AlertRow(LOGIN, alert(2_000, "margin_call"), 0),
        AlertRow(LOGIN, alert(2_000, "stop_out", "warning"), 1),
    ]
    batch = Batch(alerts=[AlertRow(LOGIN, alert(1_000, state="warning")), *same_poll])
    archive.write(batch)
    archive.write(batch)  # retried
    assert [a["id"] for a in archive.alerts(LOGIN)] == ["2000-stop_out", "2000-margin_call", "1000-drawdown"]
    assert archive.alerts(LOGIN, limit=1)[0]["id"] == "2000-stop_out"
    assert [a["id"] for a in archive.alerts(LOGIN, state="breached")] == ["2000-margin_call"]
    assert [a["id"] for a in archive.alerts(LOGIN, rule="drawdown")] == ["1000-drawdown"]
    assert [a["id"] for a in archive.alerts(LOGIN, since_ms=1_500, until_ms=2_000)] == ["2000-stop_out",
                                                                                       "2000-margin_call"]  # fmt: skip
    assert archive.alerts(LOGIN + 1) == []
    assert archive.alert(LOGIN, "1000-drawdown") == {**alert(1_000, state="warning"), "acked_ms": None}


def test_an_acknowledgement_keeps_its_first_time(archive: Archive) -> None:
    archive.write(Batch(alerts=[AlertRow(LOGIN, alert(1_000))], acks=[(LOGIN, "1000-drawdown", 5_000)]))
    archive.write(Batch(acks=[(LOGIN, "1000-drawdown", 9_000), (LOGIN, "1-nothing", 9_000)]))
    assert archive.alert(LOGIN, "1000-drawdown")["acked_ms"] == 5_000
    assert archive.alert(LOGIN, "1-nothing") is None


def test_the_writer_keeps_every_alert_and_runs_a_call_after_what_waits(tmp_path: Path) -> None:
    writer = ArchiveWriter(Archive(tmp_path / FILE_NAME), interval_s=60, backoff=Backoff(0.01, 0.05, jitter=0))
    writer.submit_alerts(LOGIN, [alert(ts) for ts in range(1, 301)])
    writer.submit_rule_states(LOGIN, {"drawdown": "{}"})
    writer.submit_acks(LOGIN, {"300-drawdown": 7})
    writer.start()
    try:
        # the call is run after the buffers are written: the ack's alert is on disk when it reads
        found = writer.call(lambda archive: archive.alert(LOGIN, "300-drawdown"), timeout_s=10)
        assert found is not None and found["acked_ms"] == 7
        assert len(writer.call(lambda archive: archive.alerts(LOGIN, limit=1000))) == 300
        writer.submit_rules(SavedRulesRow(LOGIN, 5, "reset", None))
        assert writer.call(lambda archive: archive.saved_rules(LOGIN)) == SavedRulesRow(LOGIN, 5, "reset", None)
    finally:
        writer.stop()


def test_a_call_on_a_locked_archive_says_not_saved(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    writer = ArchiveWriter(Archive(path, busy_timeout_ms=50), interval_s=60, backoff=Backoff(5, 5, jitter=0))
    writer.start()
    blocker = sqlite3.connect(path, timeout=5)
    try:
        writer.call(lambda archive: archive.rule_states(LOGIN), timeout_s=10)  # open and migrated
        blocker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(ArchiveUnavailable, match="locked"):
            writer.call(lambda archive: archive.write(Batch(rules=[SavedRulesRow(LOGIN, 1, "api", "{}")])), 10)
        blocker.rollback()
        assert writer.archive.saved_rules(LOGIN) is None, "what the caller was told is not saved is not saved"
    finally:
        blocker.close()
        writer.stop()
