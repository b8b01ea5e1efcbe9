// Browser glue for the dashboard. Data and figures come from Python; this file only knows the
// browser (its zone and width), the chosen clock and theme, link ages between pushes and reconnect timing.
(function () {
    const LINKS = ["mt5", "redis", "live"];
    let links = null;
    let wsOpen = false;
    let attempts = 0;

    function fmtAge(ms) {
        const s = Math.max(0, Math.round(ms / 1000));
        if (s < 60) { return s + " s"; }
        if (s < 3600) { return Math.floor(s / 60) + " min"; }
        return Math.floor(s / 3600) + " h";
    }

    function tick() {
        if (!links) { return; }
        const elapsed = Date.now() - links.received;
        const stale = [];
        LINKS.forEach(function (name) {
            const last = links.last ? links.last[name] : null;
            const age = (last === null || last === undefined) ? null : links.batch_ts - last + elapsed;
            const ageEl = document.getElementById("age-" + name);
            if (ageEl) { ageEl.textContent = age === null ? "" : fmtAge(age); }
            // The server's word on a link, when it has one (the accounts monitor's rule for MT5, the one its
            // badge follows), wins over the age by the page's own clock.
            const judged = !!links.silent && name in links.silent;
            const isStale = judged ? !!links.silent[name] : (age !== null && age > 2 * links.period_ms);
            const wrap = document.getElementById("link-" + name);
            if (wrap) { wrap.classList.toggle("stale", isStale); }
            if (isStale) { stale.push(name); }
        });
        const banner = document.getElementById("stale-banner");
        const page = document.getElementById("page");
        const isStale = stale.length > 0 || !wsOpen;
        if (page) { page.classList.toggle("is-stale", isStale); }
        if (!banner) { return; }
        if (!isStale) { banner.textContent = ""; return; }
        const reasons = [];
        if (!wsOpen) { reasons.push("live link down, reconnecting"); }
        if (links.silent && links.silent.mt5) { reasons.push("MT5: " + links.silent.mt5); }
        if (links.reasons && links.reasons.mt5) { reasons.push("MT5: " + links.reasons.mt5); }
        if (links.reasons && links.reasons.redis) { reasons.push("Redis: " + links.reasons.redis); }
        const age = links.batch_ts - Math.min.apply(null, LINKS.map(function (n) {
            return links.last && links.last[n] ? links.last[n] : links.batch_ts;
        })) + elapsed;
        banner.textContent = "Data is stale: no update for " + fmtAge(age) +
            (reasons.length ? " (" + reasons.join("; ") + ")" : "");
    }

    setInterval(tick, 1000);

    // A phone's width, as in assets/style.css: the grids hide their context.narrowHidden columns there
    // (layouts/tables.py), so Profit stays in view without scrolling sideways.
    const narrow = window.matchMedia("(max-width: 640px)");
    const narrowGrids = new Set();

    function fitColumns(gridId) {
        window.dash_ag_grid.getApiAsync(gridId).then(function (api) {
            const hidden = (api.getGridOption("context") || {}).narrowHidden || [];
            api.setColumnsVisible(hidden, !narrow.matches);
            api.sizeColumnsToFit();
        });
    }

    narrow.addEventListener("change", function () { narrowGrids.forEach(fitColumns); });

    function browserZone() {
        try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { return "UTC"; }
    }

    // The clock chosen for every time (ids.CLOCK, a dcc.Store kept in localStorage as JSON), for the socket's
    // URL: its first whole page comes in that clock. "" before any: the server then goes by the page's view.
    function chosenClock() {
        try {
            const clock = JSON.parse(window.localStorage.getItem("clock"));
            return typeof clock === "string" ? clock : "";
        } catch (e) { return ""; }
    }

    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        mt5: {
            client: function (pathname, clock) {
                return {width: Math.round(window.innerWidth * 0.9), tz: browserZone(), clock: clock};
            },
            // The header's picker and the remembered clock, one following the other.
            pickClock: function (picked, stored) {
                const triggered = window.dash_clientside.callback_context.triggered.map(function (t) {
                    return t.prop_id;
                });
                if (picked && triggered.indexOf("clock-picker.value") >= 0) {
                    return [picked === stored ? window.dash_clientside.no_update : picked,
                        window.dash_clientside.no_update];
                }
                return [window.dash_clientside.no_update, stored === picked ? window.dash_clientside.no_update : stored];
            },
            // Backoff 1 s doubling to 30 s with +/-20 % jitter; a new url makes the component reconnect.
            // batch_ms=5&ack=1: numbered frames that leave 5 ms after their first change (one poll's changes
            // together), the next one after our ack; view=page: the page's changes rendered for its view (its
            // clock and zone here; the rest once open, assets/live.js), view=overview: the overview's, in its theme.
            reconnect: function (state, url, theme) {
                const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
                const path = window.location.pathname;
                const page = path.match(/^\/a\/(\d+)\/?$/);
                const query = path.startsWith("/overview") ? "view=overview&theme=" + encodeURIComponent(theme || "")
                    : "view=page&tz=" + encodeURIComponent(browserZone()) + "&clock=" + encodeURIComponent(chosenClock())
                        + (page ? "&account=" + page[1] : "");
                const base = scheme + window.location.host + "/ws?batch_ms=5&ack=1&" + query;
                const ready = state ? state.readyState : undefined;
                wsOpen = ready === 1;
                if (!url) { return base; }
                if (ready === 1) { attempts = 0; }
                if (ready !== 3) { return window.dash_clientside.no_update; }
                attempts += 1;
                const delay = Math.min(30000, 1000 * Math.pow(2, attempts - 1)) * (0.8 + 0.4 * Math.random());
                const attempt = attempts;
                return new Promise(function (resolve) {
                    setTimeout(function () { resolve(base + "&attempt=" + attempt); }, delay);
                });
            },
            // "Back to live" shows while a zoom into the past keeps live points off the charts (the chart
            // state says so, callbacks/charts.py); the click resets the zoom as a double click does, and the
            // reset's relayoutData reloads the chosen range, which follows live again.
            // Only a zoom or its reset reloads the charts: an autosize or a y-axis pan must not start a load,
            // since a load started while another is on its way makes Dash throw the earlier one's figures away.
            zoomOf: function (relayout) {
                const zoom = relayout && ("xaxis.autorange" in relayout || "xaxis.range" in relayout
                    || "xaxis.range[0]" in relayout);
                return zoom ? relayout : window.dash_clientside.no_update;
            },
            paused: function (chart) {
                return !(chart && chart.paused);
            },
            backToLive: function (clicks, graphId) {
                const graph = document.querySelector("#" + graphId + " .js-plotly-plot");
                if (clicks && graph) {
                    window.Plotly.relayout(graph, {"xaxis.autorange": true, "yaxis.autorange": true});
                }
            },
            toggleTheme: function (clicks, theme) {
                return theme === "dark" ? "light" : "dark";
            },
            applyTheme: function (theme) {
                const dark = theme === "dark";
                document.documentElement.dataset.theme = dark ? "dark" : "light";
                document.body.dataset.agThemeMode = dark ? "dark" : "light";
                return dark ? "Light theme" : "Dark theme";
            },
            narrowColumns: function (client, ...gridIds) {
                gridIds.forEach(function (gridId) {
                    narrowGrids.add(gridId);
                    fitColumns(gridId);
                });
            },
            refreshDeals: function () {
                // New deals arrived or the range changed: the infinite grid refetches its visible page.
                try {
                    window.dash_ag_grid.getApi("deals-grid").refreshInfiniteCache();
                } catch (notReadyYet) {
                    // the grid fetches its first page by itself once it is ready
                }
            },
            liveBadge: function (state) {
                const ready = state ? state.readyState : 3;
                if (ready === 1) { return ["Live: connected", "badge badge-ok"]; }
                if (ready === 0) { return ["Live: connecting…", "badge badge-warn"]; }
                return ["Live: reconnecting…", "badge badge-bad"];
            },
            links: function (data, state) {
                // Each update carries what its batch told; older times and reasons stay until replaced.
                wsOpen = !!state && state.readyState === 1;
                if (data) {
                    const before = links || {last: {}, reasons: {}, silent: {}};
                    links = Object.assign({}, data, {
                        received: Date.now(),
                        last: Object.assign({}, before.last, data.last),
                        reasons: Object.assign({}, before.reasons, data.reasons),
                        silent: Object.assign({}, before.silent, data.silent),
                    });
                }
                tick();
            },
        },
    });
})();
