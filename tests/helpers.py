"""Small waits and fetches that tests of a live, threaded app need, and the charts an exported page carries."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from typing import Any


def wall_ms(utc_ms: int, zone: tzinfo) -> int:
    """A UTC moment as ``zone``'s wall-clock time in epoch ms, how the charts draw x; from the standard library."""
    wall = datetime.fromtimestamp(utc_ms // 1000, zone).replace(tzinfo=None)
    return (wall - datetime(1970, 1, 1)) // timedelta(milliseconds=1) + utc_ms % 1000


def wall_text(utc_ms: int, zone: tzinfo) -> str:
    """``YYYY-MM-DD HH:MM:SS`` of a UTC moment in ``zone``, as the page writes times."""
    return datetime.fromtimestamp(utc_ms // 1000, zone).strftime("%Y-%m-%d %H:%M:%S")


def wait_until(condition: Callable[[], Any], timeout: float = 10.0, message: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy (returned); network errors count as not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")


def after_hello(ws: Any) -> dict[str, Any]:
    """The frame after a ``/ws`` socket's hello (which must name this protocol), or the first one when it is no
    hello (a refusal's error frame)."""
    from services.core.protocol import HELLO, PROTOCOL_VERSION

    first = json.loads(ws.recv())
    if first["type"] != HELLO:
        return first
    assert first["data"] == {"protocol": PROTOCOL_VERSION}
    return json.loads(ws.recv())


def click(dash_duo: Any, selector: str, timeout: float = 10.0) -> None:
    """Click like a user, trying again while a live redraw replaced the element or a layout shift put another
    element over it (Chromium then refuses the click rather than clicking through)."""
    from selenium.common.exceptions import ElementClickInterceptedException, StaleElementReferenceException

    def clicked() -> bool:
        try:
            dash_duo.find_element(selector).click()
        except (StaleElementReferenceException, ElementClickInterceptedException):
            return False
        return True

    wait_until(clicked, timeout, f"a click on {selector}")


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


NEW_PLOT = re.compile(r'Plotly\.newPlot\(\s*"[^"]+",\s*')


def plotted(page: str) -> list[list[dict[str, Any]]]:
    """The traces of every chart drawn by an exported page, in order: the data the file really carries."""
    decoder = json.JSONDecoder()
    return [decoder.raw_decode(page, match.end())[0] for match in NEW_PLOT.finditer(page)]
