"""The dashboard's live updates, rendered once per view: an account, a clock, live or replaying.

``PageRenderer`` keeps what the pages of one view show (the account, the grids' rows, the day start, the
links, the risk panel) and turns each fan-out message into the props it changes: KPI texts, badges, grid
transactions, the risk panel and toasts, and chart points (which each socket cuts to its charts,
``views/charts.py``). A prop the view last set to the same value is not sent again. ``full`` is the whole
page, for a socket that joins or asks again; it makes the page reload its charts through Dash when asked
(``ids.CHART_RELOAD``), since the charts follow the page's own range and zoom.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from layouts import ids
from services.analytics.today import cash_flows
from services.core.models import Account
from services.core.protocol import ACCOUNT, ACCOUNTS, ALERT, DEALS, GRIDS, HEARTBEAT, STATUS, Message
from services.core.timefmt import CLOCKS, page_clock, zone
from services.live import rowdiff
from services.live.render import ADDING, Render, Updates, put
from services.risk.engine import AlertEngine
from services.runtime import Runtime
from services.storage.redis_conn import REDIS_ERRORS
from views.alerts import AlertsView
from views.cards import badge_updates, day_start, header_updates, kpi_updates, sync_updates
from views.charts import LiveCharts, Point, point
from views.grids import GRIDS as GRID_IDS
from views.grids import grid_count, grid_rows

LINKS_EVERY_MS = 1_000  # link ages are shown in whole seconds
MISSING = "missing"  # no status told the history sync yet


@dataclass(frozen=True, slots=True)
class PageKey:
    login: int | None  # None: the process's own account, whichever it is
    clock: str | None  # broker | local | utc (services/core/timefmt.py); None: tz alone, as an older page asks
    tz: str  # the browser's zone, the clock "local" stands for
    replaying: bool


class PageRenderer:
    """One view's state and what each message changes of its pages."""

    def __init__(
        self, runtime: Runtime, engine: AlertEngine, key: PageKey, clock: Callable[[], float] = time.time
    ) -> None:
        self.rt = runtime
        self.key = key
        self.clock = clock
        self.login = key.login
        self.account: dict[str, Any] | None = None
        self.header: dict[str, Any] | None = None
        self.rows: dict[str, list[dict[str, Any]]] = {kind: [] for kind in GRIDS}
        self.day: dict[str, Any] | None = None
        self.status: dict[str, Any] = {}
        self.sync: Any = MISSING
        self.last = {"mt5": 0, "redis": 0}
        self.collector: dict[str, Any] | None = None  # this account's row of the accounts monitor
        self.links_ms = 0
        self.shown: dict[tuple[str, str], Any] = {}
        self.alerts = AlertsView(engine, key.login)
        self.loaded = self.load()

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def load(self) -> bool:
        """The view's state from the latest snapshot (the streamer's, or Redis's for another account)."""
        snapshot = self.rt.snapshot_event(self.key.login)
        if snapshot is None:
            return False
        data = snapshot["data"]
        self.account = self.header = data["account"]
        self.login = self.alerts.login = self.header["login"]
        self.broker = self.rt.broker_zone(self.login)
        self.times = page_clock(self.key.clock, self.key.tz, self.broker)
        self.rows = {kind: grid_rows(kind, data.get(kind) or [], self.times, self.broker) for kind in GRIDS}
        self.status = dict(data.get("status") or {})
        self.sync = self.status.get("history_sync", MISSING)
        self.day = day_start(self.rt, self.header, snapshot["ts"])
        self.collector = self.monitored()
        return True

    def monitored(self) -> dict[str, Any] | None:
        """This account's row as the accounts monitor last saw it (None while Redis cannot tell)."""
        try:
            row = self.rt.monitor.current().get(self.login)
        except REDIS_ERRORS:
            return self.collector
        return row.to_dict() if row is not None else self.collector

    def event(self, message: Message) -> Render | None:
        if message.account is not None and message.account != (self.login or self.rt.login()):
            return None
        kind, data = message.kind, message.data
        redis_back = kind == STATUS and isinstance(data, dict) and data.get("link") == "redis" and data["redis"] == "up"
        if not self.loaded or redis_back:  # events may have been lost: start again from the snapshot
            self.loaded = self.load()
            return self.full(reload=True, shared=True) if self.loaded else None
        render = Render()
        if message.account is not None:
            self.last["redis"] = max(self.last["redis"], message.ts)
        try:
            self.take(message, render)
        except (KeyError, TypeError, ValueError):  # no event of ours: another program's, on the same channel
            return None
        alerts = [data] if kind == ALERT and isinstance(data, dict) else []
        render.set.update(self.alerts.changes(alerts, self.now_ms()))
        self.links(render, data if kind in (STATUS, HEARTBEAT) and isinstance(data, dict) else {}, kind == ACCOUNTS)
        return self.unchanged_dropped(render)

    def take(self, message: Message, render: Render) -> None:
        kind, data = message.kind, message.data
        if kind == ACCOUNT and isinstance(data, dict):
            self.on_account(message.ts, Account.from_mt5(data).to_dict(), render)
        elif kind in GRIDS and isinstance(data, list):
            self.on_rows(kind, data, render)
        elif kind == DEALS and isinstance(data, list):
            self.on_deals([d for d in data if isinstance(d, dict)], render)
        elif kind in (STATUS, HEARTBEAT) and isinstance(data, dict):
            self.on_status(data, render)
        elif kind == ACCOUNTS and isinstance(data, dict) and isinstance(data.get("accounts"), list):
            rows = [r for r in data["accounts"] if isinstance(r, dict) and r.get("login") == self.login]
            self.collector = rows[-1] if rows else self.collector

    def tick(self) -> Render | None:
        """Between messages: toasts that expire, a panel whose countdowns moved."""
        return Render(set=self.alerts.changes([], self.now_ms())) if self.loaded else None

    def on_account(self, ts: int, account: dict[str, Any], render: Render) -> None:
        self.account = account
        self.last["mt5"] = max(self.last["mt5"], ts)
        if self.day and ts >= self.day.get("end_ms", 0):  # the broker's day rolled over
            self.day = day_start(self.rt, account, ts)
            put(render.set, ids.DAY_START, "data", self.day)
        if not self.key.replaying:
            render.live.update(kpi_updates(account, self.day))
        render.points.append(point(ts, account, self.times, self.broker))

    def on_rows(self, kind: str, records: list[Any], render: Render) -> None:
        rows = grid_rows(kind, [r for r in records if isinstance(r, dict)], self.times, self.broker)
        change = rowdiff.diff(self.rows[kind], rows)
        self.rows[kind] = rows
        grid, count = GRID_IDS[kind]
        if not self.key.replaying and not rowdiff.is_empty(change):
            render.live.update({grid: {"rowTransaction": change}, count: {"children": self.count(kind)}})

    def count(self, kind: str) -> str:
        """A grid's heading, with its total in the account's currency."""
        return grid_count(kind, self.rows[kind], (self.account or {}).get("currency", ""))

    def on_deals(self, deals: list[dict[str, Any]], render: Render) -> None:
        """Deposits and withdrawals today are no profit; new deals refetch the deal grid and analytics."""
        day = self.day
        flows = cash_flows(deals, day.get("flows_from_ms", day["start_ms"])) if day else 0.0
        if day and flows:
            self.day = {**day, "flows": day.get("flows", 0.0) + flows}
            put(render.set, ids.DAY_START, "data", self.day)
            if self.account is not None and not self.key.replaying:
                render.live.update(kpi_updates(self.account, self.day))
        put(render.set, ids.DEALS_VERSION, "data", self.now_ms())

    def on_status(self, status: dict[str, Any], render: Render) -> None:
        """Badges of what it tells, and the history sync: its progress, and once it is done the charts and
        deals read again."""
        self.status.update(status)
        self.last["mt5"] = max(self.last["mt5"], status.get("last_poll_ms") or 0)
        render.set.update(badge_updates(status, self.silent().get("mt5")))
        if "history_sync" not in status:
            return
        sync = status["history_sync"] if isinstance(status["history_sync"], dict) else None
        if sync == self.sync:
            return
        was, self.sync = self.sync, sync
        render.set.update(sync_updates(sync))
        if isinstance(was, dict) and not was.get("done") and (sync is None or sync.get("done")):
            render.reload = True
            put(render.set, ids.CHART_RELOAD, "data", self.now_ms())
            put(render.set, ids.DEALS_VERSION, "data", self.now_ms())

    def links(self, render: Render, status: dict[str, Any], monitor: bool) -> None:
        """When the last MT5 poll, Redis message and update were (server clock), and why a link is down;
        ``assets/mt5.js`` ages them between pushes. Once a second, or at once when a status tells why."""
        reasons: dict[str, Any] = {}
        if "mt5" in status:
            reasons["mt5"] = status.get("mt5_error") if status["mt5"] != "connected" else None
        if status.get("redis"):
            reasons["redis"] = None if status["redis"] == "up" else status["redis"]
        silent = self.silent() if monitor else {}
        if monitor:  # the MT5 badge follows the monitor's word both ways
            render.set.update(badge_updates(self.status, silent.get("mt5")))
        now = self.now_ms()
        if reasons or silent or now - self.links_ms >= LINKS_EVERY_MS:
            self.links_ms = now
            put(render.set, ids.LINKS, "data", self.links_data(now, reasons, silent))

    def silent(self) -> dict[str, str | None]:
        """The monitor's word: a collector is stale within two poll intervals, not two heartbeats."""
        if self.collector is None:
            return {}
        lag = self.collector.get("lag_ms")
        since = f" for {lag / 1000:.1f} s" if isinstance(lag, int | float) else ""
        return {"mt5": f"no poll from its collector{since}" if self.collector.get("stale") else None}

    def links_data(self, now: int, reasons: dict[str, Any], silent: dict[str, Any]) -> dict[str, Any]:
        last = {"live": now, **{name: ts for name, ts in self.last.items() if ts}}
        period_ms = int(self.rt.settings.heartbeat_s * 1000)
        return {"last": last, "batch_ts": now, "period_ms": period_ms, "reasons": reasons, "silent": silent}

    def full(self, reload: bool, shared: bool = False) -> Render:
        """The whole page of this view; ``shared``: for every socket of the view (else one that joins)."""
        render = Render(full=True, reload=reload)
        render.set.update(self.alerts.full())
        if self.header is None or self.account is None:
            return render
        own = self.login == self.rt.login()
        note = self.rt.source.info.description if own else f"Account #{self.login}, read from Redis"
        render.set.update(header_updates(self.header, note))
        render.set.update(badge_updates(self.status, self.silent().get("mt5")))
        if isinstance(self.sync, dict) or self.sync is None:
            render.set.update(sync_updates(self.sync))
        put(render.set, ids.DAY_START, "data", self.day)
        reasons = {"mt5": self.status.get("mt5_error") if self.status.get("mt5") != "connected" else None}
        put(render.set, ids.LINKS, "data", self.links_data(self.now_ms(), reasons, self.silent()))
        put(render.set, ids.DEALS_VERSION, "data", self.now_ms())
        if reload:
            put(render.set, ids.CHART_RELOAD, "data", self.now_ms())
        if not self.key.replaying:
            render.live.update(kpi_updates(self.account, self.day))
            for kind, (grid, count) in GRID_IDS.items():
                render.live.update({grid: {"rowData": self.rows[kind]}, count: {"children": self.count(kind)}})
        return self.unchanged_dropped(render, keep=True) if shared else render

    def unchanged_dropped(self, render: Render, keep: bool = False) -> Render:
        """The props whose value differs from what the view last set, which become what it has set;
        ``keep``: all of them (a whole page)."""
        for updates in (render.set, render.live):
            for component_id, props in list(updates.items()):
                for prop, value in list(props.items()):
                    if prop in ADDING:  # never "unchanged": each adds to what the component holds
                        continue
                    if not keep and self.shown.get((component_id, prop), MISSING) == value:
                        del props[prop]
                    else:
                        self.shown[(component_id, prop)] = value
                if not props:
                    del updates[component_id]
        return render


class PageViewer:
    """One socket of the dashboard: its view's key and its own charts."""

    def __init__(self, kind: PageKind, login: int | None, clock: str | None, tz: str) -> None:
        self.kind = kind
        self.login = login
        self.clock = clock
        self.tz = tz
        self.replaying = False
        self.charts = LiveCharts()

    def key(self) -> PageKey:
        return PageKey(self.login, self.clock, self.tz, self.replaying)

    def renderer(self) -> PageRenderer:
        return PageRenderer(self.kind.runtime, self.kind.engine(), self.key())

    def change(self, view: dict[str, Any]) -> str | None:
        """The page's clock and browser zone, replay and charts (the stores it sends by id)."""
        before = self.key()
        client, replay = view.get(ids.CLIENT), view.get(ids.REPLAY)
        if isinstance(client, dict):
            self.clock, self.tz = clock_option(client.get("clock")), zone(client.get("tz"))
        if (self.clock, self.tz) != (before.clock, before.tz):
            self.charts.recent.clear()  # their x is in the old clock; the charts reload in the new one
        self.replaying = isinstance(replay, dict) and replay.get("t_ms") is not None
        charts = self.charts.take(view.get(ids.CHART_STATE))
        if self.key() != before:
            return "key"
        return "charts" if charts else None

    def own(self, points: list[Point]) -> tuple[Updates, Updates, Any]:
        return self.charts.appends(points)


class PageKind:
    """``?view=page``: the dashboard of ``?account=`` (the process's own without), in ``?clock=`` (``local``:
    the browser's zone ``?tz=``)."""

    def __init__(self, runtime: Runtime, engine: Callable[[], AlertEngine]) -> None:
        self.runtime = runtime
        self.engine = engine

    def viewer(self, login: int | None, args: Mapping[str, str]) -> PageViewer:
        return PageViewer(self, login, clock_option(args.get("clock")), zone(args.get("tz")))


def clock_option(raw: Any) -> str | None:
    """A clock the page named, None for none or one not known (``page_clock`` then goes by the zone)."""
    return raw if raw in CLOCKS else None
