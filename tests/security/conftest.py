"""The attack suite (one module per OWASP API Security Top 10 2023 category; docs/security.md maps
them). Attacks go through the session stack's gateway, through a strict gateway of their own, and
straight at the service ports, the way an attacker inside the network would.

The strict gateway sits in front of the session stack's services with real limits: three auth
requests per minute and two checkouts per hour per client, a CAPTCHA on `POST /api/v1/orders`, and
127.0.0.1 as a trusted proxy, so each test speaks as a client of its own through X-Forwarded-For.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from tests.harness import extra_gateway

PROBLEM = "application/problem+json"
STRICT_GATEWAY_SETTINGS = {
    "RATE_LIMIT_DEFAULT": "1000/hour",
    "RATE_LIMIT_AUTH": "3/minute",
    "RATE_LIMIT_CHECKOUT": "2/hour",
    "RATE_LIMIT_REFUNDS": "1000/hour",
    "RATE_LIMIT_WEBHOOKS": "1000/hour",
    "REDIS_URL": "",
    "TRUSTED_PROXIES": "127.0.0.1",
    "CAPTCHA_PROVIDER": "altcha",
    "CAPTCHA_SECRET": "altcha-security-suite-" + secrets.token_urlsafe(24),  # pragma: allowlist secret
    "CAPTCHA_ROUTES": "POST /api/v1/orders",
}


@pytest.fixture(scope="package")
def strict_gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with extra_gateway(stack, tmp_path_factory.mktemp("strict-gateway"), STRICT_GATEWAY_SETTINGS) as strict:
        yield strict


@pytest.fixture
async def strict(strict_gateway: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=strict_gateway.gateway_url, timeout=30) as client:
        yield client


def new_client() -> dict[str, str]:
    """Headers that make the strict gateway see a client address nobody else uses."""
    octets = ".".join(str(secrets.randbelow(256)) for _ in range(3))
    return {"X-Forwarded-For": f"10.{octets}"}


def assert_problem(status: int, content_type: str, body: Any, expected: int, slug: str) -> None:
    """A problem+json answer with `expected` status and the stable type `/problems/<slug>`."""
    assert status == expected, body
    assert content_type.startswith(PROBLEM), content_type
    assert body["type"] == f"/problems/{slug}", body
    assert body["status"] == expected
