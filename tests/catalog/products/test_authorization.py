"""Who may do what in the catalog: anyone reads, only admins write."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from bson import ObjectId

from tests.builders import make_category, make_product

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
async def product(gateway: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    return await make_product(gateway, admin, stock=100)


def admin_calls(product_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        (
            "POST",
            "/api/v1/products",
            {"sku": f"AUTHZ-{ObjectId()}", "name": "X", "price": {"amount": 1, "currency": "BDT"}},
        ),
        ("PATCH", f"/api/v1/products/{product_id}", {"name": "Renamed by an admin"}),
        ("POST", f"/api/v1/products/{product_id}/stock-adjustments", {"delta": 1, "reason": "authz test"}),
        ("DELETE", f"/api/v1/products/{ObjectId()}", None),
        ("POST", "/api/v1/categories", {"slug": f"authz-{ObjectId()}", "name": "Authz"}),
    ]


@pytest.mark.parametrize("call", range(5))
async def test_admin_routes_refuse_anonymous_and_customers(
    gateway: httpx.AsyncClient,
    customer: dict[str, str],
    admin: dict[str, str],
    product: dict[str, Any],
    call: int,
) -> None:
    method, path, body = admin_calls(product["id"])[call]
    anonymous = await gateway.request(method, path, json=body)
    as_customer = await gateway.request(method, path, json=body, headers=customer)
    as_admin = await gateway.request(method, path, json=body, headers=admin)

    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == PROBLEM
    assert as_customer.status_code == 403
    assert as_customer.json()["type"] == "/problems/admin-required"
    # The DELETE names an unknown product: passing authorization, it is a 404.
    assert as_admin.status_code in {200, 201, 404}
    assert as_admin.status_code != 404 or method == "DELETE"


async def test_everyone_reads(
    gateway: httpx.AsyncClient, customer: dict[str, str], admin: dict[str, str], product: dict[str, Any]
) -> None:
    for headers in ({}, customer, admin):
        for path in (
            "/api/v1/products",
            f"/api/v1/products/{product['id']}",
            f"/api/v1/products/sku/{product['sku']}",
            "/api/v1/categories",
        ):
            response = await gateway.get(path, headers=headers)
            assert response.status_code == 200, (path, headers)


async def test_a_bad_token_is_401_even_on_public_reads(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/v1/products", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401


async def test_inactive_products_are_listed_for_admins_only(
    gateway: httpx.AsyncClient, customer: dict[str, str], admin: dict[str, str]
) -> None:
    category = await make_category(gateway, admin)
    shown = await make_product(gateway, admin, category=category)
    hidden = await make_product(gateway, admin, category=category, active=False)
    query = f"/api/v1/products?category={category}"

    for headers in ({}, customer):
        ids = [item["id"] for item in (await gateway.get(query, headers=headers)).json()["items"]]
        assert ids == [shown["id"]]
        refused = await gateway.get(query + "&active=false", headers=headers)
        assert refused.status_code == 403

    everything = {item["id"] for item in (await gateway.get(query, headers=admin)).json()["items"]}
    assert everything == {shown["id"], hidden["id"]}
    only_inactive = (await gateway.get(query + "&active=false", headers=admin)).json()["items"]
    assert [item["id"] for item in only_inactive] == [hidden["id"]]
