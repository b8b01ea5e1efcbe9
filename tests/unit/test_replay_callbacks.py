"""Replay on the page, called directly: the moment asked for, the reasons one cannot be shown, what the cards and
grids show, and the live dispatcher leaving them alone until "Back to live"."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from callbacks.replay import NotShown, chosen_ms, moment_updates, read_moment
from layouts import ids
from services.analytics.replay import Moment
from services.core.brokertime import fixed
from services.core.models import Account, HistoryPoint, Order, Position
from services.core.protocol import ACCOUNT, POSITIONS
from services.core.timefmt import LOCAL, UTC_CLOCK, page_clock
from services.ingest.sources.demo import DemoSource
from services.storage.archive import FILE_NAME, Archive, State
from services.storage.archive import Batch as Rows
from tests.unit.test_live_callbacks import LOGIN, message, position, renderer
from views.cards import REPLAYED

ZONE = fixed(7_200)
BERLIN = page_clock(LOCAL, "Europe/Berlin", ZONE)
IN_UTC = page_clock(UTC_CLOCK, None, ZONE)
T0 = 1_769_866_200_000  # 2026-01-31 13:30:00 UTC


def prop(updates: dict[str, dict[str, Any]], component_id: str, name: str) -> Any:
    return updates.get(component_id, {}).get(name)


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        ("2026-01-31 14:30:00", "Europe/Berlin", "2026-01-31T13:30:00"),
        ("2026-01-31T14:30", "Europe/Berlin", "2026-01-31T13:30:00"),
        ("2026-01-31 14:30:05.250", "UTC", "2026-01-31T14:30:05.250"),
        ("2026-10-25 02:30:00", "Europe/Berlin", "2026-10-25T00:30:00"),  # passed twice: the first pass
        ("2026-03-29 02:30:00", "Europe/Berlin", "2026-03-29T01:30:00"),  # skipped: the offset before the change
        ("2026-01-31 14:30:00", "Not/AZone", "2026-01-31T14:30:00"),  # an unknown zone reads as UTC, as the page does
    ],
)
def test_a_wall_clock_time_in_the_pages_zone_is_one_utc_moment(text: str, tz: str, expected: str) -> None:
    assert page_clock(LOCAL, tz, ZONE).utc_ms(text) == utc(expected)


def test_the_moment_comes_from_the_inputs_or_the_clicked_point() -> None:
    assert chosen_ms(ids.REPLAY_SHOW, "2026-01-31", "14:30", None, BERLIN) == T0
    assert chosen_ms(ids.REPLAY_TIME, "2026-01-31T00:00:00", " 14:30:00 ", None, BERLIN) == T0
    assert chosen_ms(ids.REPLAY_SHOW, "2026-01-31", None, None, IN_UTC) == utc("2026-01-31T00:00:00")
    clicked = {"points": [{"x": "2026-01-31 14:30:00.125", "y": 1.0}]}
    assert chosen_ms(ids.EQUITY_GRAPH, None, None, clicked, BERLIN) == T0 + 125
    wall_ms = utc("2026-01-31T14:30:00.125")  # the charts' x: local wall-clock time as epoch ms
    assert chosen_ms(ids.EQUITY_GRAPH, None, None, {"points": [{"x": wall_ms}]}, BERLIN) == T0 + 125


@pytest.mark.parametrize(
    ("trigger", "date", "time_text", "click", "reason"),
    [
        (ids.REPLAY_SHOW, None, "14:30", None, "Pick a date"),
        (ids.REPLAY_SHOW, "2026-01-31", "half past 2", None, "Not a time: 'half past 2'"),
        (ids.REPLAY_SHOW, "2026-01-31", "25:00", None, "Not a time"),
        (ids.EQUITY_GRAPH, None, None, {"points": []}, "That point has no time"),
        (ids.EQUITY_GRAPH, None, None, None, "That point has no time"),
    ],
)
def test_a_moment_that_cannot_be_read_says_why(
    trigger: str, date: Any, time_text: Any, click: Any, reason: str
) -> None:
    with pytest.raises(NotShown, match=reason):
        chosen_ms(trigger, date, time_text, click, IN_UTC)


def record(login: int, ts: int, **fields: float) -> HistoryPoint:
    values = {"balance": 10_000.0, "equity": 10_000.0, "margin": 0.0, "margin_level": 0.0, "profit": 0.0, **fields}
    return HistoryPoint(ts, *(values[name] for name in ("balance", "equity", "margin", "margin_level", "profit")))


@pytest.fixture
def demo_rows() -> tuple[Account, tuple[Position, ...], tuple[Order, ...]]:
    now = 1_780_000_000.0
    source = DemoSource(seed=5, clock=lambda: now, start_utc_s=now - 86_400)
    source.connect()
    source.fast_forward(3_600)
    return source.account(), tuple(source.positions()), tuple(source.orders())


@pytest.fixture
def archive(tmp_path: Path, demo_rows: Any) -> Any:
    """Two points an hour apart, the positions and orders from the first."""
    account, positions, orders = demo_rows
    opened = Archive(tmp_path / FILE_NAME)
    opened.open()
    opened.write(
        Rows(
            points=[
                (LOGIN, record(LOGIN, T0, balance=10_000.0, equity=10_250.5, margin=500.0, margin_level=2_050.1)),
                (LOGIN, record(LOGIN, T0 + 3_600_000, balance=10_400.0, equity=10_380.0, margin=0.0, profit=-20.0)),
            ],
            states=[State(LOGIN, T0, positions, orders)],
            accounts=[(T0, account)],
        )
    )
    yield opened
    opened.close()


def test_a_recorded_moment_is_read_with_its_day(archive: Archive) -> None:
    moment, day = read_moment(archive, LOGIN, ZONE, T0 + 60_000, IN_UTC)
    assert (moment.point.ts, moment.state.ts, moment.recorded_ms) == (T0, T0, T0)
    assert day["start_ms"] == ZONE.day_start_ms(T0 + 60_000) and "equity" not in day, "no point by that midnight"


def test_each_reason_a_moment_cannot_be_shown_is_said(archive: Archive, tmp_path: Path) -> None:
    with pytest.raises(NotShown, match="available from the collector that polls this account"):
        read_moment(None, LOGIN, ZONE, T0, IN_UTC)
    with pytest.raises(NotShown, match="has not come yet"):
        read_moment(archive, LOGIN, ZONE, 10**14, IN_UTC)
    with pytest.raises(NotShown, match=r"^Nothing recorded before 2026-01-31 14:30:00: pick a later moment\.$"):
        read_moment(archive, LOGIN, ZONE, T0 - 1, BERLIN)
    with pytest.raises(NotShown, match=f"Nothing recorded for account #{LOGIN + 1}"):
        read_moment(archive, LOGIN + 1, ZONE, T0, IN_UTC)
    unreadable = Archive(tmp_path / "never-opened" / FILE_NAME)  # no file, no tables: as a broken archive reads
    with pytest.raises(NotShown, match=r"The archive cannot be read \(OperationalError\); try again shortly"):
        read_moment(unreadable, LOGIN, ZONE, T0, IN_UTC)


def test_the_cards_and_grids_show_the_moment_with_a_banner_saying_when(archive: Archive, demo_rows: Any) -> None:
    _, positions, orders = demo_rows
    moment, day = read_moment(archive, LOGIN, ZONE, T0 + 90_000, BERLIN)
    out = moment_updates(moment, day, BERLIN, ZONE)
    assert prop(out, ids.kpi_value("balance"), "children") == "$10,000.00"
    assert prop(out, ids.kpi_value("equity"), "children") == "$10,250.50"
    assert prop(out, ids.kpi_value("margin_free"), "children") == "$9,750.50"
    assert prop(out, ids.kpi_value("margin_level"), "children") == "2,050.10 %"
    assert prop(out, ids.kpi_value("today"), "children") == "—"
    assert prop(out, ids.kpi_delta("equity"), "children") == "", "no change shown without the day's start"
    rows = prop(out, ids.POSITIONS_GRID, "rowData")
    assert [r["ticket"] for r in rows] == [p.ticket for p in positions] and rows[0]["row_id"] == str(
        positions[0].ticket
    )
    assert "magic" not in rows[0], "only what the grid shows"
    assert [r["ticket"] for r in prop(out, ids.ORDERS_GRID, "rowData")] == [o.ticket for o in orders]
    heading = prop(out, ids.POSITIONS_COUNT, "children")
    assert heading.startswith(f"{len(positions)} positions · Floating P/L ") and heading.endswith(" USD"), heading
    assert prop(out, ids.REPLAY_TEXT, "children") == (
        "Showing the account at 2026-01-31 14:31:30 (recorded 2026-01-31 14:30:00)"
    )
    assert (prop(out, ids.REPLAY, "data"), prop(out, ids.REPLAY_BANNER, "hidden")) == ({"t_ms": T0 + 90_000}, False)
    assert REPLAYED.keys() <= out.keys(), "every card, grid and count a replay freezes"


def test_a_state_without_a_point_shows_the_grids_and_says_the_figures_are_missing(demo_rows: Any) -> None:
    _, positions, _ = demo_rows
    moment = Moment(LOGIN, T0, None, State(LOGIN, T0 - 5_000, positions, ()), None)
    out = moment_updates(moment, {"start_ms": 0, "end_ms": 1, "flows": 0.0}, IN_UTC, ZONE)
    assert prop(out, ids.kpi_value("equity"), "children") == "—"
    assert len(prop(out, ids.POSITIONS_GRID, "rowData")) == len(positions)
    assert prop(out, ids.REPLAY_MESSAGE, "children") == "No balance or equity was recorded by then."
    assert "(recorded 2026-01-31 13:29:55)" in prop(out, ids.REPLAY_TEXT, "children")


def test_a_replaying_view_leaves_the_replayed_moment_alone_and_back_to_live_starts_whole(make_app: Any) -> None:
    app = make_app(source=DemoSource(seed=8), start=False)
    runtime = app.server.extensions["mt5_runtime"]
    runtime.streamer.step()
    replaying = renderer(app, "UTC", replaying=True)
    account = {**runtime.streamer.latest().account.to_dict(), "equity": 12_345.0}
    live = [message(ACCOUNT, account, 2), message(POSITIONS, [position(9, 1.0)])]
    frozen = [replaying.event(m) for m in live]
    assert not any(render.live for render in frozen), "no card, grid or count changes while replaying"
    assert frozen[0].points, "the charts go on"
    assert not REPLAYED.keys() & replaying.full(reload=True).live.keys(), "not even whole (a reconnect)"
    back = renderer(app, "UTC").full(reload=False)
    assert REPLAYED.keys() <= back.live.keys(), "back to live: every card, grid and count, whole"
    assert back.live[ids.POSITIONS_GRID]["rowData"], "the rows the next changes are made from"
