"""Request bodies are bounded on the whole server (issue 14): a body announced larger than MAX_REQUEST_BYTES is
a 413 before anything reads it, one sent in chunks is cut at the limit, and bodies within it work as before."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from services.core.settings import REQUEST_BYTES, SettingsError, load_settings
from services.ingest.sources.demo import DemoSource

HUGE = 100_000_000


class EndlessBody:
    """A request body that counts what is read of it: a server that reads it all would read 100 MB."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        data = b"x" * (1 << 16 if size is None or size < 0 else min(size, 1 << 16))
        self.read_bytes += len(data)
        return data


@pytest.fixture
def app(make_app: Any) -> Any:
    now = 1_780_000_000.0
    return make_app(source=DemoSource(seed=5, clock=lambda: now, start_utc_s=now - 3600), start=False)


def post_endless(app: Any, path: str, **environ: Any) -> tuple[Any, EndlessBody]:
    body = EndlessBody()
    response = app.server.test_client().post(
        path, content_type="application/json", environ_overrides={"wsgi.input": body, **environ}
    )
    return response, body


@pytest.mark.parametrize("path", ["/_dash-update-component", "/overview/_dash-update-component", "/mt5/disconnect"])
def test_a_huge_body_is_a_413_and_is_never_read(app: Any, path: str) -> None:
    response, body = post_endless(app, path, CONTENT_LENGTH=str(HUGE))
    assert response.status_code == 413
    assert "MAX_REQUEST_BYTES" in response.get_json()["error"]
    assert body.read_bytes == 0


def test_a_body_of_unknown_length_is_read_up_to_the_limit_only(app: Any) -> None:
    """Chunked: the server ends the stream (``wsgi.input_terminated``); Flask's stream stops at the limit, and
    Dash's update sees a cut document (400)."""
    assert app.server.config["MAX_CONTENT_LENGTH"] == REQUEST_BYTES
    response, body = post_endless(app, "/_dash-update-component", **{"wsgi.input_terminated": True})
    assert response.status_code in (400, 413)
    assert REQUEST_BYTES <= body.read_bytes <= REQUEST_BYTES + (1 << 16)


def test_bodies_within_the_limit_are_taken_and_the_rules_keep_their_own(app: Any) -> None:
    app.server.extensions["mt5_runtime"].streamer.step()
    client = app.server.test_client()
    assert client.get("/api", data=b"x" * (REQUEST_BYTES // 2)).status_code == 200
    response = client.put("/rules", data=b"x" * (100 << 10), content_type="application/json")
    assert response.status_code == 413 and "64 KiB" in response.get_json()["error"]


def http_status(live: Any, head: bytes, body: bytes) -> bytes:
    """Send a request's head and the start of its body, then read the status line: a server that waited for
    the whole body would never answer (the socket times out and the test fails)."""
    host, port = live.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + body)
        return sock.recv(4096).split(b"\r\n", 1)[0]


def test_a_100_mb_dash_update_is_answered_413_at_once(app: Any, serve: Any) -> None:
    live = serve(app.server)
    head = (
        b"POST /_dash-update-component HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % HUGE
    )
    assert http_status(live, head, b"{" + b" " * 65_535) == b"HTTP/1.1 413 REQUEST ENTITY TOO LARGE"


@pytest.mark.parametrize("value", ["abc", "1000", str(2 << 30), "-1"])
def test_max_request_bytes_is_checked(value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"MAX_REQUEST_BYTES": value}, dotenv_path=None)
    assert str(caught.value).startswith("MAX_REQUEST_BYTES: expected an integer from 65536 to 1073741824")
    assert load_settings({"MAX_REQUEST_BYTES": "2097152"}, dotenv_path=None).max_request_bytes == 2 << 20
