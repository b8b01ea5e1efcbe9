"""The page at a phone's, a small laptop's and a desktop's width, in both themes: nothing wider than the screen,
Profit in view in both grids, the chosen range visible, every control's text readable (WCAG AA), and the chart
toolbar off the chart titles."""

from __future__ import annotations

import json
from typing import Any

import pytest

from layouts import ids
from services.ingest.sources.demo import DemoSource
from tests.helpers import click, wait_until

pytestmark = pytest.mark.browser
WIDTHS = (390, 800, 1280)
THEMES = ("light", "dark")
HEIGHT = 900
AA = 4.5  # WCAG AA for normal text

# Colour maths in the page: a text's contrast ratio against what is really behind it, the backgrounds of its
# ancestors composed down to the first opaque one (over white, the canvas).
CONTRAST = """
function rgba(text) {  // rgb(), rgba() or color(srgb r g b / a) with channels from 0 to 1 (color-mix gives those)
    const v = text.match(/[\\d.]+/g).map(Number);
    const rgb = text.startsWith('color(') ? v.slice(0, 3).map(c => c * 255) : v.slice(0, 3);
    return [...rgb, v.length > 3 ? v[3] : 1];
}
function behind(el) {
    const layers = [];
    for (let node = el; node; node = node.parentElement) {
        const colour = rgba(getComputedStyle(node).backgroundColor);
        if (colour[3] > 0) { layers.push(colour); if (colour[3] >= 1) { break; } }
    }
    return layers.reverse().reduce((under, c) => under.map((v, i) => c[i] * c[3] + v * (1 - c[3])), [255, 255, 255]);
}
function luminance(rgb) {
    const lin = rgb.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
}
window.contrast = function (el, pseudo) {
    const bg = behind(el);
    const fg = rgba(getComputedStyle(el, pseudo || null).color);
    const text = fg.slice(0, 3).map((v, i) => v * fg[3] + bg[i] * (1 - fg[3]));
    const [a, b] = [luminance(text), luminance(bg)];
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
};
"""

MEASURE = """
const grid = function (gridId, selector) {
    const view = document.querySelector('#' + gridId + ' .ag-body-viewport').getBoundingClientRect();
    const cell = document.querySelector('#' + gridId + ' ' + selector).getBoundingClientRect();
    return {view: [view.left, view.right], cell: [cell.left, cell.right]};
};
const labels = Array.from(document.querySelectorAll('#' + arguments[0] + ' label')).map(function (label) {
    const style = getComputedStyle(label);
    return {checked: label.querySelector('input').checked, background: style.backgroundColor, color: style.color,
            contrast: contrast(label), text: label.innerText};
});
const texts = {
    'account switcher': contrast(document.querySelector('#' + arguments[1])),
    'date picker start': contrast(document.querySelector('#' + arguments[2]), '::placeholder'),
    'date picker value': contrast(document.querySelector('#' + arguments[2])),
    'positions cell': contrast(document.querySelector('#' + arguments[3] + ' .ag-cell')),
    'positions header': contrast(document.querySelector('#' + arguments[3] + ' .ag-header-cell-text')),
    'deals cell': contrast(document.querySelector('#' + arguments[4] + ' .ag-cell')),
    'rules rows': contrast(document.querySelector('#' + arguments[5])),
    'rules editor': contrast(document.querySelector('#' + arguments[6])),
    'replay time': contrast(document.querySelector('#' + arguments[7]), '::placeholder'),
    'download link': contrast(document.querySelector('#download-deals')),
};
const overlaps = [];
document.querySelectorAll('.js-plotly-plot').forEach(function (plot) {
    const bar = plot.querySelector('.modebar-container');
    const title = plot.querySelector('.gtitle');
    if (!bar || !title || getComputedStyle(bar).display === 'none') { return; }
    const [a, b] = [bar.getBoundingClientRect(), title.getBoundingClientRect()];
    if (a.width && a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) {
        overlaps.push(title.textContent);
    }
});
return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
        positions: grid(arguments[3], '.ag-cell[col-id=profit]'), deals: grid(arguments[4], '.ag-header-cell[col-id=profit]'),
        labels: labels, texts: texts, overlaps: overlaps};
"""  # noqa: E501


def shown(dash_duo: Any, script: str) -> Any:
    return dash_duo.driver.execute_script(script)


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("width", WIDTHS)
def test_page_fits_and_reads_at_every_width_in_both_themes(
    dash_duo: Any, make_app: Any, width: int, theme: str
) -> None:
    app = make_app({"POLL_INTERVAL_MS": "250"}, source=DemoSource(seed=7))
    dash_duo.start_server(app)
    dash_duo.driver.set_window_size(width, HEIGHT)
    dash_duo.driver.execute_script("localStorage.setItem('theme', arguments[0])", json.dumps(theme))
    dash_duo.driver.refresh()
    wait_until(lambda: shown(dash_duo, "return document.documentElement.dataset.theme") == theme, 10, "the theme")
    for grid_id in (ids.POSITIONS_GRID, ids.DEALS_GRID):
        profit = f"return !!document.querySelector('#{grid_id} .ag-cell[col-id=profit]')"
        wait_until(lambda script=profit: shown(dash_duo, script), 20, f"rows in {grid_id}")
    wait_until(lambda: shown(dash_duo, "return document.querySelectorAll('.js-plotly-plot .gtitle').length >= 3"), 20,
               "the chart titles")  # fmt: skip
    wait_until(lambda: shown(dash_duo, "return !!document.getElementById('download-deals')"), 20, "the download links")
    click(dash_duo, f"#{ids.RULES_EDIT}")
    wait_until(lambda: dash_duo.find_element(f"#{ids.RULES_EDITOR}").is_displayed(), 10, "the rules editor")
    dash_duo.driver.execute_script(CONTRAST)
    page = dash_duo.driver.execute_script(
        MEASURE, ids.RANGE_BUTTONS, ids.ACCOUNT_SWITCH, ids.RANGE_DATE_INPUTS[0], ids.POSITIONS_GRID, ids.DEALS_GRID,
        ids.RULES_ROWS, ids.RULES_EDITOR, ids.REPLAY_TIME,
    )  # fmt: skip

    assert page["scrollWidth"] <= page["innerWidth"], "no sideways scrolling of the page"
    for grid_name in ("positions", "deals"):
        (left, right), (start, end) = page[grid_name]["view"], page[grid_name]["cell"]
        assert left <= start and end <= right + 1, f"Profit in the {grid_name} grid's view without scrolling"
    checked = [label for label in page["labels"] if label["checked"]]
    others = [label for label in page["labels"] if not label["checked"]]
    assert len(checked) == 1 and others
    assert all((o["background"], o["color"]) != (checked[0]["background"], checked[0]["color"]) for o in others), (
        "the chosen range looks different from the others"
    )
    unreadable = {label["text"]: label["contrast"] for label in page["labels"] if label["contrast"] < AA}
    unreadable.update({name: ratio for name, ratio in page["texts"].items() if ratio < AA})
    assert unreadable == {}, "text below WCAG AA contrast"
    assert page["overlaps"] == [], "the chart toolbar covers a title"
    assert dash_duo.get_logs() == []
