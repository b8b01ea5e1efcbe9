"""The pages' live updates rendered on the server: what each view of a page shows, as component props.

Both ``/ws`` (through ``services/live/viewhub.py``, which knows none of this) and the Dash callbacks use these, so
a text or a figure is built in one place; ``install`` wires the page kinds into the fan-out.
"""

from __future__ import annotations

from flask import Flask

from services.core.protocol import OVERVIEW, PAGE
from services.live.viewhub import ViewHub
from services.risk.wiring import RiskEngine
from services.runtime import Runtime
from views.overview import OverviewKind
from views.page import PageKind


def install(server: Flask, runtime: Runtime, risk: RiskEngine) -> ViewHub:
    """The pages' views on the fan-out, for ``/ws`` (``server.extensions["mt5_views"]``)."""
    hub = ViewHub({PAGE: PageKind(runtime, lambda: risk.alerts), OVERVIEW: OverviewKind(runtime)})
    runtime.fanout.taps.append(hub)
    server.extensions["mt5_views"] = hub
    runtime.add_health("views", lambda: {"rendered": hub.view_count()})  # distinct page views, each rendered once
    return hub
