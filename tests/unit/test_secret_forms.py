"""Secrets are masked in every form a message may hold them (issue 14): with ``'``, ``"``, ``\\``, ``é``, spaces,
``%`` or ``+`` in a password, a repr, JSON, a URL or base64 no longer shows it, in errors, responses and logs."""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.core.secret import MASK, Secret, mask_in_logs, scrub
from services.core.settings import load_settings
from services.ingest.sources.mt5 import MT5Source
from services.ingest.streamer import Streamer
from tests.fakes.fake_mt5 import FakeMT5

PASSWORDS = ("it's-S3cret", 'say "S3cret"', "back\\slash-S3cret", "café-S3crét", "with space S3cret", "100%-S3cret",
             "a+b=S3cret", "all 'of\" \\them é% +S3cret\n")  # fmt: skip
ENCODINGS: dict[str, Callable[[str], str]] = {
    "literal": lambda p: p,
    "repr": repr,
    "repr in a dict": lambda p: repr({"password": p}),
    "repr of a repr": lambda p: repr(repr(p)),
    "ascii": ascii,
    "json": json.dumps,
    "json, not ascii": lambda p: json.dumps(p, ensure_ascii=False),
    "json of a dict": lambda p: json.dumps({"password": p}),
    "json of json": lambda p: json.dumps(json.dumps(p)),
    "utf-8 bytes repr": lambda p: repr(p.encode()),
    "percent": lambda p: quote(p, safe=""),
    "percent, / kept": quote,
    "percent, lower-case hex": lambda p: re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(p, safe="")),
    "quote_plus": quote_plus,
    "urlencode": lambda p: urlencode({"login": 1, "password": p}),
    "html": html.escape,
    "base64": lambda p: base64.b64encode(p.encode()).decode(),
    "base64 url-safe, no padding": lambda p: base64.urlsafe_b64encode(p.encode()).decode().rstrip("="),
}


def hidden(text: str, password: str) -> bool:
    """No form of the password is left (its distinctive 'S3cr' part neither)."""
    return "S3cr" not in text and all(encode(password) not in text for encode in ENCODINGS.values())


@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_every_form_of_a_password_is_scrubbed(password: str, encoding: str) -> None:
    text = f"initialize failed: {ENCODINGS[encoding](password)} (-6)"
    clean = scrub(text, Secret(password))
    assert hidden(clean, password) and MASK in clean, clean
    assert clean.startswith("initialize failed: ") and clean.endswith(" (-6)")


@given(st.text(min_size=4, max_size=16).map(lambda t: t + "S3cret"), st.sampled_from(sorted(ENCODINGS)))
def test_any_password_is_scrubbed_in_any_form(password: str, encoding: str) -> None:
    assert "S3cr" not in scrub(ENCODINGS[encoding](password), Secret(password))


def leaky(how: Callable[[dict[str, Any]], str]) -> Callable[..., bool]:
    """A bridge's initialize() that quotes its call in its exception, as rpyc's remote tracebacks do."""

    def initialize(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError(f"remote: mt5.initialize({how(kwargs)})")

    return initialize


@pytest.mark.parametrize("password", PASSWORDS)
def test_bridge_errors_responses_and_warning_logs_never_show_the_password(
    make_app: Any, caplog: pytest.LogCaptureFixture, password: str
) -> None:
    fake = FakeMT5(login=4242, password=password, server="Broker-Live")
    source = MT5Source(fake.module, login=4242, password=Secret(password), server="Broker-Live")
    app = make_app({"MT5_SOURCE": "mt5", "MT5_LOGIN": "4242", "MT5_PASSWORD": password}, source=source, start=False)
    streamer: Streamer = app.server.extensions["mt5_runtime"].streamer
    client = app.server.test_client()
    for how in (repr, json.dumps, lambda kw: urlencode(kw), lambda kw: f"password={kw['password']!r}"):
        fake.module.initialize = leaky(how)
        with caplog.at_level(logging.WARNING):
            streamer.step()
        error = streamer.status().mt5_error or ""
        assert "remote: mt5.initialize(" in error and hidden(error, password), error
        for path in ("/connection-status", "/mt5/status", "/health"):
            assert hidden(client.get(path).get_data(as_text=True), password), path
    assert caplog.records and all(hidden(record.getMessage(), password) for record in caplog.records)


def test_the_log_filter_masks_messages_arguments_and_tracebacks() -> None:
    password = PASSWORDS[-1]
    logger = logging.getLogger("test_secret_forms")
    logger.propagate = False
    stream = io.StringIO()
    logger.addHandler(logging.StreamHandler(stream))
    mask_in_logs([Secret(password), Secret("")], logger)
    mask_in_logs([Secret(password)], logger)  # a second call adds to the one filter
    try:
        logger.warning("bridge said %r", {"password": password})
        logger.warning("url: %s", "https://x/?" + urlencode({"password": password}))
        try:
            raise ValueError(json.dumps({"password": password}))
        except ValueError:
            logger.exception("failed")
    finally:
        logger.handlers.clear()
    text = stream.getvalue()
    assert hidden(text, password) and text.count(MASK) == 3 and "ValueError" in text
    assert len(logger.handlers) == 0


def test_settings_name_every_secret_for_the_log_filter() -> None:
    settings = load_settings(
        {
            "MT5_PASSWORD": "mt5-S3cret",
            "APP_AUTH": "basic",
            "APP_USERS": "ana:ana-S3cret,bob:bob-S3cret",
            "ALERT_WEBHOOK_URL": "https://hooks.example/T0KEN-S3cret",
            "DATABASE_URL": "postgresql://u:db-S3cret@db:5432/a",
            "REDIS_URL": "redis://:redis%2BS3cret@cache:6379/0",
        },
        dotenv_path=None,
    )
    revealed = {secret.reveal() for secret in settings.secrets()}
    assert revealed == {"mt5-S3cret", "ana-S3cret", "bob-S3cret", "https://hooks.example/T0KEN-S3cret",
                        "db-S3cret", "redis+S3cret"}  # fmt: skip
