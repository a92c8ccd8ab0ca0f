"""The gateway's aggregate /health does not pass a flood of probes on: a burst of probes started
together at a barrier makes each service answer its readiness once (counted by the
services' own request metrics), the rest are answered from the gateway's cache."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from devstack.stack import SERVICES, Stack
from tests.harness import extra_gateway
from tests.observability.scrape import Samples, moved, scrape

PROBES = 40


@pytest.fixture(scope="module")
def cached_gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("health-gateway")
    with extra_gateway(stack, root, {"HEALTH_CACHE_SECONDS": "60"}) as extra:
        yield extra


async def readiness_answered(stack: Stack) -> dict[str, Samples]:
    return {name: await scrape(f"{stack.url_of(name)}/metrics") for name in SERVICES}


def readiness_calls(before: Samples, after: Samples, service: str) -> float:
    labels = {"service": service, "method": "GET", "route": "/health/ready", "status": "200"}
    return moved(before, after, "http_requests_total", **labels)


async def test_a_burst_of_probes_asks_each_service_once(stack: Stack, cached_gateway: Stack) -> None:
    services_before = await readiness_answered(stack)
    gateway_before = await scrape(cached_gateway.gateway_metrics_url)
    barrier = asyncio.Barrier(PROBES)
    limits = httpx.Limits(max_connections=PROBES)

    async with httpx.AsyncClient(base_url=cached_gateway.gateway_url, limits=limits, timeout=30) as client:

        async def probe() -> httpx.Response:
            await barrier.wait()
            return await client.get("/health")

        answers = await asyncio.gather(*(probe() for _ in range(PROBES)))

    assert {answer.status_code for answer in answers} == {200}
    assert all(answer.json()["services"] == answers[0].json()["services"] for answer in answers)
    services_after = await readiness_answered(stack)
    for name in SERVICES:
        assert readiness_calls(services_before[name], services_after[name], name) == 1, name
    gateway_after = await scrape(cached_gateway.gateway_metrics_url)
    fresh = moved(gateway_before, gateway_after, "gateway_health_checks_total", source="fresh")
    cached = moved(gateway_before, gateway_after, "gateway_health_checks_total", source="cached")
    assert fresh == 1
    assert fresh + cached == PROBES
