"""The leader lock on a real redis-server (its scripts need Lua): renewal through a Redis that does not answer,
fencing of a holder that could not renew for a TTL, and a release that deletes only its own lock."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from services.ingest.leader import CHECKS_PER_TTL, TTL_S, LeaderLock
from services.ingest.sources.demo import DemoSource
from services.ingest.streamer import Streamer
from services.storage.store import Store
from tests.conftest import RedisServer

pytestmark = pytest.mark.integration
KEY = "mt5:7:leader"


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CutOff:
    """A process's Redis client that can be cut off from the server: while ``down`` every call times out."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.down = False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if self.down and callable(attr):

            def timed_out(*args: Any, **kwargs: Any) -> Any:
                raise redis.TimeoutError("Timeout reading from socket")

            return timed_out
        return attr


def test_the_holder_keeps_its_lock_through_a_call_redis_did_not_answer(redis_server: RedisServer) -> None:
    client = redis_server.client()
    link = CutOff(client)
    holder, other = LeaderLock(link, KEY), LeaderLock(client, KEY)  # type: ignore[arg-type]
    assert holder.acquire_or_renew() and not other.acquire_or_renew()
    link.down = True
    assert holder.acquire_or_renew(), "it polls on while Redis cannot say who leads"
    link.down = False
    assert holder.acquire_or_renew(), "it renews its own lock instead of trying to take it and finding it taken"
    assert client.get(KEY) == holder.identity and not other.acquire_or_renew()


def test_a_holder_that_could_not_renew_for_a_ttl_stops_writing_and_then_steps_down(redis_server: RedisServer) -> None:
    client, clock = redis_server.client(), Clock()
    link = CutOff(client)
    holder, other = LeaderLock(link, KEY, clock=clock), LeaderLock(client, KEY)  # type: ignore[arg-type]
    assert holder.acquire_or_renew() and holder.may_write()
    link.down = True
    clock.now += TTL_S / CHECKS_PER_TTL
    assert holder.acquire_or_renew() and holder.may_write(), "one missed renewal: the lock cannot have expired"
    clock.now += TTL_S
    assert holder.acquire_or_renew(), "it still polls (and buffers)"
    assert not holder.may_write(), "past a TTL without a renewal the lock may be another's"
    client.delete(KEY)  # it expired
    assert other.acquire_or_renew() and other.may_write()
    link.down = False
    assert not holder.acquire_or_renew() and not holder.may_write(), "Redis answers: the lock is another's"
    assert client.get(KEY) == other.identity


def test_a_release_deletes_the_lock_only_while_it_is_the_holders(redis_server: RedisServer) -> None:
    client = redis_server.client()
    late, current = LeaderLock(client, KEY), LeaderLock(client, KEY)
    assert late.acquire_or_renew()
    client.delete(KEY)  # expired while its holder was frozen
    assert current.acquire_or_renew()
    late.release()
    assert client.get(KEY) == current.identity
    current.release()
    assert client.get(KEY) is None


@pytest.mark.parametrize(("poll_s", "check_s"), [(0.1, 0.05), (0.25, 0.125), (1.5, TTL_S / CHECKS_PER_TTL)])
def test_the_lock_is_checked_at_least_twice_a_poll_and_a_few_times_a_ttl(poll_s: float, check_s: float) -> None:
    assert LeaderLock(redis.Redis(), KEY).check_interval_s(poll_s) == check_s


def test_a_fenced_poller_writes_nothing_and_drops_its_buffers_when_it_steps_down(redis_server: RedisServer) -> None:
    """Its lock's Redis calls time out while its data writes would still go through: a slow or half-cut link."""
    client, clock, market = redis_server.client(), Clock(), Clock(1_780_000_000.0)  # the demo's time: its account
    link = CutOff(client)
    fenced = LeaderLock(link, KEY, clock=clock)  # type: ignore[arg-type]
    old = Streamer(DemoSource(seed=5, clock=market), Store(client, "mt5", 100_000), leader=fenced)
    new = Streamer(DemoSource(seed=6, clock=market), Store(client, "mt5", 100_000), leader=LeaderLock(client, KEY))
    old.step()
    new.step()
    assert (old.status().role, new.status().role) == ("leader", "follower")
    login = old.status().login
    link.down = True
    clock.now += TTL_S
    client.delete(KEY)  # it expired
    new.step()
    assert new.status().role == "leader"
    written = client.xrevrange(f"mt5:{login}:history", count=1)
    for _ in range(3):
        market.now += 1
        old.step()
    assert old.writer_health()["pending_history"] > 0, "it polls on and buffers"
    assert client.xrevrange(f"mt5:{login}:history", count=1) == written, "but writes nothing"
    link.down = False
    old.step()
    assert old.status().role == "follower"
    assert old.writer_health()["pending_history"] == 0, "the new leader writes the account from its own polls"
    assert client.xrevrange(f"mt5:{login}:history", count=1) == written


def test_a_follower_sees_every_poll_of_the_leader_on_a_quiet_account(redis_server: RedisServer) -> None:
    """The snapshot is saved when the account changes; a follower's /health must not find a quiet leader late."""
    client, market = redis_server.client(), Clock(1_780_000_000.0)  # the market stands still: nothing changes
    leader = Streamer(DemoSource(seed=5, clock=market), Store(client, "mt5", 100_000), leader=LeaderLock(client, KEY))
    follower = Streamer(DemoSource(seed=6, clock=market), Store(client, "mt5", 100_000), leader=LeaderLock(client, KEY))
    leader.step()
    follower.step()
    for _ in range(3):
        polled = leader.status().last_poll_ms
        while leader.status().last_poll_ms == polled:  # a poll at a later millisecond
            leader.step()
        follower.step()
        assert follower.status().role == "follower"
        assert follower.status().last_poll_ms == leader.status().last_poll_ms
