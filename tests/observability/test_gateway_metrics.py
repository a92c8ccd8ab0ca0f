"""The gateway's own metrics, read on its metrics listener (never its public port): rate-limit
refusals by route class, CAPTCHA verdicts, breaker states, and where /metrics is not."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from devstack.stack import SERVICES, Stack
from tests.harness import extra_gateway, raw_request
from tests.observability.scrape import moved, scrape


@pytest.fixture(scope="module")
def strict_gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A gateway of its own with a default budget of two requests a minute."""
    root = tmp_path_factory.mktemp("strict-gateway")
    with extra_gateway(stack, root, {"RATE_LIMIT_DEFAULT": "2/minute", "REDIS_URL": ""}) as extra:
        yield extra


async def test_rate_limit_refusals_are_counted_by_route_class(strict_gateway: Stack) -> None:
    before = await scrape(strict_gateway.gateway_metrics_url)
    async with httpx.AsyncClient(base_url=strict_gateway.gateway_url) as client:
        statuses = [(await client.get("/api/v1/categories")).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    after = await scrape(strict_gateway.gateway_metrics_url)
    assert moved(before, after, "rate_limit_refusals_total", route_class="default") == 1


async def test_captcha_verdicts_are_counted(gateway: httpx.AsyncClient, stack: Stack) -> None:
    before = await scrape(stack.gateway_metrics_url)
    refused = await gateway.post(
        "/api/v1/auth/login",
        json={"email": "nobody@example.com", "password": "whatever it is"},
        headers={"X-Captcha-Response": "not-a-solution"},
    )
    assert refused.status_code == 428
    after = await scrape(stack.gateway_metrics_url)
    assert moved(before, after, "captcha_checks_total", verdict="invalid") == 1


async def test_breaker_states_and_upstream_saturation_are_exported(stack: Stack) -> None:
    samples = await scrape(stack.gateway_metrics_url)
    for upstream in SERVICES:
        assert samples.get("gateway_circuit_breaker_state", upstream=upstream, state="closed") == 1
        assert samples.get("gateway_circuit_breaker_state", upstream=upstream, state="open") == 0
    assert "gateway_upstream_in_flight" in samples.names()


@pytest.mark.parametrize("target", [b"/metrics", b"/metrics/", b"/api/v1/products/..%2f..%2fmetrics"])
async def test_metrics_are_not_served_on_the_public_port(stack: Stack, target: bytes) -> None:
    answer = await raw_request(stack.gateway_url, "GET", target)
    assert answer.status != 200
    assert b"http_requests_total" not in answer.body


async def test_metrics_listener_serves_the_gateway_registry(stack: Stack) -> None:
    listener = stack.gateway_metrics_url.removesuffix("/metrics")
    answer = await raw_request(listener, "GET", b"/metrics")
    assert answer.status == 200
    assert b'service="gateway"' in answer.body
    assert b"gateway_circuit_breaker_state" in answer.body
