"""The gateway in front of the real services: health, routing, request ids and problem+json."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from bson import ObjectId

from devstack.stack import SERVICES, Stack
from shared.db import Database

PROBLEM = "application/problem+json"
# Paths below each prefix that no route of the owning service matches (a 404 it counts as unmatched).
PROBE_PATHS = {
    "/api/v1/auth/__probe__/x/y": "auth",
    "/api/v1/products/__probe__/x/y": "catalog",
    "/api/v1/categories/__probe__/x/y": "catalog",
    "/api/v1/cart/__probe__/x/y": "order",
    "/api/v1/orders/__probe__/x/y": "order",
    "/api/v1/payments/__probe__/x/y": "payment",
}


def unmatched_404s(metrics_text: str, service: str) -> float:
    """How many requests this service answered 404 without matching a route, from its /metrics."""
    pattern = (
        r'^http_requests_total\{[^}]*method="GET"[^}]*route="<unmatched>"[^}]*service="'
        + re.escape(service)
        + r'"[^}]*status="404"[^}]*\} ([0-9.e+]+)$'
    )
    match = re.search(pattern, metrics_text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def service_counts(stack: Stack) -> dict[str, float]:
    async with httpx.AsyncClient() as client:
        return {
            name: unmatched_404s((await client.get(f"{stack.url_of(name)}/metrics")).text, name)
            for name in SERVICES
        }


async def test_health_names_every_service_ready(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["services"] == {"auth": "ready", "catalog": "ready", "order": "ready", "payment": "ready"}
    assert body["breakers"] == {"auth": "closed", "catalog": "closed", "order": "closed", "payment": "closed"}


async def test_unknown_path_is_problem_404_echoing_request_id(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/no/such/path", headers={"X-Request-ID": "support-case-42"})
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["x-request-id"] == "support-case-42"
    body = response.json()
    assert body["type"] == "/problems/not-found"
    assert body["status"] == 404
    assert body["request_id"] == "support-case-42"


@pytest.mark.parametrize("sent", [None, "has spaces in it", "x" * 129, 'quote"inside'])
async def test_request_id_is_generated_when_missing_or_unsafe(
    gateway: httpx.AsyncClient, sent: str | None
) -> None:
    headers = {"X-Request-ID": sent} if sent else {}
    response = await gateway.get("/health", headers=headers)
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_request_id_reaches_the_service_and_comes_back(
    gateway: httpx.AsyncClient, stack: Stack
) -> None:
    request_id = "trace-" + ObjectId().__str__()
    response = await gateway.get("/api/v1/categories", headers={"X-Request-ID": request_id})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == request_id
    assert stack.log_dir is not None
    # The service writes its access line just after the response is sent: wait for it briefly.
    needle = (
        '"service": "catalog", "event": "http.request", "logger": "shared.http", '
        f'"request_id": "{request_id}"'
    )
    for _ in range(50):
        if needle in (stack.log_dir / "catalog.log").read_text():
            break
        await asyncio.sleep(0.05)
    assert needle in (stack.log_dir / "catalog.log").read_text()


async def test_each_prefix_reaches_its_owning_service(gateway: httpx.AsyncClient, stack: Stack) -> None:
    for path, owner in PROBE_PATHS.items():
        before = await service_counts(stack)
        response = await gateway.get(path)
        after = await service_counts(stack)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == PROBLEM
        changed = {name for name in SERVICES if after[name] != before[name]}
        assert changed == {owner}, f"{path} reached {changed}, expected {owner}"


async def test_prefix_lookalikes_are_not_routed(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/v1/productsXYZ")
    assert response.status_code == 404
    assert response.json()["instance"] == "/api/v1/productsXYZ"


async def test_gateway_own_route_wrong_method_is_problem_405(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post("/health")
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/method-not-allowed"
    assert "GET" in response.headers["allow"]


async def test_service_route_wrong_method_is_problem_405(gateway: httpx.AsyncClient) -> None:
    response = await gateway.delete("/api/v1/categories")
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/method-not-allowed"


async def test_malformed_id_is_problem_422_with_field_errors(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/v1/products/not-an-object-id")
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == "/problems/validation-error"
    assert [error["loc"] for error in body["errors"]] == [["path", "product_id"]]
    assert all("input" not in error for error in body["errors"])


async def test_missing_product_is_problem_404(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get(f"/api/v1/products/{ObjectId()}")
    assert response.status_code == 404
    assert response.json()["type"] == "/problems/product-not-found"


async def test_categories_are_listed_from_the_database(gateway: httpx.AsyncClient, db: Database) -> None:
    slug = f"cat-{ObjectId()}"
    await db.categories.insert_one({"slug": slug, "name": "Teas"})
    response = await gateway.get("/api/v1/categories")
    assert response.status_code == 200
    assert {"slug": slug, "name": "Teas"}.items() <= next(
        item for item in response.json()["items"] if item["slug"] == slug
    ).items()


async def test_chunked_request_body_is_streamed_to_the_service(gateway: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"x" * 16384

    response = await gateway.post("/api/v1/orders/__probe__/x/y", content=chunks())
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


async def test_every_process_exposes_prometheus_metrics(gateway: httpx.AsyncClient, stack: Stack) -> None:
    await gateway.get("/health")
    async with httpx.AsyncClient() as client:  # the gateway's own listener, never its public port
        text = (await client.get(stack.gateway_metrics_url)).text
    assert re.search(
        r'http_requests_total\{method="GET",route="/health",service="gateway",status="200"\}', text
    )
    assert "http_request_duration_seconds_bucket" in text
    async with httpx.AsyncClient() as client:
        for name in SERVICES:
            service_text = (await client.get(f"{stack.url_of(name)}/metrics")).text
            assert f'service="{name}"' in service_text
