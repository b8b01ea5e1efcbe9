"""``GET /account/at``: the demo account polled a few times, archived, then replayed at each poll's moment."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.core.models import HistoryPoint, Snapshot
from services.ingest.sources.demo import DemoSource

pytestmark = pytest.mark.integration


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def next_millisecond(after_ms: int) -> None:
    """Each poll in its own millisecond: two points at one time would be one row."""
    while time.time() * 1000 < after_ms + 1:
        time.sleep(0.001)


@pytest.fixture
def polled(make_app: Any, tmp_path: Path) -> tuple[Any, list[Snapshot]]:
    """Three polls of a demo account that moves between them, written to an archive of their own."""
    now = 1_780_000_000.0
    source = DemoSource(seed=11, clock=lambda: now, start_utc_s=now - 86_400)
    app = make_app({"DATA_DIR": str(tmp_path)}, source=source, start=False)
    runtime = app.server.extensions["mt5_runtime"]
    seen: list[Snapshot] = []
    for _ in range(3):
        next_millisecond(seen[-1].ts if seen else 0)
        runtime.streamer.step()
        seen.append(runtime.streamer.latest())
        source.fast_forward(1_800)
    runtime.archive.start()  # its first write takes everything waiting
    runtime.archive.stop()  # and returns once it is on disk
    assert runtime.archive.written and not runtime.archive.pending
    assert len({s.account for s in seen}) == 3, "the account moved between polls"
    return app, seen


def test_each_moment_replays_what_was_recorded_then(polled: tuple[Any, list[Snapshot]]) -> None:
    app, seen = polled
    client = app.server.test_client()
    login = seen[0].account.login
    for snapshot, prefix in zip(seen, ("", f"/accounts/{login}", ""), strict=True):
        response = client.get(f"{prefix}/account/at", query_string={"t": iso(snapshot.ts)})
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert (body["account"], body["t"]) == (login, snapshot.ts)
        assert body["point"] == HistoryPoint.of(snapshot.account, snapshot.ts).to_dict()
        assert body["state"]["ts"] <= snapshot.ts
        assert body["state"]["positions"] == [p.to_dict() for p in snapshot.positions]
        assert body["state"]["orders"] == [o.to_dict() for o in snapshot.orders]
        assert (body["currency"], body["currency_digits"]) == (
            snapshot.account.currency,
            snapshot.account.currency_digits,
        )

    between = client.get("/account/at", query_string={"t": iso(seen[1].ts + 1)}).get_json()
    assert between["point"]["equity"] == seen[1].account.equity


def test_before_the_first_poll_is_a_404_saying_so(polled: tuple[Any, list[Snapshot]]) -> None:
    app, seen = polled
    response = app.server.test_client().get("/account/at", query_string={"t": iso(seen[0].ts - 1)})
    assert response.status_code == 404
    assert response.get_json()["error"].startswith(f"nothing recorded for account {seen[0].account.login} at or before")


@pytest.mark.parametrize("query", [{}, {"t": ""}, {"t": "yesterday"}, {"t": "2999-01-01T00:00:00Z"}])
def test_a_missing_bad_or_future_t_is_a_400_naming_it(make_app: Any, query: dict[str, str]) -> None:
    app = make_app(source=DemoSource(seed=1), start=False)
    response = app.server.test_client().get("/account/at", query_string=query)
    assert (response.status_code, response.get_json()["parameter"]) == (400, "t")


def test_a_process_without_an_archive_is_a_503_saying_so(make_app: Any) -> None:
    app = make_app(source=DemoSource(seed=1), start=False)
    app.server.extensions["mt5_runtime"].archive = None  # as a dashboard mirroring collectors
    response = app.server.test_client().get("/account/at", query_string={"t": "2026-01-31T12:00:00Z"})
    assert response.status_code == 503
    assert "keeps no archive" in response.get_json()["error"]
