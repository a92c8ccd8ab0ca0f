"""bKash lets a merchant renew its token only about twice an hour: payment replicas share one token
through Redis (REDIS_URL), granted once, refreshed once when due, re-granted once after bKash
refuses it, whichever replica asks. Without Redis (or when it fails) each process keeps its own.

Needs Redis on 127.0.0.1:6379; skipped when it is not there.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from bson import ObjectId
from redis.asyncio import Redis
from redis.exceptions import RedisError

from devstack.stack import Stack
from services.payment.providers.base import PaymentRequest
from services.payment.providers.bkash import BkashProvider
from tests.payment.bkash.conftest import CALLBACK_PATH, PUBLIC_BASE_URL, FakeBkash, calls

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own in the local Redis (skips the test when Redis is not there)."""
    client = Redis.from_url(REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    try:
        await client.ping()
    except (RedisError, OSError):
        await client.aclose()
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    prefix = f"test-bkash-token-{uuid.uuid4().hex}"
    yield prefix
    async for key in client.scan_iter(match=f"{prefix}:*"):
        await client.delete(key)
    await client.aclose()


@pytest.fixture
async def replicas(bkash_fake: FakeBkash, stack: Stack) -> AsyncIterator[Callable[..., BkashProvider]]:
    made: list[BkashProvider] = []

    def replica(**overrides: Any) -> BkashProvider:
        made.append(BkashProvider(bkash_fake.settings(stack.settings.data_dir, **overrides)))
        return made[-1]

    yield replica
    for provider in made:
        await provider.aclose()


def requests(count: int) -> list[PaymentRequest]:
    return [
        PaymentRequest(str(ObjectId()), str(ObjectId()), 1000, "BDT", "k", PUBLIC_BASE_URL + CALLBACK_PATH)
        for _ in range(count)
    ]


async def on_every_replica(providers: list[BkashProvider], count: int = 4) -> None:
    """`count` payments created on each replica at once."""
    await asyncio.gather(
        *(provider.create_payment(request) for provider in providers for request in requests(count))
    )


def renewals(before: dict[str, int], after: dict[str, int]) -> tuple[int, int]:
    return after.get("grant", 0) - before.get("grant", 0), after.get("refresh", 0) - before.get("refresh", 0)


async def test_two_payment_replicas_share_one_bkash_token(
    replicas: Callable[..., BkashProvider], redis_prefix: str, fake: httpx.AsyncClient
) -> None:
    shared = {"redis_url": REDIS_URL, "bkash_redis_prefix": redis_prefix}
    first, second = replicas(**shared), replicas(**shared)
    before = await calls(fake)
    await on_every_replica([first, second])  # both cold at once: one grant between them
    granted = await calls(fake)
    assert renewals(before, granted) == (1, 0)

    await fake.post("/__control/revoke-tokens")  # both replicas meet HTTP 401: one new grant
    await on_every_replica([first, second])
    regranted = await calls(fake)
    assert renewals(granted, regranted) == (1, 0)

    third = replicas(**shared)  # a replica started now finds the token in Redis: no renewal at all
    await on_every_replica([third])
    assert renewals(regranted, await calls(fake)) == (0, 0)

    await fake.post("/__control/token-ttl", json={"seconds": 2})
    try:
        await fake.post("/__control/revoke-tokens")
        short = await calls(fake)
        await on_every_replica([first, second, third])  # one grant, of a 2-second token
        shortly = await calls(fake)
        assert renewals(short, shortly) == (1, 0)
        await asyncio.sleep(1.2)  # past the renewal point of a 2-second token
        await on_every_replica([first, second, third])  # due on all three: one refresh between them
        assert renewals(shortly, await calls(fake)) == (0, 1)
    finally:
        await fake.post("/__control/token-ttl", json={"seconds": 3600})


async def test_without_redis_each_process_keeps_its_own_token(
    replicas: Callable[..., BkashProvider], fake: httpx.AsyncClient
) -> None:
    # Redis configured but not answering (nothing listens on port 1): each replica goes on alone.
    unreachable = {"redis_url": "redis://127.0.0.1:1/0", "bkash_redis_prefix": "unused"}
    first, second = replicas(**unreachable), replicas(**unreachable)
    before = await calls(fake)
    await on_every_replica([first, second])
    assert renewals(before, await calls(fake)) == (2, 0)  # one per process, not one per call
