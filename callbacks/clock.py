"""The page's one clock: the header's "Times:" picker, remembered in the browser like the theme.

The choice (``ids.CLOCK``, localStorage) goes into ``ids.CLIENT`` with the browser's zone, so every callback
and the page's view on ``/ws`` (``views/page.py``) render times in it. The picker names each clock with its
offset now: the broker's from its clock rule, the browser's from its IANA zone.
"""

from __future__ import annotations

import time
from typing import Any

from dash import ClientsideFunction, Dash, Input, Output, State

from callbacks.routing import page_login
from layouts import ids
from services.core.brokertime import BrokerZone
from services.core.timefmt import BROKER, CLOCKS, LOCAL, UTC_CLOCK, offset_text, page_clock
from services.runtime import Runtime


def clock_options(client: dict[str, Any] | None, broker: BrokerZone, now_ms: int) -> list[dict[str, str]]:
    """``Broker (UTC+2)``, ``Local (Europe/Berlin, UTC+1)``, ``UTC``: each clock as the picker names it."""
    tz = (client or {}).get("tz")
    local = page_clock(LOCAL, tz, broker).label(now_ms).replace(" (", ", ").rstrip(")")
    broker_offset = offset_text(broker.offset_s_at(now_ms))
    labels = {BROKER: f"Broker ({broker_offset})", LOCAL: f"Local ({local})", UTC_CLOCK: "UTC"}
    return [{"label": labels[choice], "value": choice} for choice in CLOCKS]


def register(app: Dash, runtime: Runtime) -> None:
    app.clientside_callback(  # the picker and the remembered choice, kept the same both ways
        ClientsideFunction(namespace="mt5", function_name="pickClock"),
        Output(ids.CLOCK, "data"),
        Output(ids.CLOCK_PICKER, "value"),
        Input(ids.CLOCK_PICKER, "value"),
        Input(ids.CLOCK, "data"),
    )

    @app.callback(
        Output(ids.CLOCK_PICKER, "options"),
        Input(ids.CLIENT, "data"),
        State(ids.LOCATION, "pathname"),
    )
    def name_clocks(client: dict | None, pathname: str | None) -> list[dict[str, str]]:
        broker = runtime.broker_zone(page_login(pathname, runtime))
        return clock_options(client, broker, int(time.time() * 1000))
