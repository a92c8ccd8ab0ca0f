"""API9:2023 Improper inventory management.

One API, one version, one document: every operation a service serves is in the gateway's merged
OpenAPI document (no shadow endpoints), nothing internal is in it, and paths beside it (other
versions, debug or admin leftovers, service documents) do not exist through the gateway.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from devstack.stack import SERVICES, Stack
from tests.conftest import internal_headers

METHODS = ("get", "put", "post", "patch", "delete")
NOT_THERE = [
    "/api/v2/products",
    "/api/v0/products",
    "/api/products",
    "/api/v1/internal",
    "/api/v1/admin",
    "/api/v1/debug",
    "/api/v1/users",
    "/docs/oauth2-redirect",
    "/redoc",
    "/.env",
    "/.git/config",
]


def operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
    }


async def test_every_operation_a_service_serves_is_documented(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    public = operations((await gateway.get("/openapi.json")).json())
    async with httpx.AsyncClient(timeout=10, headers=internal_headers()) as direct:
        for service in SERVICES:
            served = operations((await direct.get(f"{stack.url_of(service)}/openapi.json")).json())
            undocumented = {(method, path) for method, path in served if path.startswith("/api/")} - public
            assert not undocumented, (service, sorted(undocumented))


@pytest.mark.parametrize("path", NOT_THERE)
async def test_paths_beside_the_api_do_not_exist(gateway: httpx.AsyncClient, path: str) -> None:
    response = await gateway.get(path)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_undocumented_methods_are_405_not_a_crash(gateway: httpx.AsyncClient) -> None:
    for method, path in [("DELETE", "/api/v1/categories"), ("PUT", "/api/v1/orders"), ("TRACE", "/health")]:
        response = await gateway.request(method, path)
        assert response.status_code == 405, (method, path, response.status_code)
