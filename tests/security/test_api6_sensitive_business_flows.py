"""API6:2023 Unrestricted access to sensitive business flows.

Logging in, placing orders and paying are the flows an attacker automates. Their limits and CAPTCHA
are gateway rules decided on the path, so every disguise of these paths must meet the same
refusal as the plain path, or a 400 (here: 400, gateway/canonical.py), and never do the work.
The caps on what one customer may hold (fair stock) and on payment attempts are in
test_api4_unrestricted_resource_consumption.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from bson import ObjectId

from devstack.stack import Stack
from shared.db import Database
from tests.builders import customer_headers, login, make_product, register
from tests.harness import raw_request
from tests.security.conftest import assert_problem, new_client
from tests.security.spellings import disguises

LOGIN = b"/api/v1/auth/login"
ORDERS = b"/api/v1/orders"
CALLBACK = b"/api/v1/payments/callbacks/sandbox"


def spelled(target: bytes) -> str:
    return target.decode(errors="replace")


async def assert_ambiguous(
    url: str, target: bytes, headers: Mapping[str, str], body: Mapping[str, Any]
) -> None:
    answer = await raw_request(
        url,
        "POST",
        target,
        {**headers, "Content-Type": "application/json"},
        json.dumps(body).encode(),
    )
    assert_problem(answer.status, answer.headers["content-type"], answer.json(), 400, "ambiguous-path")


async def test_a_disguised_login_counts_as_nothing_and_logs_nobody_in(
    strict: httpx.AsyncClient, strict_gateway: Stack, gateway: httpx.AsyncClient
) -> None:
    """With 3 auth requests a minute, the 4th plain login is 429; no disguise logs in instead."""
    account = await register(gateway)
    me = new_client()
    credentials = {"email": account.email, "password": account.password}
    for _ in range(3):
        assert (await strict.post("/api/v1/auth/login", json=credentials, headers=me)).status_code == 200
    refused = await strict.post("/api/v1/auth/login", json=credentials, headers=me)
    assert refused.status_code == 429
    for target in disguises(LOGIN):
        await assert_ambiguous(strict_gateway.gateway_url, target, me, credentials)


@pytest.mark.parametrize("target", disguises(ORDERS), ids=spelled)
async def test_a_disguised_checkout_meets_no_looser_rule_and_creates_nothing(
    strict_gateway: Stack, gateway: httpx.AsyncClient, admin: dict[str, str], db: Database, target: bytes
) -> None:
    """`POST /api/v1/orders/.` once skipped the CAPTCHA and the checkout limit and created the order."""
    product = await make_product(gateway, admin, stock=5)
    account = await register(gateway)
    tokens = await login(gateway, account.email, account.password)
    headers = {**new_client(), "Authorization": f"Bearer {tokens['access_token']}", "Idempotency-Key": "k1"}
    body = {"items": [{"product_id": product["id"], "quantity": 1}]}
    await assert_ambiguous(strict_gateway.gateway_url, target, headers, body)
    plain = await raw_request(
        strict_gateway.gateway_url, "POST", ORDERS, {**headers, "Content-Type": "application/json"},
        json.dumps(body).encode(),
    )  # fmt: skip
    assert_problem(plain.status, plain.headers["content-type"], plain.json(), 428, "captcha-required")
    assert await db.orders.count_documents({"user_id": account.id}) == 0
    assert (await db.products.find_one({"_id": ObjectId(product["id"])}) or {})["stock"] == 5


async def test_the_checkout_limit_binds_every_spelling(
    strict: httpx.AsyncClient, strict_gateway: Stack, gateway: httpx.AsyncClient
) -> None:
    """Payments share the checkout class (2 an hour here); disguised payment calls are refused too."""
    headers = {**new_client(), **(await customer_headers(gateway))}
    body = {"order_id": str(ObjectId()), "provider": "sandbox"}
    statuses = []
    for n in range(3):
        response = await strict.post(
            "/api/v1/payments", json=body, headers={**headers, "Idempotency-Key": f"{n}"}
        )
        statuses.append(response.status_code)
    assert 429 not in statuses[:2]
    assert statuses[2] == 429
    for target in disguises(b"/api/v1/payments"):
        await assert_ambiguous(strict_gateway.gateway_url, target, headers, body)


@pytest.mark.parametrize(
    "target", [b"/api/v1/payments/callbacks/..", b"/api/v1/payments/webhooks/%2e%2e", *disguises(CALLBACK)],
    ids=spelled,
)  # fmt: skip
async def test_the_webhook_class_cannot_carry_other_calls(
    strict_gateway: Stack, gateway: httpx.AsyncClient, target: bytes
) -> None:
    """`POST /api/v1/payments/callbacks/..` was counted as a webhook and created a payment: a 400
    from the gateway means nothing was forwarded at all."""
    headers = {**new_client(), **(await customer_headers(gateway)), "Idempotency-Key": "k"}
    await assert_ambiguous(strict_gateway.gateway_url, target, headers, {"order_id": str(ObjectId())})
