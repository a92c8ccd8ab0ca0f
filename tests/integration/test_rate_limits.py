"""Rate limits through a real gateway process in front of the session stack's services.

The session gateway is effectively unlimited (tests/conftest.py). This module starts a second one,
counting in memory, with low limits and 127.0.0.1 as a trusted proxy, so each test speaks as a client
of its own through X-Forwarded-For. The sliding-window classes use hourly windows here: that
strategy weighs the previous window's count, so a test straddling a window boundary could see one
request more allowed; with an hour the chance is negligible. The auth class (a moving window) is
exact at any size and keeps its per-minute window.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devstack.stack import SERVICES, Stack
from tests.builders import customer_headers, unique_email
from tests.conftest import stack_settings

PROBLEM = "application/problem+json"
LIMITS = {
    "RATE_LIMIT_DEFAULT": "5/hour",
    "RATE_LIMIT_AUTH": "3/minute",
    "RATE_LIMIT_CHECKOUT": "2/hour",
    "RATE_LIMIT_REFUNDS": "1/hour",
    "RATE_LIMIT_WEBHOOKS": "4/hour",
}
RATE_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "ratelimit-policy")


def start_gateway(stack: Stack, root: Path, settings: dict[str, str]) -> Stack:
    """A gateway process of its own in front of `stack`'s services (same internal token and JWKS)."""
    extra = Stack(stack_settings(root / "data"), env={}, log_dir=root / "logs")
    extra.child_env = {**stack.child_env, "DATA_DIR": str(root / "data")}
    upstreams = {f"{name.upper()}_SERVICE_URL": stack.url_of(name) for name in SERVICES}
    extra.start_app("gateway", env={**upstreams, **settings})
    return extra


@pytest.fixture(scope="module")
def limited_gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = {**LIMITS, "REDIS_URL": "", "TRUSTED_PROXIES": "127.0.0.1"}
    limited = start_gateway(stack, tmp_path_factory.mktemp("limited-gateway"), settings)
    try:
        yield limited
    finally:
        limited.stop()


@pytest.fixture
async def limited(limited_gateway: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=limited_gateway.gateway_url, timeout=30) as client:
        yield client


def new_client() -> dict[str, str]:
    """Headers that make the limited gateway see a client address nobody else uses."""
    return {
        "X-Forwarded-For": f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(256)}"
    }


def rate(response: httpx.Response) -> tuple[int, int, int, str]:
    """(limit, remaining, reset seconds, policy) from the answer's RateLimit headers."""
    headers = response.headers
    return (
        int(headers["ratelimit-limit"]),
        int(headers["ratelimit-remaining"]),
        int(headers["ratelimit-reset"]),
        headers["ratelimit-policy"],
    )


def assert_rate_limited(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == "/problems/rate-limited"
    assert body["status"] == 429
    assert body["request_id"] == response.headers["x-request-id"]
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["ratelimit-remaining"] == "0"
    return body


async def test_every_answer_counts_down_then_429(limited: httpx.AsyncClient) -> None:
    client = new_client()
    answers = [
        await limited.get("/api/v1/categories", headers=client),
        await limited.get("/api/v1/products/665f1c2ab8e4d1a9c3f0b7d2", headers=client),  # a service's 404
        await limited.get("/api/v1/auth/me", headers=client),  # a service's 401
        await limited.get("/no/such/path", headers=client),  # the gateway's own 404
        await limited.get("/api/v1/categories", headers=client),
    ]
    assert [answer.status_code for answer in answers] == [200, 404, 401, 404, 200]
    assert [rate(answer)[:2] for answer in answers] == [(5, 4), (5, 3), (5, 2), (5, 1), (5, 0)]
    for answer in answers:
        assert answer.headers["ratelimit-policy"] == "5;w=3600"
        assert 0 <= rate(answer)[2] <= 3600

    refused = await limited.get("/api/v1/categories", headers=client)
    body = assert_rate_limited(refused)
    assert body["instance"] == "/api/v1/categories"
    assert rate(refused)[::3] == (5, "5;w=3600")
    assert "x-content-type-options" in refused.headers  # refusals get the security headers too
    # Other clients are not affected.
    assert (await limited.get("/api/v1/categories", headers=new_client())).status_code == 200


async def test_probes_and_scrapes_are_never_limited(limited: httpx.AsyncClient) -> None:
    client = new_client()
    for _ in range(8):
        for path in ("/health", "/health/live", "/health/ready", "/metrics"):
            response = await limited.get(path, headers=client)
            # The gateway's /metrics is on its metrics listener, not here (docs/observability.md).
            assert response.status_code == (404 if path == "/metrics" else 200), path
            assert not any(name in response.headers for name in RATE_HEADERS), path
    health = (await limited.get("/health")).json()
    assert health["status"] == "ok"
    assert health["rate_limits"] == "memory"
    # The whole budget is still there.
    assert rate(await limited.get("/api/v1/categories", headers=client))[1] == 4


async def failed_login(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/login",
        json={"email": unique_email("nobody"), "password": "not the password at all"},
        headers=headers,
    )


async def test_auth_class_per_ip_counts_against_the_default_too(limited: httpx.AsyncClient) -> None:
    client = new_client()
    logins = [await failed_login(limited, client) for _ in range(3)]
    assert [login.status_code for login in logins] == [401, 401, 401]
    # The tightest limit is described: the auth class (3/minute) over the default (5/hour).
    assert [rate(login)[:2] for login in logins] == [(3, 2), (3, 1), (3, 0)]
    assert {login.headers["ratelimit-policy"] for login in logins} == {"3;w=60, 5;w=3600"}
    assert all(0 < rate(login)[2] <= 60 for login in logins)

    refused = await failed_login(limited, client)
    assert_rate_limited(refused)
    assert rate(refused)[::3] == (3, "3;w=60, 5;w=3600")
    assert 1 <= int(refused.headers["retry-after"]) <= 60

    # Browsing still works: the three logins spent 3 of the 5 default requests, the refused one none.
    browse = await limited.get("/api/v1/categories", headers=client)
    assert browse.status_code == 200
    assert rate(browse)[:2] == (5, 1)
    # Another address may log in.
    assert (await failed_login(limited, new_client())).status_code == 401


async def test_webhooks_are_limited_apart_from_the_default(limited: httpx.AsyncClient) -> None:
    client = new_client()
    deliveries = [
        await limited.post("/api/v1/payments/webhooks/stripe", content=b"{}", headers=client)
        for _ in range(4)
    ]
    assert all(delivery.status_code != 429 for delivery in deliveries)
    assert [rate(delivery)[:2] for delivery in deliveries] == [(4, 3), (4, 2), (4, 1), (4, 0)]
    assert {delivery.headers["ratelimit-policy"] for delivery in deliveries} == {"4;w=3600"}
    assert_rate_limited(await limited.get("/api/v1/payments/callbacks/bkash", headers=client))
    # None of that touched the client's default budget.
    assert rate(await limited.get("/api/v1/categories", headers=client))[:2] == (5, 4)


def token_with_someone_elses_signature(token: str) -> str:
    """The same claims (the same `sub`), signed by a key the gateway does not know."""
    claims = jwt.decode(token, options={"verify_signature": False})
    header = jwt.get_unverified_header(token)
    return jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers=header)


async def test_checkout_is_per_user_and_only_for_verified_tokens(
    limited: httpx.AsyncClient, gateway: httpx.AsyncClient
) -> None:
    shared_address = new_client()
    first, second = await customer_headers(gateway), await customer_headers(gateway)

    async def place(headers: dict[str, str]) -> httpx.Response:
        sent = {**shared_address, **headers, "Idempotency-Key": uuid.uuid4().hex}
        return await limited.post("/api/v1/orders", json={"items": []}, headers=sent)

    placed = [await place(first) for _ in range(2)]
    assert all(answer.status_code not in (401, 429) for answer in placed)
    assert [rate(answer)[:2] for answer in placed] == [(2, 1), (2, 0)]
    assert {answer.headers["ratelimit-policy"] for answer in placed} == {"2;w=3600, 5;w=3600"}
    assert_rate_limited(await place(first))
    # Another user behind the same address has a bucket of their own.
    assert (await place(second)).status_code not in (401, 429)
    # A token carrying the first user's id that the gateway cannot verify is counted by address,
    # never in that user's (full) bucket; the order service then refuses the token itself.
    forged = {"Authorization": f"Bearer {token_with_someone_elses_signature(first['Authorization'][7:])}"}
    answer = await place(forged)
    assert answer.status_code == 401
    assert rate(answer)[:2] == (2, 1)


async def test_refunds_have_their_own_class(limited: httpx.AsyncClient, admin: dict[str, str]) -> None:
    client = {**new_client(), **admin, "Idempotency-Key": uuid.uuid4().hex}
    path = "/api/v1/payments/665f1c2ab8e4d1a9c3f0b7d2/refunds"  # pragma: allowlist secret
    first = await limited.post(path, json={"reason": "test"}, headers=client)
    assert first.status_code != 429
    assert rate(first)[:2] == (1, 0)
    assert_rate_limited(await limited.post(path, json={"reason": "test"}, headers=client))
