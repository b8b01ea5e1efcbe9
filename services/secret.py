"""A value that must never reach a log line, a response, an export or an error message."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

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


def scrub(text: str, *secrets: Secret | None) -> str:
    """Remove every revealed secret value from a free-form text (an exception message, say)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret.reveal(), MASK)
    return text
