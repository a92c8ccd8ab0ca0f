"""Requests far from their limit are let through before Redis counts them, and counted right after;
near the limit, for the strict classes, small limits and stale knowledge, every request waits."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.ratelimit.ahead import STALE_SECONDS, CountingAhead, ahead_max, margin
from gateway.ratelimit.limiter import RateLimits
from gateway.ratelimit.policy import Decision, Outcome, RouteClass, Rule, parse_rate_limit, rules_for

REDIS_URL = "redis://127.0.0.1:6379/0"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeWindows:
    """Stands in for RedisSlidingWindows: records what is counted, answers with `remaining`."""

    def __init__(self, remaining: int = 1000, fail: bool = False) -> None:
        self.remaining = remaining
        self.fail = fail
        self.counted: list[list[tuple[Rule, int]]] = []

    async def add_all(self, counts: Sequence[tuple[Rule, int]]) -> list[Outcome]:
        if self.fail:
            raise RedisError("connection reset")
        self.counted.append(list(counts))
        return [Outcome(rule, self.remaining, time.time() + 60) for rule, _ in counts]


def rule(limit: str = "1000/minute", route_class: RouteClass = RouteClass.DEFAULT) -> Rule:
    return Rule(route_class, parse_rate_limit(limit), "ip:192.0.2.1")


def ahead_of(windows: FakeWindows, clock: Clock | None = None) -> tuple[CountingAhead, list[BaseException]]:
    failures: list[BaseException] = []
    counting = CountingAhead(windows, 1.0, failures.append, clock=clock or Clock())  # type: ignore[arg-type]
    return counting, failures


def told(counting: CountingAhead, bucket: Rule, remaining: int) -> None:
    """Redis's verdict on a request that waited for it."""
    counting.learn(Decision([bucket], [Outcome(bucket, remaining, time.time() + 60)]))


async def test_a_bucket_never_heard_of_waits_for_redis() -> None:
    counting, _ = ahead_of(FakeWindows())
    assert counting.admit([rule()]) is None


async def test_far_from_the_limit_requests_pass_at_once_and_are_counted_right_after() -> None:
    windows = FakeWindows(remaining=900)
    counting, _ = ahead_of(windows)
    bucket = rule()
    told(counting, bucket, 990)
    decisions = [counting.admit([bucket]) for _ in range(5)]
    assert all(decision is not None and decision.allowed for decision in decisions)
    assert [d.outcomes[0].remaining for d in decisions if d] == [989, 988, 987, 986, 985]
    assert windows.counted == []  # not yet: within FLUSH_SECONDS, all in one call
    await counting.close()
    assert windows.counted == [[(bucket, 5)]]
    # Redis's answer is what is known now, with nothing left to count.
    assert (decision := counting.admit([bucket])) is not None
    assert decision.outcomes[0].remaining == 899


async def test_near_the_limit_every_request_waits() -> None:
    counting, _ = ahead_of(FakeWindows())
    bucket = rule("1000/minute")
    told(counting, bucket, margin(bucket) + 1)
    assert counting.admit([bucket]) is not None  # leaves the margin
    assert counting.admit([bucket]) is None  # would leave less
    await counting.close()


async def test_at_most_a_twentieth_of_the_limit_runs_ahead() -> None:
    counting, _ = ahead_of(FakeWindows())
    bucket = rule("1000/minute")
    told(counting, bucket, 1000)
    admitted = [counting.admit([bucket]) is not None for _ in range(ahead_max(bucket) + 3)]
    assert admitted == [True] * ahead_max(bucket) + [False] * 3
    await counting.close()


async def test_stale_knowledge_is_not_used() -> None:
    clock = Clock()
    counting, _ = ahead_of(FakeWindows(), clock)
    bucket = rule()
    told(counting, bucket, 990)
    clock.now += STALE_SECONDS + 0.001
    assert counting.admit([bucket]) is None


@pytest.mark.parametrize(
    "bucket",
    [
        rule("10/minute", RouteClass.AUTH),  # login, register, refresh
        rule("1000/minute", RouteClass.AUTH),
        rule("10/minute", RouteClass.CHECKOUT),
        rule("120/minute", RouteClass.WEBHOOKS),
        rule("10/minute"),  # a small default: the margin is the whole limit
    ],
)
async def test_strict_classes_and_small_limits_always_wait(bucket: Rule) -> None:
    counting, _ = ahead_of(FakeWindows())
    told(counting, bucket, bucket.item.amount)
    assert counting.admit([bucket]) is None


async def test_a_request_counted_in_two_buckets_waits() -> None:
    counting, _ = ahead_of(FakeWindows())
    checkout, default = rule("1000/minute", RouteClass.CHECKOUT), rule()
    told(counting, default, 990)
    assert counting.admit([checkout, default]) is None


async def test_a_failed_count_is_reported_and_what_was_known_forgotten() -> None:
    windows = FakeWindows(fail=True)
    counting, failures = ahead_of(windows)
    bucket = rule()
    told(counting, bucket, 990)
    assert counting.admit([bucket]) is not None
    await counting.close()
    assert [type(failure) for failure in failures] == [RedisError]
    assert counting.admit([bucket]) is None


# --- with Redis -----------------------------------------------------------------------------------


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        await client.ping()
    except (RedisError, OSError):
        await client.aclose()
        pytest.skip(f"no Redis at {REDIS_URL}")
    prefix = f"test-ahead-{uuid.uuid4().hex[:12]}"
    yield prefix
    async for key in client.scan_iter(match=f"{prefix}*"):
        await client.delete(key)
    await client.aclose()


def limits(default: str) -> dict[RouteClass, Any]:
    return {
        cls: parse_rate_limit(default if cls is RouteClass.DEFAULT else "10/minute") for cls in RouteClass
    }


async def test_every_request_let_through_ahead_is_counted_in_redis(redis_prefix: str) -> None:
    per_class = limits("1000/hour")
    replica, observer = (
        RateLimits(per_class, redis_url=REDIS_URL, key_prefix=redis_prefix) for _ in range(2)
    )
    rules = rules_for(RouteClass.DEFAULT, per_class, "192.0.2.70", None)
    async with replica.running():
        first = await replica.decide(rules)  # waits for Redis: nothing known yet
        ahead = await asyncio.gather(*(replica.decide(rules) for _ in range(39)))  # then decided here
    assert first.allowed
    assert all(decision.allowed for decision in ahead)
    assert {decision.outcomes[0].remaining for decision in ahead} == set(range(998 - 38, 999))
    # Leaving `running()` counts what was still to count; another process sees all 40.
    async with observer.running():
        seen = await observer.decide(rules)
    assert seen.outcomes[0].remaining == 1000 - 41


async def test_replicas_sharing_a_bucket_pass_its_limit_by_at_most_a_twentieth_each(
    redis_prefix: str,
) -> None:
    """The worst case: one client's requests alternate between two processes as fast as they can,
    so each decides on what Redis told it before the other's latest requests."""
    per_class = limits("100/hour")  # margin 20, 5 ahead
    replicas = [RateLimits(per_class, redis_url=REDIS_URL, key_prefix=redis_prefix) for _ in range(2)]
    rules = rules_for(RouteClass.DEFAULT, per_class, "192.0.2.71", None)
    async with replicas[0].running(), replicas[1].running():
        allowed = 0
        for n in range(200):
            allowed += (await replicas[n % 2].decide(rules)).allowed
        refused_after = [(await replica.decide(rules)).allowed for replica in replicas]
    assert 100 <= allowed <= 100 + 2 * ahead_max(rules[0])
    assert refused_after == [False, False]  # near the limit, and past it, every request waits


async def test_without_counting_ahead_every_request_waits_and_replicas_are_exact(redis_prefix: str) -> None:
    per_class = limits("100/hour")
    replicas = [
        RateLimits(per_class, redis_url=REDIS_URL, key_prefix=redis_prefix, count_ahead=False)
        for _ in range(2)
    ]
    rules = rules_for(RouteClass.DEFAULT, per_class, "192.0.2.72", None)
    async with replicas[0].running(), replicas[1].running():
        allowed = 0
        for n in range(200):
            allowed += (await replicas[n % 2].decide(rules)).allowed
    assert allowed == 100
