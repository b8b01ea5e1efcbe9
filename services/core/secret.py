"""A value that must never reach a log line, a response, an export or an error message."""

from __future__ import annotations

import base64
import functools
import html
import json
import logging
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

MASK = "********"


class Secret:
    """Holds a password; ``str()``/``repr()``/f-strings show a mask, only ``reveal()`` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return f"Secret({MASK!r})" if self._value else "Secret('')"

    def __str__(self) -> str:
        return MASK if self._value else ""

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Secret values are not picklable")


def redact_url(url: str) -> str:
    """Mask the password inside a URL such as ``redis://user:pw@host:6379/0``, and a ``password=`` query
    parameter (libpq takes one: ``postgresql://host/db?password=pw``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"//[^@/]*@", f"//{MASK}@", url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    netloc = f"{userinfo.partition(':')[0]}:{MASK}@{hostport}" if at and ":" in userinfo else parts.netloc
    query = re.sub(r"(?i)(^|&)(password=)[^&]*", rf"\g<1>\g<2>{MASK}", parts.query)
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # as written: urlunsplit would drop the empty authority of unix:///path
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _escaped(value: str) -> set[str]:
    """A text as it appears inside a quoted string: Python's repr and ascii, JSON with and without ASCII escapes,
    the repr of its UTF-8 bytes, and backslash escaping of each quote (a repr in the other quotes)."""
    slashed = value.replace("\\", "\\\\")
    return {
        repr(value)[1:-1],
        ascii(value)[1:-1],
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        repr(value.encode())[2:-1],
        slashed.replace("'", "\\'"),
        slashed.replace('"', '\\"'),
    }


def _encoded(value: str) -> set[str]:
    """A text as URLs, HTML and Basic credentials carry it: percent-encoded (upper and lower-case hex, spaces as
    %20 or +), HTML-escaped, base64."""
    raw = value.encode()
    percent = {quote(value, safe=""), quote(value), quote_plus(value), quote_plus(value, safe="/")}
    lower = {re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), form) for form in percent}
    b64 = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    return percent | lower | {html.escape(value)} | b64 | {form.rstrip("=") for form in b64}


@functools.lru_cache(maxsize=64)
def forms(value: str) -> tuple[str, ...]:
    """Every form of a secret value a message may hold: as written, escaped (also twice: a repr of a repr) and
    encoded; longest first, so a form that contains another is masked whole."""
    once = {value} | _escaped(value) | _encoded(value)
    twice = {form for each in once for form in _escaped(each)}
    return tuple(sorted((once | twice) - {""}, key=len, reverse=True))


def scrub(text: str, *secrets: Secret | None) -> str:
    """Remove every revealed secret value from a free-form text (an exception message, say), in every form."""
    for secret in secrets:
        if secret:
            for form in forms(secret.reveal()):
                text = text.replace(form, MASK)
    return text


class SecretFilter(logging.Filter):
    """Masks the secrets in every record a handler writes: the message with its arguments applied, and the
    traceback. Secrets reach logs through third-party messages (a bridge's exception quoting its call)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: list[Secret] = []

    def add(self, secrets: Iterable[Secret]) -> None:
        self.secrets.extend(secret for secret in secrets if secret and secret not in self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        clean = scrub(message, *self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, *self.secrets)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info, *self.secrets)
        return True


def mask_in_logs(secrets: Iterable[Secret], logger: logging.Logger | None = None) -> None:
    """Every handler of ``logger`` (the root logger) masks these secrets, through one SecretFilter each."""
    for handler in (logger or logging.getLogger()).handlers:
        found = next((f for f in handler.filters if isinstance(f, SecretFilter)), None)
        if found is None:
            found = SecretFilter()
            handler.addFilter(found)
        found.add(secrets)
