"""When services fail: readiness goes 503, the gateway's health names them, proxied calls get 503/504.

A second gateway is started whose upstreams are, in turn: a closed port (auth), a server that
accepts connections and never answers (catalog), the real order service, and a catalog service
whose own database has been stopped (standing in for payment).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.stack import EMBEDDED_DB, Stack, free_port
from tests.conftest import stack_settings

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def silent_upstream() -> Iterator[int]:
    """A listening socket that never accepts: connections open, requests go unanswered."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield server.getsockname()[1]


@pytest.fixture(scope="module")
def orphaned_service(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A catalog service on its own embedded database, which is then stopped under it (its keys
    come from the session stack's auth service: without them it would never be ready at all)."""
    root = tmp_path_factory.mktemp("orphan")
    settings = stack_settings(root / "data", mongodb_url=None)
    orphan = Stack(
        settings, env={"ENV": "test", "HEALTH_CHECK_TIMEOUT_SECONDS": "0.5"}, log_dir=root / "logs"
    )
    try:
        orphan.start_embedded_db()
        orphan.start_app("catalog", env={"AUTH_JWKS_URL": stack.child_env["AUTH_JWKS_URL"]})
        orphan.stop_processes([EMBEDDED_DB])
        yield orphan
    finally:
        orphan.stop()


@pytest.fixture(scope="module")
def degraded_gateway(
    stack: Stack, orphaned_service: Stack, silent_upstream: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    root: Path = tmp_path_factory.mktemp("degraded")
    settings = stack_settings(root / "data")
    degraded = Stack(settings, env={"ENV": "test"}, log_dir=root / "logs")
    upstreams = {
        "AUTH_SERVICE_URL": f"http://127.0.0.1:{free_port()}",
        "CATALOG_SERVICE_URL": f"http://127.0.0.1:{silent_upstream}",
        "ORDER_SERVICE_URL": stack.url_of("order"),
        "PAYMENT_SERVICE_URL": orphaned_service.url_of("catalog"),
        "UPSTREAM_READ_TIMEOUT_SECONDS": "1",
        "HEALTH_CHECK_TIMEOUT_SECONDS": "1",
    }
    try:
        degraded.start_app("gateway", env=upstreams)
        yield degraded.gateway_url
    finally:
        degraded.stop()


async def test_service_without_database_is_live_but_not_ready(orphaned_service: Stack) -> None:
    async with httpx.AsyncClient(base_url=orphaned_service.url_of("catalog"), timeout=10) as client:
        live = await client.get("/health/live")
        ready = await client.get("/health/ready")
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.headers["content-type"] == PROBLEM
    assert ready.json()["checks"]["mongodb"] != "ok"


async def test_aggregate_health_is_503_naming_each_unready_service(degraded_gateway: str) -> None:
    async with httpx.AsyncClient(base_url=degraded_gateway, timeout=10) as client:
        response = await client.get("/health")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == 503
    assert body["services"] == {
        "auth": "unreachable",
        "catalog": "timeout",
        "order": "ready",
        "payment": "not_ready",
    }
    assert body["detail"] == "not ready: auth, catalog, payment"


async def test_unreachable_upstream_is_problem_503(degraded_gateway: str) -> None:
    async with httpx.AsyncClient(base_url=degraded_gateway, timeout=10) as client:
        response = await client.post("/api/v1/auth/login", json={"email": "a@b.c", "password": "x"})
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/upstream-unavailable"
    assert response.headers["x-request-id"]


async def test_silent_upstream_is_problem_504(degraded_gateway: str) -> None:
    async with httpx.AsyncClient(base_url=degraded_gateway, timeout=10) as client:
        response = await client.get("/api/v1/products/665f1c2ab8e4d1a9c3f0b7d2")
    assert response.status_code == 504
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/upstream-timeout"


async def test_healthy_upstreams_still_answer_through_a_degraded_gateway(degraded_gateway: str) -> None:
    async with httpx.AsyncClient(base_url=degraded_gateway, timeout=10) as client:
        response = await client.get("/api/v1/orders/__probe__/x/y")
    assert response.status_code == 404
    assert response.json()["type"] == "/problems/not-found"
