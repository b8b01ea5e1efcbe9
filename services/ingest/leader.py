"""One MT5 caller per account, however many workers or hosts serve the dashboard.

Each process's streamer competes for a Redis lock with an expiry; the holder polls MT5
and renews the lock, the others serve ``/ws`` from pub/sub and look for a free lock as often
as the holder renews (``check_interval_s``). When the leader dies its lock expires ``TTL_S``
after its last renewal and another process polls at its next check; a leader that stops
cleanly releases the lock, so the next check takes over.

Fencing: a holder writes the account's data only while its hold was confirmed less than a TTL
ago (``may_write``). A holder that Redis does not answer (frozen, slow, cut off) keeps polling
and buffering, but stops writing once the lock may have expired and gone to another process;
when Redis answers again it renews the lock if it is still its own, else it steps down.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable

import redis
from redis.exceptions import ResponseError

from services.storage.redis_conn import REDIS_ERRORS, RedisGate, refusal

log = logging.getLogger(__name__)

TTL_S = 2.0  # how long the lock of a leader that died keeps the others from polling
CHECKS_PER_TTL = 4  # renewals per TTL: a renewal that fails or comes late has three more chances

RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class LeaderLock:
    """``SET key me NX PX ttl``; renewed and released only by its holder (checked atomically in Lua)."""

    def __init__(
        self,
        client: redis.Redis,
        key: str,
        ttl_s: float = TTL_S,
        gate: RedisGate | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.gate = gate or RedisGate()
        self.key = key
        self.ttl_s = ttl_s
        self.ttl_ms = int(ttl_s * 1000)
        self.identity = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held = False  # as last known: kept through a call Redis did not answer, so the next one renews
        self.error: Exception | None = None  # the last call's fault: unreachable, or refusing with nobody holding it
        self._clock = clock
        self._confirmed_until = 0.0  # the clock time up to which no other process can hold the lock

    def check_interval_s(self, poll_interval_s: float) -> float:
        """How often the holder renews and the others look for a free lock: ``CHECKS_PER_TTL`` times a TTL, and
        at least twice a poll, so a dead leader's polling resumes within two poll intervals plus the TTL."""
        return min(self.ttl_s / CHECKS_PER_TTL, poll_interval_s / 2)

    def acquire_or_renew(self) -> bool:
        """True while this process should poll MT5.

        With Redis unreachable nobody can coordinate: every process keeps (or takes) the MT5 link and
        buffers, since losing history is worse than a second poller for a while; only a confirmed holder
        writes what was buffered (``may_write``). The holder tries at every check, past the shared backoff:
        its lock must not expire for want of a renewal. A Redis that refuses writes cannot hand the lock
        over: its holder keeps it (renewing is allowed), and with no holder every process polls.
        """
        if not self.held and not self.gate.ready():
            return True
        sent = self._clock()  # Redis counts the expiry from when the command arrives: later than this
        try:
            renewed = self.held and bool(self.client.eval(RENEW, 1, self.key, self.identity, self.ttl_ms))
            self.held = renewed or bool(self.client.set(self.key, self.identity, nx=True, px=self.ttl_ms))
        except REDIS_ERRORS as exc:
            self.gate.failed()
            self.error = exc
            return True
        except ResponseError as exc:  # a full or read-only Redis cannot take the lock, but still tells who holds it
            if refusal(exc) is None:
                raise
            holder = self.holder()
            self.held = holder == self.identity
            self._answered(sent, None if self.held else exc)
            return self.held or holder is None
        self._answered(sent, None)
        return self.held

    def _answered(self, sent: float, error: ResponseError | None) -> None:
        """Redis answered: reachable for everyone sharing the gate; a hold is confirmed for a TTL from ``sent``."""
        self.gate.succeeded()
        self.error = error
        self._confirmed_until = sent + self.ttl_s if self.held else 0.0

    def may_write(self) -> bool:
        """Whether this process may write the account's data as its poller: it holds the lock, as confirmed
        less than a TTL ago. Past that another process may have taken the lock over and be writing."""
        return self.held and self._clock() < self._confirmed_until

    def holder(self) -> str | None:
        try:
            value = self.client.get(self.key)
        except REDIS_ERRORS:
            return None
        return value if isinstance(value, str) else None

    def release(self) -> None:
        """Delete the lock if it is still this process's, so another process takes over at its next check."""
        if not self.held:
            return
        self.held = False
        self._confirmed_until = 0.0
        with contextlib.suppress(REDIS_ERRORS):
            if self.client.eval(RELEASE, 1, self.key, self.identity):
                log.info("leader lock released by %s", self.identity)
