"""The /ws wire format: one event shape, messages parsed once, the frames each side sends, the version."""

from __future__ import annotations

import json
import re

import pytest
from dash import html

from services.core import protocol
from services.core.protocol import BadFrame, Message, client_frame, event
from services.live.render import Render, merge


def test_every_event_has_one_shape_and_compact_json() -> None:
    sent = event(protocol.ACCOUNT, 7, 5, {"equity": 1.5})
    assert sent == {"type": "account", "account": 7, "ts": 5, "data": {"equity": 1.5}}
    assert protocol.dumps(sent) == '{"type":"account","account":7,"ts":5,"data":{"equity":1.5}}'
    with pytest.raises(ValueError):
        protocol.dumps(float("nan"))
    assert protocol.hello(7, 5)["data"] == {"protocol": protocol.PROTOCOL_VERSION}


def test_a_message_is_parsed_once_with_its_account_from_the_channel() -> None:
    text = protocol.dumps(event(protocol.POSITIONS, 7, 5, []))
    message = Message.of_text(text, 7)
    assert (message.kind, message.account, message.ts, message.data, message.text) == ("positions", 7, 5, [], text)
    assert Message.of_text("not json", 7) == Message("not json", account=7), "another program's message: kept as text"
    assert Message.of_text('{"type": 1}').kind is None
    assert (
        Message.of_event(event(protocol.STATUS, None, 9, {})).text
        == '{"type":"status","account":null,"ts":9,"data":{}}'
    )


def test_frames_wrap_events_and_renders_without_encoding_them_again() -> None:
    events = [protocol.dumps(event(protocol.HEARTBEAT, 7, 1, {}))]
    batch = json.loads(protocol.batch_frame(7, 2, 3, events))
    assert batch == {"type": "batch", "account": 7, "ts": 2, "data": {"seq": 3, "events": [json.loads(events[0])]}}
    shared = Render(set={"title": {"children": html.B("x")}}).text()
    frame = json.loads(protocol.render_frame(7, 2, 4, True, 11, '{"g":{}}', "{}", shared))
    data = frame["data"]
    assert frame["type"] == protocol.RENDER and (data["seq"], data["full"], data["rev"]) == (4, True, 11)
    assert data["protocol"] == protocol.PROTOCOL_VERSION, "a whole page says which protocol it speaks"
    assert data["shared"]["set"]["title"]["children"]["type"] == "B", "components travel as Dash renders them"
    assert "protocol" not in json.loads(protocol.render_frame(7, 2, 5, False, None, "{}", "{}", shared))["data"]


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (b"\x00", "binary frames are not accepted"),
        ("[" * 40 + "]" * 40, "frame is nested deeper than 32 levels"),
        ("{", "frame is not valid JSON"),
        ('{"kind": "ack"}', 'expected a JSON object with a "type"'),
        ('{"type": "launch"}', "unknown message type 'launch'; expected one of 'ping', 'snapshot', 'ack', 'view'"),
        ('{"type": "ack"}', 'an ack needs the integer "seq"'),
        ('{"type": "view", "view": 3}', 'a view frame needs its "view" object'),
        ('{"type": "ack", "seq": 1, "view": []}', '"view" must be an object'),
    ],
)
def test_a_bad_client_frame_says_what_is_wrong(frame: str | bytes, error: str) -> None:
    with pytest.raises(BadFrame, match="^" + re.escape(error)):
        client_frame(frame)


def test_a_page_acks_with_its_view() -> None:
    ack = client_frame('{"type": "ack", "seq": 4, "resync": true, "view": {"theme": "dark"}, "n": 9}')
    assert (ack["seq"], ack["resync"], ack["view"]) == (4, True, {"theme": "dark"})
    assert client_frame('{"type": "view", "view": {}}')["type"] == protocol.VIEW


def test_renders_waiting_together_merge_into_one() -> None:
    row = {"ticket": 1, "row_id": "1"}
    first = Render(set={"a": {"children": "1"}}, live={"grid": {"rowTransaction": {"add": [row], "update": [],
                   "remove": []}}}, points=[1])  # fmt: skip
    then = Render(set={"a": {"children": "2"}}, live={"grid": {"rowTransaction": {"add": [], "update": [],
                  "remove": [row]}}}, points=[2])  # fmt: skip
    merged = merge([first, then])
    assert merged.set == {"a": {"children": "2"}} and merged.points == [1, 2]
    assert merged.live["grid"]["rowTransaction"] == {"add": [], "update": [], "remove": []}, "added then removed"
    whole = Render(set={"b": {"children": "x"}}, full=True)
    assert merge([first, whole, then]).set == {"b": {"children": "x"}, "a": {"children": "2"}}, "a whole page first"
    assert merge([first, whole]).points == [1], "points stay: the charts are the page's"
    extend = [{"y": [[1], [2]]}, [0, 1], 10]
    more = Render(live={"g": {"extendData": [{"y": [[3], [4]]}, [0, 1], 10]}})
    assert merge([Render(live={"g": {"extendData": extend}}), more]).live["g"]["extendData"][0] == {
        "y": [[1, 3], [2, 4]]
    }


def test_a_whole_value_drops_the_additions_made_before_it() -> None:
    """Points appended to the old figure, merged beside a new one with other traces, broke the page ("indices
    must be valid indices for gd.data"): a figure holds them already, as rowData holds earlier row changes."""
    old = Render(set={"g": {"extendData": [{"y": [[1], [2]]}, [0, 1], 10]}, "t": {"rowTransaction": {"add": [1]}}})
    new = Render(set={"g": {"figure": {"data": [{"y": [5]}]}}, "t": {"rowData": [{"ticket": 2}]}})
    then = Render(set={"g": {"extendData": [{"y": [[6]]}, [0], 10]}})
    merged = merge([old, new, then]).set
    assert merged["g"] == {"figure": {"data": [{"y": [5]}]}, "extendData": [{"y": [[6]]}, [0], 10]}
    assert merged["t"] == {"rowData": [{"ticket": 2}]}
