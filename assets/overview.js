// The overview page's live link: every account's figures and states (view=overview), in batches of up to
// 250 ms, the next after our ack; the account pages' reconnect backoff (1 s doubling to 30 s, +/-20 % jitter).
(function () {
    let attempts = 0;
    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        overview: {
            socket: function (state, url) {
                const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
                const base = scheme + window.location.host + "/ws?batch_ms=250&ack=1&view=overview";
                const ready = state ? state.readyState : undefined;
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
        },
    });
})();
