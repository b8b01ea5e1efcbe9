"""Build the one Redis client of the process: a real server, or embedded fakeredis.

Timeouts, keepalive, health checks and retries are explicit so that a dead or
frozen server is noticed in seconds instead of hanging the streamer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ReadOnlyError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from services.core.backoff import Backoff
from services.core.secret import redact_url
from services.core.settings import Settings

log = logging.getLogger(__name__)

REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


def refusal(exc: BaseException) -> str | None:
    """Why a server that answers will not write (full under noeviction, a replica, failing saves), else None.

    These last until someone acts on the server: a state to report once, not a fault at every poll.
    """
    text = str(exc).rpartition("of pipeline caused error: ")[2]  # the server's words, not the command
    if isinstance(exc, (OutOfMemoryError, ReadOnlyError)):
        return f"{type(exc).__name__}: {text}"
    if isinstance(exc, ResponseError) and text.startswith("MISCONF "):
        return text
    return None


def persistence(client: redis.Redis) -> str:
    """``aof``, ``rdb``, ``aof+rdb`` or ``off`` from CONFIG GET; ``unknown`` when CONFIG is disabled or denied."""
    try:
        save = client.config_get("save").get("save", "")
        appendonly = client.config_get("appendonly").get("appendonly", "no")
    except (*REDIS_ERRORS, ResponseError):
        return "unknown"
    kinds = [kind for kind, on in (("aof", appendonly == "yes"), ("rdb", bool(save.strip()))) if on]
    return "+".join(kinds) or "off"


class RedisGate:
    """After a failure Redis is tried again only after a backoff, by every component that shares the gate.

    A hung server costs each call its full timeout; without the gate the streamer, the alert
    engine and the leader lock would each pay it at every poll.
    """

    def __init__(self, backoff: Backoff | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._backoff = backoff or Backoff(base_s=0.5, cap_s=2.0)
        self._clock = clock
        self._failures = 0
        self._retry_at = 0.0

    @property
    def down(self) -> bool:
        return self._failures > 0

    def ready(self) -> bool:
        return self._failures == 0 or self._clock() >= self._retry_at

    def failed(self) -> None:
        self._failures += 1
        self._retry_at = self._clock() + self._backoff.compute(self._failures)

    def succeeded(self) -> None:
        self._failures = 0


@dataclass(frozen=True, slots=True)
class RedisLink:
    """The client plus what ``/health`` says about it."""

    client: redis.Redis
    mode: str  # "real" or "embedded"
    url: str  # redacted
    configured: bool
    probe: redis.Redis | None = None  # no retries, short timeout: /health must answer even when Redis hangs
    persistence: str = "unknown"  # as read at connect (see ``persistence``); the embedded one keeps nothing

    def ping_ms(self) -> float | None:
        """Round-trip latency, or None when the server does not answer within a second."""
        started = time.perf_counter()
        try:
            (self.probe or self.client).ping()
        except REDIS_ERRORS:
            return None
        return round((time.perf_counter() - started) * 1000, 3)


def real_client(url: str) -> redis.Redis:
    """One retry only: a frozen server must cost the streamer seconds, not tens of seconds."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=2.0,
        socket_timeout=2.0,
        socket_keepalive=True,
        health_check_interval=5,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=1),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        decode_responses=True,
        client_name="mt5-dashboard",
    )


def probe_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_connect_timeout=1.0, socket_timeout=1.0, retry=Retry(ExponentialWithJitterBackoff(), retries=0)
    )


def real_link(url: str, configured: bool) -> RedisLink:
    return RedisLink(real_client(url), "real", redact_url(url), configured, probe_client(url))


def embedded_client() -> redis.Redis:
    import fakeredis

    return fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)


def connect_redis(settings: Settings) -> RedisLink:
    """Choose the Redis the app uses: the configured one, else the embedded one, never a guess.

    A configured URL is always used, even when it does not answer yet (the app runs degraded
    and keeps reconnecting). Whatever answers on 127.0.0.1:6379 unasked may be another
    program's Redis, so with nothing configured the app keeps its data in its own process.
    """
    if not settings.redis_configured:
        forced = settings.redis_embedded_forced
        reason = "REDIS_URL=embedded" if forced else "no REDIS_URL or REDIS_HOST/REDIS_PORT set"
        log.warning("Redis: using the embedded in-process Redis (%s); data lives only in this process's memory", reason)
        return RedisLink(embedded_client(), "embedded", "embedded", configured=forced, persistence="off")
    link = real_link(settings.redis_url, configured=True)
    if link.ping_ms() is None:
        log.error("Redis at %s does not answer; running degraded and reconnecting", link.url)
        return link
    kept = persistence(link.client)
    log.info("Redis: connected to %s (persistence: %s)", link.url, kept)
    if kept == "off":
        log.warning(
            'Redis at %s has persistence off (save "", appendonly no): a restart of that server loses the stored '
            "history, deals, alerts and rules; set appendonly yes",
            link.url,
        )
    return replace(link, persistence=kept)
