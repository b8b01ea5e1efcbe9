// Opt-in browser notifications for risk alerts, through the Notification API. The alerts are raised on
// the server; this only shows the ones the page receives, and only after the user turned them on.
window.dash_clientside = Object.assign({}, window.dash_clientside, {
    mt5alerts: {
        toggle: function (clicks, enabled) {
            const supported = "Notification" in window;
            function label(on) {
                if (!supported) { return "Browser notifications: not supported"; }
                if (Notification.permission === "denied") { return "Browser notifications: blocked"; }
                return "Browser notifications: " + (on ? "on" : "off");
            }
            if (!clicks || !supported) {
                const on = Boolean(enabled) && supported && Notification.permission === "granted";
                return [on, label(on)];
            }
            if (enabled) { return [false, label(false)]; }
            return Notification.requestPermission().then(function (permission) {
                const on = permission === "granted";
                return [on, label(on)];
            });
        },
        notify: function (alerts, enabled) {
            const allowed = "Notification" in window && Notification.permission === "granted";
            if (!enabled || !allowed || !Array.isArray(alerts) || alerts.length === 0) {
                return window.dash_clientside.no_update;
            }
            alerts.forEach(function (alert) {
                const title = alert.name + (alert.state === "ok" ? ": back to normal" : ": " + alert.state);
                // the tag makes the browser replace, not stack, a repeat of the same alert
                return new Notification(title, { body: alert.message, tag: alert.id });
            });
            return "Last notification: " + alerts[alerts.length - 1].message;
        },
    },
});
