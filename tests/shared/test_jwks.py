"""The JWKS key set under concurrency and failure: one fetch at a time, every waiter served by it,
and a fetch that fails is a 503 (retry), never a 401 (log out) for a token that may be valid."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from shared.tokens import JwksKeySet, KeysUnavailable

URL = "http://auth.internal/api/v1/auth/.well-known/jwks.json"


def jwks(*kids: str) -> dict[str, object]:
    keys = []
    for kid in kids:
        jwk = json.loads(OKPAlgorithm.to_jwk(Ed25519PrivateKey.generate().public_key()))
        keys.append({**jwk, "kid": kid, "use": "sig", "alg": "EdDSA"})
    return {"keys": keys}


class AuthEndpoint:
    """The auth service's JWKS endpoint as the key set sees it: counts fetches, can be held back or fail."""

    def __init__(self, *kids: str) -> None:
        self.body = jwks(*kids)
        self.fetches = 0
        self.release = asyncio.Event()
        self.release.set()
        self.failing = False

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        await self.release.wait()
        if self.failing:
            return httpx.Response(503)
        return httpx.Response(200, json=self.body)


@pytest.fixture
async def endpoint() -> AuthEndpoint:
    return AuthEndpoint("k1")


@pytest.fixture
async def key_set(endpoint: AuthEndpoint) -> AsyncIterator[Callable[..., JwksKeySet]]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(endpoint.handle)) as client:
        yield lambda **options: JwksKeySet(client, URL, **{"cache_seconds": 300, **options})


async def test_a_burst_before_the_first_fetch_waits_for_one_fetch(
    endpoint: AuthEndpoint, key_set: Callable[..., JwksKeySet]
) -> None:
    keys = key_set()
    endpoint.release.clear()
    waiting = [asyncio.create_task(keys.key_for("k1")) for _ in range(120)]
    await asyncio.sleep(0)  # let every task reach the fetch in flight
    assert not any(task.done() for task in waiting)
    endpoint.release.set()
    found = await asyncio.gather(*waiting)
    assert all(key is not None for key in found)
    assert endpoint.fetches == 1


async def test_an_unknown_kid_after_a_fresh_fetch_is_not_a_key(
    endpoint: AuthEndpoint, key_set: Callable[..., JwksKeySet]
) -> None:
    keys = key_set(min_refetch_seconds=0)
    assert await keys.key_for("k1") is not None
    assert await keys.key_for("forged") is None
    assert endpoint.fetches == 2  # an unknown kid is looked for (a key may have been rotated in)


async def test_unknown_kids_cannot_make_every_request_fetch(
    endpoint: AuthEndpoint, key_set: Callable[..., JwksKeySet]
) -> None:
    keys = key_set()
    assert await keys.key_for("k1") is not None
    for kid in ("forged", "forged-again", "and-again"):
        assert await keys.key_for(kid) is None
    assert endpoint.fetches == 1


async def test_a_failed_fetch_is_unavailable_not_invalid(
    endpoint: AuthEndpoint, key_set: Callable[..., JwksKeySet]
) -> None:
    keys = key_set()
    endpoint.failing = True
    with pytest.raises(KeysUnavailable) as refused:
        await keys.key_for("k1")
    assert refused.value.status == 503
    assert refused.value.headers["Retry-After"]
    with pytest.raises(KeysUnavailable):  # within the refetch interval: no second fetch, same answer
        await keys.key_for("k1")
    assert endpoint.fetches == 1


async def test_a_fetch_that_hangs_is_unavailable_after_the_wait(
    endpoint: AuthEndpoint, key_set: Callable[..., JwksKeySet]
) -> None:
    keys = key_set(wait_seconds=0.05)
    endpoint.release.clear()
    with pytest.raises(KeysUnavailable):
        await keys.key_for("k1")
    endpoint.release.set()
    assert await keys.refresh()  # the fetch went on for the next request
    assert await keys.key_for("k1") is not None


async def test_known_keys_keep_verifying_while_the_auth_service_is_down(
    endpoint: AuthEndpoint, key_set: Callable[..., JwksKeySet]
) -> None:
    keys = key_set(min_refetch_seconds=0, cache_seconds=0)  # every key is stale at once
    assert await keys.key_for("k1") is not None
    endpoint.failing = True
    assert await keys.key_for("k1") is not None
    assert endpoint.fetches == 2
    with pytest.raises(KeysUnavailable):  # a kid never seen, with no answer from auth: retry later
        await keys.key_for("k2")
