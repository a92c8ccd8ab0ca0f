"""A burst of valid tokens at processes that have just started: nobody is refused or logged out.

Right after a restart, every request of a burst once raced for the auth service's key set; those
that did not win found no key and answered 401 "signed by an unknown key" to valid tokens (an SPA
logs its user out on a 401), and the gateway, unable to tell users apart, counted them all in the
client address's checkout bucket (429). Here a fresh order service and a fresh gateway, started in
front of the session stack, take 120 buyers at once as soon as they report ready.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from bson import ObjectId
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devstack.stack import SERVICES, Stack
from tests.builders import login, make_product, register
from tests.conftest import GATEWAY_TEST_SETTINGS, stack_settings
from tests.integration.test_forged_tokens import claims, genuine_kid, signed, signing_key

__all__ = ["signing_key"]  # the fixture, shared with the forged-token tests

BUYERS = 120
# A product per buyer: the point is tokens, not write conflicts (with ten buyers per product, a
# loaded machine's retries once ran past the transaction budget: 503 for a few of them).
PRODUCTS = BUYERS


@pytest.fixture
def fresh_order_and_gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A new order service and a new gateway (empty key caches), on the session stack's database."""
    root = tmp_path_factory.mktemp("fresh")
    fresh = Stack(stack_settings(root / "data"), log_dir=root / "logs")
    fresh.child_env = {**stack.child_env, "DATA_DIR": str(root / "data")}
    upstreams = {f"{name.upper()}_SERVICE_URL": stack.url_of(name) for name in SERVICES}
    try:
        fresh.start_app("order")
        fresh.start_app(
            "gateway",
            env={
                **upstreams,
                **GATEWAY_TEST_SETTINGS,
                "ORDER_SERVICE_URL": fresh.url_of("order"),
                # One checkout per buyer is allowed; counted by IP, 115 of 120 would be refused.
                "RATE_LIMIT_CHECKOUT": "5/minute",
            },
        )
        yield fresh
    finally:
        fresh.stop()


async def test_a_burst_of_valid_tokens_after_a_restart_is_served(
    gateway: httpx.AsyncClient,
    admin: dict[str, str],
    signing_key: Ed25519PrivateKey,
    fresh_order_and_gateway: Stack,
) -> None:
    products = await asyncio.gather(*(make_product(gateway, admin, stock=1) for _ in range(PRODUCTS)))
    account = await register(gateway)
    kid = genuine_kid((await login(gateway, account.email, account.password))["access_token"])
    tokens = [signed(signing_key, kid, claims(sub=str(ObjectId()), role="customer")) for _ in range(BUYERS)]

    async def buy(client: httpx.AsyncClient, n: int, start: asyncio.Event) -> httpx.Response:
        body = {"items": [{"product_id": products[n % PRODUCTS]["id"], "quantity": 1}]}
        headers = {"Authorization": f"Bearer {tokens[n]}", "Idempotency-Key": uuid.uuid4().hex}
        await start.wait()
        return await client.post("/api/v1/orders", json=body, headers=headers)

    start = asyncio.Event()
    limits = httpx.Limits(max_connections=BUYERS)
    async with httpx.AsyncClient(
        base_url=fresh_order_and_gateway.gateway_url, timeout=60, limits=limits
    ) as client:
        buyers = [asyncio.create_task(buy(client, n, start)) for n in range(BUYERS)]
        start.set()
        answers = await asyncio.gather(*buyers)
    statuses: dict[int, list[Any]] = {}
    for answer in answers:
        statuses.setdefault(answer.status_code, []).append(answer.json().get("type"))
    assert set(statuses) == {201}, statuses
