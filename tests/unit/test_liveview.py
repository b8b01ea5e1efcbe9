"""When live points may continue a chart: the view's right edge against a given clock, and gaps that may hide
stored points."""

from __future__ import annotations

from services.live.liveview import View, continues, follows_live, view_of

NOW = 1_780_000_000_000
MINUTE = 60_000
HOUR = 60 * MINUTE


def test_an_open_range_follows_live_at_any_time() -> None:
    assert view_of(None, None, NOW) == View(None, live=True, paused=False)
    assert view_of(None, None, NOW + 100 * HOUR).live


def test_a_zoom_into_the_past_pauses_a_live_range() -> None:
    zoom = [NOW - 26 * HOUR, NOW - 2 * HOUR]
    assert view_of(None, zoom, NOW) == View(NOW - 2 * HOUR, live=False, paused=True)


def test_a_zoom_reaching_ahead_follows_until_the_clock_passes_its_right_edge() -> None:
    zoom = [NOW - 10 * MINUTE, NOW + MINUTE]
    assert view_of(None, zoom, NOW) == View(NOW + MINUTE, live=True, paused=False)
    assert view_of(None, zoom, NOW + MINUTE).live, "the right edge itself is still in view"
    assert view_of(None, zoom, NOW + MINUTE + 1) == View(NOW + MINUTE, live=False, paused=True)


def test_a_custom_range_follows_until_its_end_and_a_past_one_is_not_paused_by_a_zoom() -> None:
    today_end = NOW + 5 * HOUR
    assert view_of(today_end, None, NOW) == View(today_end, live=True, paused=False)
    assert view_of(today_end, None, today_end + 1) == View(today_end, live=False, paused=False)
    past = view_of(NOW - 24 * HOUR, [NOW - 30 * HOUR, NOW - 25 * HOUR], NOW)
    assert past == View(NOW - 25 * HOUR, live=False, paused=False), "back to the range would not be live either"


def test_a_zoom_wider_than_the_range_ends_where_the_range_does() -> None:
    assert view_of(NOW + HOUR, [NOW - HOUR, NOW + 3 * HOUR], NOW).end_ms == NOW + HOUR
    assert view_of(NOW - HOUR, [NOW - 3 * HOUR, NOW + 3 * HOUR], NOW) == View(NOW - HOUR, live=False, paused=False)


def test_follows_live_compares_the_right_edge_with_the_clock() -> None:
    assert follows_live(None, NOW) and follows_live(NOW, NOW)
    assert not follows_live(NOW - 1, NOW)


def test_only_points_after_the_last_drawn_and_within_the_right_edge_continue_a_chart() -> None:
    points = [NOW - 2, NOW - 1, NOW, NOW + 1, NOW + 2]
    assert [t for t in points if continues(t, NOW - 1, NOW + 1)] == [NOW, NOW + 1]
    assert [t for t in points if continues(t, NOW - 1, None)] == [NOW, NOW + 1, NOW + 2]
