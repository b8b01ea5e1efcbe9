"""Risk rules read what the account did: a drawdown from the real peak of its recorded history (not from the
moment the rule was saved), labels that say where the rules came from, and amounts in each rule's own unit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.core.formatting import rule_amount
from services.core.models import HistoryPoint
from services.risk.rules import parse_rules
from services.storage.archive import FILE_NAME, Archive, ArchiveWriter
from tests.unit.test_alerts import LOGIN, T0, Script, position
from views.alerts import SOURCES, panel


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[ArchiveWriter]:
    started = ArchiveWriter(Archive(tmp_path / FILE_NAME), interval_s=0.05)
    started.start()
    started.call(lambda archive: None)  # opened and migrated
    yield started
    started.stop()


def point(ts: int, equity: float) -> HistoryPoint:
    return HistoryPoint(ts, 10_000.0, equity, 0.0, 0.0, equity - 10_000.0)


def test_a_new_drawdown_rule_measures_from_the_recorded_peak(writer: ArchiveWriter) -> None:
    """The chart showed -6.1 % from the peak; the rule saved then says so too, not "0.00 % ok"."""
    hours = range(0, 72)  # three days of history: the peak an hour rollup holds, then the points after it
    points = [point(T0 - 3 * 86_400_000 + h * 3_600_000, 10_000.0 + (650.0 if h == 30 else 100.0)) for h in hours]
    writer.submit_points(LOGIN, points)
    writer.call(lambda archive: archive.build_rollups())
    assert writer.call(lambda archive: archive.equity_peak(LOGIN)) == 10_650.0
    run = Script([{"kind": "margin_level"}], archive=writer)
    run.poll(equity=10_000.0)
    run.engine.set_rules(LOGIN, parse_rules({"rules": [{"kind": "drawdown", "limit": 10, "warn": 6}]}))
    assert run.poll(equity=10_000.0) == [("drawdown", "ok", "warning")]
    row = run.row("drawdown")
    assert row["value"] == pytest.approx(650 / 10_650 * 100) and row["detail"] == "peak 10,650.00 USD"
    assert run.poll(equity=10_800.0) == [("drawdown", "warning", "ok")], "a new high is the new peak"
    assert run.row("drawdown")["detail"] == "peak 10,800.00 USD"


def test_rules_are_labelled_by_where_they_came_from(writer: ArchiveWriter) -> None:
    run = Script([{"kind": "margin_level"}], archive=writer)
    run.poll()
    ruleset = parse_rules({"rules": [{"kind": "exposure", "metric": "positions", "limit": 5}]})
    assert run.engine.set_rules(LOGIN, ruleset, origin="api").source == "api"
    run.poll()
    status = run.engine.live_status()
    assert status["source"] == "api"
    assert "sent with PUT /rules" in str(panel(status)) and "edited on this page" not in str(panel(status))
    fresh = Script([{"kind": "margin_level"}], store=run.store, archive=writer)  # a restart reads the save back
    fresh.poll()
    assert fresh.engine.rules(LOGIN).source == "api"
    assert run.engine.set_rules(LOGIN, ruleset).source == "page"
    assert set(SOURCES) == {"default", "file", "page", "api"}


def test_alerts_say_each_amount_in_its_unit() -> None:
    run = Script([{"kind": "exposure", "metric": "positions", "limit": 6}, {"kind": "drawdown", "limit": 500,
                  "unit": "money", "warn": 300}])  # fmt: skip
    held = tuple(position("EURUSD", 0.1, n) for n in range(7))
    run.poll(equity=10_000.0)
    assert ("exposure", "ok", "breached") in run.poll(positions=held, equity=10_000.0)
    assert run.notified[-1]["data"]["message"] == "Exposure breached: 7 positions (limit 6 positions)"
    run.poll(equity=9_600.0)
    warned = run.notified[-1]["data"]["message"]
    assert warned == "Drawdown from peak warning: 400.00 USD (warning at 300.00 USD, limit 500.00 USD)"
    assert rule_amount(1.0, "positions") == "1 position" and rule_amount(2.5, "lots") == "2.50 lots"
    assert rule_amount(4.1, "%") == "4.10%" and rule_amount(None, "%") == "—"
