"""API8:2023 Security misconfiguration.

Safe by default: every answer (refusals and errors included) carries the security headers and no
banner, errors are problem+json without internals, no origin gets CORS unless configured, TRACE is
not served, service ports are closed to anyone but the gateway outside development, and production
refuses to start with weak or missing secrets or with the sandbox (tests/integration/
test_production_startup.py starts real processes that way).
"""

from __future__ import annotations

import httpx
import pytest

from devstack.stack import Stack
from tests.harness import raw_request

HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@pytest.mark.parametrize(
    ("method", "target", "status"),
    [
        ("GET", b"/health", 200),
        ("GET", b"/nowhere", 404),
        ("TRACE", b"/api/v1/products", 405),
        ("GET", b"/api/v1/auth/me", 401),
        ("GET", b"/api/v1/products/x/../y", 400),
        ("POST", b"/api/v1/auth/login", 422),
    ],
)
async def test_every_answer_is_hardened(stack: Stack, method: str, target: bytes, status: int) -> None:
    answer = await raw_request(stack.gateway_url, method, target, {"Content-Type": "application/json"})
    assert answer.status == status
    for name, value in HEADERS.items():
        assert answer.headers.get(name) == value, name
    assert "server" not in answer.headers
    assert "x-powered-by" not in answer.headers
    if status >= 400:
        assert answer.headers["content-type"] == "application/problem+json"
        problem = answer.json()
        assert problem["type"].startswith("/problems/")
        assert "Traceback" not in answer.body.decode()


async def test_no_cors_for_an_origin_nobody_configured(gateway: httpx.AsyncClient) -> None:
    preflight = await gateway.options(
        "/api/v1/orders",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    simple = await gateway.get("/api/v1/products", headers={"Origin": "https://evil.example"})
    for answer in (preflight, simple):
        assert "access-control-allow-origin" not in answer.headers
        assert "access-control-allow-credentials" not in answer.headers


async def test_services_answer_no_banner_and_no_docs(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url_of("catalog"), timeout=10) as direct:
        for path in ("/docs", "/redoc"):
            response = await direct.get(path)
            assert response.status_code in (403, 404)
        assert "server" not in (await direct.get("/health/live")).headers
