"""The README's screenshots: the whole dashboard at 1280 px (desktop) and 390 px (phone), light and dark.

``python scripts/screenshots.py`` starts the app on the built-in demo account (a temporary DATA_DIR, the embedded
Redis, a free port), or uses a running one with ``--url``; headless Chromium loads the page in each theme and
width, waits until the data is drawn (the grids' rows, the charts, the statistics), and writes
``docs/screenshot-<width>-<theme>.png`` of the whole page. It stops the app it started.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.browser import start_chromium  # noqa: E402
from bench.infra import free_port, wait_for  # noqa: E402
from layouts import ids  # noqa: E402

WIDTHS = (1280, 390)
THEMES = ("light", "dark")
HEIGHT = 900  # the window's when the page is first measured; the screenshot covers the whole page
START_S = 90
DRAWN_S = 60
# Drawn: rows with a profit in both grids, every chart with its traces, the statistics filled in.
DRAWN = """
const profit = id => !!document.querySelector('#' + id + ' .ag-cell[col-id=profit]');
const plots = Array.from(document.querySelectorAll('.js-plotly-plot'));
const stats = document.getElementById(arguments[2]);
return document.documentElement.dataset.theme === arguments[3] && profit(arguments[0]) && profit(arguments[1])
    && plots.length > 0 && plots.every(p => p.data && p.data.length > 0 && p.querySelector('.gtitle'))
    && !!stats && stats.querySelector('dl') !== null;
"""


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as response:
            return bool(json.loads(response.read()))
    except OSError:
        return False


def start_app(data_dir: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "MT5_SOURCE": "demo", "REDIS_URL": "embedded", "DATA_DIR": data_dir,
           "APP_HOST": "127.0.0.1", "APP_PORT": str(port), "APP_AUTH": "none"}  # fmt: skip
    app = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if app.poll() is not None:
            raise RuntimeError(f"the app exited with status {app.returncode}")
        return answers(url)

    wait_for(up, START_S, f"the app on {url}", 0.2)
    return app, url


def load(driver: Any, url: str, theme: str, width: int, height: int) -> int:
    """The page in this theme in a window of this size, once its data is drawn; returns the page's height."""
    driver.set_window_size(width, height)
    driver.get(url)
    driver.execute_script("localStorage.setItem('theme', arguments[0])", json.dumps(theme))
    driver.refresh()
    wait_for(lambda: driver.execute_script(DRAWN, ids.POSITIONS_GRID, ids.DEALS_GRID, ids.ANALYTICS_STATS, theme),
             DRAWN_S, f"the page drawn at {width} px, {theme}")  # fmt: skip
    return driver.execute_script("return document.documentElement.scrollHeight")


def shoot(driver: Any, url: str, width: int, theme: str, out: Path) -> Path:
    """The whole page at this width in this theme: drawn in a window as tall as the page, since a capture beyond
    the window resizes it under the grids and charts, which then draw again (an empty deal grid, say)."""
    height = load(driver, url, theme, width, HEIGHT)
    load(driver, url, theme, width, height)
    path = out / f"screenshot-{width}-{theme}.png"
    path.write_bytes(driver.get_screenshot_as_png())
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running dashboard, e.g. http://127.0.0.1:8050 (default: start one)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where the PNGs go (default: docs/)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mt5-screens-") as data_dir:
        app, url = (None, args.url.rstrip("/")) if args.url else start_app(data_dir)
        driver = start_chromium()
        try:
            for width in WIDTHS:
                for theme in THEMES:
                    print(shoot(driver, url, width, theme, args.out))
        finally:
            driver.quit()
            if app is not None:
                app.terminate()
                app.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
