// Reconnect timing for the dash-extensions WebSocket: changing its url makes it reconnect.
// Backoff 1 s doubling up to 30 s, with +/-20 % jitter; reset once a connection opens.
// batch_ms=100 asks the server to coalesce events into numbered batches, at most 10 a second.
window.dash_clientside = Object.assign({}, window.dash_clientside, {
    mt5: {
        reconnect: function (state, url) {
            const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
            const base = scheme + window.location.host + "/ws?batch_ms=100";
            if (!url) {
                return base;
            }
            const ready = state ? state.readyState : undefined;
            if (ready === 1) {
                window.mt5Attempts = 0;
            }
            if (ready !== 3) {
                return window.dash_clientside.no_update;
            }
            const attempt = (window.mt5Attempts || 0) + 1;
            window.mt5Attempts = attempt;
            const delay = Math.min(30000, 1000 * Math.pow(2, attempt - 1)) * (0.8 + 0.4 * Math.random());
            return new Promise(function (resolve) {
                setTimeout(function () { resolve(base + "&attempt=" + attempt); }, delay);
            });
        },
    },
});
