"""One MT5 caller per account, however many workers or hosts serve the dashboard.

Each process's streamer competes for a Redis lock with an expiry; the holder polls MT5
and renews the lock, the others serve ``/ws`` from pub/sub and wait. When the leader
dies its lock expires and another takes over within ``ttl_s`` plus one check (a third of it);
a leader that stops cleanly releases the lock, so the next check takes over.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid

import redis
from redis.exceptions import ResponseError

from services.redis_conn import REDIS_ERRORS, RedisGate, refusal

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

    def __init__(self, client: redis.Redis, key: str, ttl_s: float = 6.0, gate: RedisGate | None = None) -> None:
        self.client = client
        self.gate = gate or RedisGate()
        self.key = key
        self.ttl_ms = int(ttl_s * 1000)
        self.identity = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held = False

    def acquire_or_renew(self) -> bool:
        """True while this process should poll MT5.

        With Redis unreachable nobody can coordinate: every process keeps (or takes) the
        MT5 link and buffers, since losing history is worse than a second poller for a
        while. Once Redis answers again the lock decides, and the others step down. A Redis that
        refuses writes cannot hand the lock over: its holder keeps it (renewing is allowed), and
        with no holder every process polls.
        """
        if not self.gate.ready():
            return True
        try:
            if self.held and self.client.eval(RENEW, 1, self.key, self.identity, self.ttl_ms):
                return True
            self.held = bool(self.client.set(self.key, self.identity, nx=True, px=self.ttl_ms))
        except REDIS_ERRORS:
            self.gate.failed()
            self.held = False
            return True
        except ResponseError as exc:  # a full or read-only Redis cannot take the lock, but still tells who holds it
            if refusal(exc) is None:
                raise
            self.held = False
            return self.holder() is None
        return self.held

    def holder(self) -> str | None:
        try:
            value = self.client.get(self.key)
        except REDIS_ERRORS:
            return None
        return value if isinstance(value, str) else None

    def release(self) -> None:
        if not self.held:
            return
        with contextlib.suppress(REDIS_ERRORS):
            self.client.eval(RELEASE, 1, self.key, self.identity)
        self.held = False
