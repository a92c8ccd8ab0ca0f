"""No one sees another's carts or orders; hostile order input is refused; admins list everything."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from bson import ObjectId

from tests.builders import customer_headers, make_product, place_order


@pytest.fixture(scope="module")
async def two_customers_orders(gateway: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    product = await make_product(gateway, admin, stock=100)
    alice, bob = await customer_headers(gateway), await customer_headers(gateway)
    alice_order = (await place_order(gateway, alice, [(product["id"], 1)])).json()
    bob_order = (await place_order(gateway, bob, [(product["id"], 1)])).json()
    await gateway.put(f"/api/v1/cart/items/{product['id']}", json={"quantity": 2}, headers=alice)
    return {
        "alice": alice,
        "bob": bob,
        "alice_order": alice_order,
        "bob_order": bob_order,
        "product": product,
    }


async def test_another_customers_order_does_not_exist(
    gateway: httpx.AsyncClient, two_customers_orders: dict[str, Any]
) -> None:
    data = two_customers_orders
    theirs = data["alice_order"]["id"]
    for method, path in (("GET", f"/api/v1/orders/{theirs}"), ("POST", f"/api/v1/orders/{theirs}/cancel")):
        response = await gateway.request(method, path, headers=data["bob"])
        assert response.status_code == 404, path
        assert response.json()["type"] == "/problems/order-not-found"
    assert (await gateway.get(f"/api/v1/orders/{theirs}", headers=data["alice"])).status_code == 200


async def test_listings_show_only_ones_own_orders(
    gateway: httpx.AsyncClient, two_customers_orders: dict[str, Any]
) -> None:
    data = two_customers_orders
    bob_ids = {
        order["id"] for order in (await gateway.get("/api/v1/orders", headers=data["bob"])).json()["items"]
    }
    assert bob_ids == {data["bob_order"]["id"]}
    # A customer cannot widen the listing to someone else.
    alice_user = data["alice_order"]["user_id"]
    sneaky = (await gateway.get(f"/api/v1/orders?customer={alice_user}", headers=data["bob"])).json()["items"]
    assert {order["id"] for order in sneaky} == {data["bob_order"]["id"]}


async def test_carts_are_private(gateway: httpx.AsyncClient, two_customers_orders: dict[str, Any]) -> None:
    data = two_customers_orders
    alice_cart = (await gateway.get("/api/v1/cart", headers=data["alice"])).json()
    bob_cart = (await gateway.get("/api/v1/cart", headers=data["bob"])).json()
    assert [item["quantity"] for item in alice_cart["items"]] == [2]
    assert bob_cart["items"] == []


async def test_anonymous_callers_get_401(
    gateway: httpx.AsyncClient, two_customers_orders: dict[str, Any]
) -> None:
    order_id = two_customers_orders["alice_order"]["id"]
    for method, path in (
        ("GET", "/api/v1/cart"),
        ("GET", "/api/v1/orders"),
        ("GET", f"/api/v1/orders/{order_id}"),
        ("POST", "/api/v1/orders"),
        ("POST", f"/api/v1/orders/{order_id}/cancel"),
    ):
        assert (await gateway.request(method, path)).status_code == 401, path


async def test_admins_list_everyone_with_filters_and_cursors(
    gateway: httpx.AsyncClient, admin: dict[str, str], two_customers_orders: dict[str, Any]
) -> None:
    data = two_customers_orders
    alice_user = data["alice_order"]["user_id"]
    mine = (await gateway.get(f"/api/v1/orders?customer={alice_user}", headers=admin)).json()["items"]
    assert {order["id"] for order in mine} == {data["alice_order"]["id"]}
    pending = (await gateway.get("/api/v1/orders?status=pending_payment&limit=100", headers=admin)).json()[
        "items"
    ]
    assert {data["alice_order"]["id"], data["bob_order"]["id"]} <= {order["id"] for order in pending}

    seen: list[str] = []
    cursor = None
    for _ in range(200):
        suffix = f"&cursor={cursor}" if cursor else ""
        page = (await gateway.get(f"/api/v1/orders?limit=3{suffix}", headers=admin)).json()
        seen += [order["id"] for order in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen))
    assert {data["alice_order"]["id"], data["bob_order"]["id"]} <= set(seen)
    assert (await gateway.get("/api/v1/orders?cursor=bogus", headers=admin)).status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {"items": [{"product_id": {"$gt": ""}, "quantity": 1}]},
        {"items": [{"product_id": "PRODUCT", "quantity": 1}]},
        {"items": [{"product_id": "665f1c2ab8e4d1a9c3f0b7d2", "quantity": 0}]},
        {"items": [{"product_id": "665f1c2ab8e4d1a9c3f0b7d2", "quantity": -2}]},
        {"items": [{"product_id": "665f1c2ab8e4d1a9c3f0b7d2", "quantity": 1.5}]},
        {"items": [{"product_id": "665f1c2ab8e4d1a9c3f0b7d2", "quantity": "1"}]},
        {"items": [{"product_id": "665f1c2ab8e4d1a9c3f0b7d2", "quantity": {"$gt": 0}}]},
        {"items": []},
        {"items": [{"product_id": "665f1c2ab8e4d1a9c3f0b7d2", "quantity": 1}], "from_cart": True},
        {},
        {"items": [{"product_id": "665f1c2ab8e4d1a9c3f0b7d2", "quantity": 1}], "total": 1},
        {"items": [{"product_id": "665f1c2ab8e4d1a9c3f0b7d2", "quantity": 1}], "user_id": "someone"},
    ],
)
async def test_hostile_order_bodies_are_422(gateway: httpx.AsyncClient, body: dict[str, Any]) -> None:
    buyer = await customer_headers(gateway)
    response = await gateway.post(
        "/api/v1/orders", json=body, headers={**buyer, "Idempotency-Key": str(ObjectId())}
    )
    assert response.status_code == 422, body
    assert response.json()["type"] == "/problems/validation-error"


async def test_duplicate_unknown_and_inactive_lines(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    product = await make_product(gateway, admin, stock=10)
    retired = await make_product(gateway, admin, stock=10, active=False)
    buyer = await customer_headers(gateway)

    duplicate = await place_order(gateway, buyer, [(product["id"], 1), (product["id"], 2)])
    assert duplicate.status_code == 422
    unknown = await place_order(gateway, buyer, [(product["id"], 1), (str(ObjectId()), 1)])
    assert unknown.status_code == 422
    assert unknown.json()["type"] == "/problems/unknown-product"
    inactive = await place_order(gateway, buyer, [(retired["id"], 1)])
    assert inactive.status_code == 422
    assert inactive.json()["type"] == "/problems/product-inactive"
    dollars = await make_product(gateway, admin, stock=10, price={"amount": 100, "currency": "USD"})
    mixed = await place_order(gateway, buyer, [(product["id"], 1), (dollars["id"], 1)])
    assert mixed.json()["type"] == "/problems/mixed-currencies"
    too_many = await place_order(gateway, buyer, [(product["id"], 100_000)])
    assert too_many.status_code == 422
