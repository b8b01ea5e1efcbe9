// The live link (callbacks/client.py live_link): each frame from /ws?view=… holds the page's changes, rendered
// on the server as props by component id. This sets them, acknowledges the frame, and tells the server which
// view the page shows. It knows frames, not trading: what to set comes whole from Python (services/core/protocol.py).
(function () {
    const RESYNC_AFTER_FRAMES = 20;
    let lastSeq = null;
    let askedAt = null;  // seq at which the whole page was asked for after a gap, until it comes
    let outgoing = null;
    let sent = 0;

    function apply(updates) {
        Object.keys(updates || {}).forEach(function (id) {
            window.dash_clientside.set_props(id, updates[id]);
        });
    }

    // One message per browser task, merged: the socket component sends only the latest value of its send prop.
    // "n" makes each new: it sends nothing when the value is the same as the last one.
    function send(socket, message) {
        const first = outgoing === null;
        outgoing = Object.assign(outgoing || {}, message);
        if (!first) { return; }
        setTimeout(function () {
            sent += 1;
            const frame = Object.assign(outgoing, {n: sent});
            outgoing = null;
            window.dash_clientside.set_props(socket, {send: JSON.stringify(frame)});
        }, 0);
    }

    // While the page replays a past moment, what a replay freezes stays as the replay set it.
    function replaying() {
        const banner = document.getElementById("replay-banner");
        return !!banner && !banner.hidden;
    }

    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        mt5live: {
            frame: function (message, protocol, charts) {
                let frame = null;
                try { frame = JSON.parse(message.data); } catch (notJson) { return; }
                if (!frame || frame.type !== "render") { return; }
                const data = frame.data;
                if (data.full && data.protocol !== protocol) { window.location.reload(); return; }
                const gap = !data.full && lastSeq !== null && data.seq !== lastSeq + 1;
                lastSeq = data.seq;
                if (data.full) { askedAt = null; }
                const ack = {type: "ack", seq: data.seq};
                if (gap && (askedAt === null || data.seq - askedAt >= RESYNC_AFTER_FRAMES)) {
                    ack.resync = true;
                    askedAt = data.seq;
                }
                const socket = window.dash_clientside.callback_context.inputs_list[0].id;
                send(socket, ack);
                const own = data.rev === null || (!!charts && charts.rev === data.rev);
                if (own) { apply(data.first); }
                // The main chart's redraw first; the rest one task later, not before it.
                setTimeout(function () {
                    if (own) { apply(data.own); }
                    apply(data.shared.set);
                    if (!replaying()) { apply(data.shared.live); }
                }, 0);
            },
            view: function (state) {
                if (!state || state.readyState !== 1) { return; }
                const inputs = window.dash_clientside.callback_context.inputs_list;
                const view = {};
                inputs.slice(1).forEach(function (input) { view[input.id] = input.value; });
                const message = {type: "view", view: view};
                if (lastSeq !== null) { message.seq = lastSeq; }
                send(inputs[0].id, message);
            },
        },
    });
})();
