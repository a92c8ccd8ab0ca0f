"""API5:2023 Broken function level authorization.

Admin functions need the admin role whoever calls them, and a service's internal endpoints
(metrics, readiness, its own OpenAPI document) are never reachable through the gateway, however the
path is spelled; on a service port they answer only the operational probes without the gateway's
internal token.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from devstack.stack import SERVICES, Stack
from tests.builders import customer_headers, make_product, place_order
from tests.harness import raw_request
from tests.security.conftest import assert_problem
from tests.security.spellings import INTERNAL_TARGETS, MALFORMED_TARGETS

ADMIN_CALLS = [
    ("POST", "/api/v1/products", {"sku": "X", "name": "X", "price": {"amount": 1, "currency": "BDT"}}),
    ("POST", "/api/v1/categories", {"slug": "x", "name": "X"}),
]


@pytest.mark.parametrize("target", INTERNAL_TARGETS, ids=lambda t: t.decode(errors="replace"))
async def test_internal_endpoints_are_out_of_reach_through_the_gateway(stack: Stack, target: bytes) -> None:
    answer = await raw_request(stack.gateway_url, "GET", target)
    assert_problem(answer.status, answer.headers["content-type"], answer.json(), 400, "ambiguous-path")
    assert b"http_requests_total" not in answer.body
    assert b"openapi" not in answer.body


@pytest.mark.parametrize("target", MALFORMED_TARGETS, ids=lambda t: t.decode(errors="replace"))
async def test_targets_that_are_no_plain_path_are_refused(stack: Stack, target: bytes) -> None:
    answer = await raw_request(stack.gateway_url, "GET", target)
    # The server itself may refuse the worst of them before the gateway's code sees them.
    assert answer.status == 400, answer
    if answer.headers.get("content-type", "").startswith("application/problem+json"):
        assert answer.json()["type"] == "/problems/ambiguous-path"
    assert b"X-Injected" not in answer.body.split(b"\r\n\r\n")[0]


async def test_the_services_own_documents_are_not_the_gateways(gateway: httpx.AsyncClient) -> None:
    """`/openapi.json` on the gateway is the merged public document, with no internal path in it."""
    document = (await gateway.get("/openapi.json")).json()
    for path in document["paths"]:
        assert path.startswith(("/api/v1/", "/health")), path
        assert "/metrics" not in path


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
async def test_customers_cannot_call_admin_functions(
    gateway: httpx.AsyncClient, method: str, path: str, body: object
) -> None:
    headers = await customer_headers(gateway)
    response = await gateway.request(method, path, json=body, headers=headers)
    assert response.status_code == 403, response.text
    assert response.json()["type"] == "/problems/admin-required"


async def test_customers_cannot_move_their_own_order_along(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Fulfilment is the shop's: a customer marking their unpaid order shipped gets 403."""
    product = await make_product(gateway, admin, stock=5)
    headers = await customer_headers(gateway)
    order = (await place_order(gateway, headers, [(product["id"], 1)])).json()
    for status in ("paid", "shipped", "delivered"):
        response = await gateway.post(
            f"/api/v1/orders/{order['id']}/status", json={"status": status}, headers=headers
        )
        assert response.status_code == 403, response.text
    assert (await gateway.get(f"/api/v1/orders/{order['id']}", headers=headers)).json()["status"] == (
        "pending_payment"
    )


async def test_customers_cannot_adjust_stock_or_delete_products(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    product = await make_product(gateway, admin, stock=5)
    headers = await customer_headers(gateway)
    adjust = await gateway.post(
        f"/api/v1/products/{product['id']}/stock-adjustments",
        json={"delta": 1000, "reason": "mine now"},
        headers=headers,
    )
    delete = await gateway.delete(f"/api/v1/products/{product['id']}", headers=headers)
    assert (adjust.status_code, delete.status_code) == (403, 403)
    after = (await gateway.get(f"/api/v1/products/{product['id']}")).json()
    assert (after["stock"], after["active"]) == (5, True)


@pytest.mark.parametrize("service", SERVICES)
async def test_service_ports_answer_probes_but_nothing_else_without_the_gateway(
    stack: Stack, service: str
) -> None:
    url = stack.url_of(service)
    async with httpx.AsyncClient(base_url=url, timeout=10) as direct:
        for probe in ("/health/live", "/health/ready", "/metrics"):
            assert (await direct.get(probe)).status_code == 200, probe
        for method, path in [("GET", "/openapi.json"), ("GET", "/api/v1/products"), ("POST", "/health/live")]:
            refused = await direct.request(method, path, headers={"X-Internal-Token": uuid.uuid4().hex})
            assert_problem(
                refused.status_code, refused.headers["content-type"], refused.json(), 403, "gateway-only"
            )
