"""The cart: live prices and availability, flags for what cannot be ordered, no stock held."""

from __future__ import annotations

import asyncio

import httpx
from bson import ObjectId

from shared.db import Database
from tests.builders import customer_headers, make_product


async def test_cart_lines_are_priced_now_and_hold_no_stock(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    tea = await make_product(gateway, admin, stock=5, price={"amount": 300, "currency": "BDT"})
    buyer = await customer_headers(gateway)
    cart = (await gateway.put(f"/api/v1/cart/items/{tea['id']}", json={"quantity": 2}, headers=buyer)).json()
    assert cart["items"][0]["line_total"] == {"amount": 600, "currency": "BDT"}
    assert cart["totals"] == [{"amount": 600, "currency": "BDT"}]
    assert cart["orderable"] is True
    stored = await db.products.find_one({"_id": ObjectId(tea["id"])})
    assert stored is not None
    assert stored["stock"] == 5

    await gateway.patch(
        f"/api/v1/products/{tea['id']}", json={"price": {"amount": 350, "currency": "BDT"}}, headers=admin
    )
    repriced = (await gateway.get("/api/v1/cart", headers=buyer)).json()
    assert repriced["totals"] == [{"amount": 700, "currency": "BDT"}]


async def test_setting_a_quantity_replaces_it_and_removing_works(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    tea = await make_product(gateway, admin, stock=50)
    buyer = await customer_headers(gateway)
    path = f"/api/v1/cart/items/{tea['id']}"
    await gateway.put(path, json={"quantity": 2}, headers=buyer)
    cart = (await gateway.put(path, json={"quantity": 7}, headers=buyer)).json()
    assert [(item["product_id"], item["quantity"]) for item in cart["items"]] == [(tea["id"], 7)]
    assert (await gateway.delete(path, headers=buyer)).json()["items"] == []


async def test_concurrent_adds_make_one_line(gateway: httpx.AsyncClient, admin: dict[str, str]) -> None:
    tea = await make_product(gateway, admin, stock=50)
    buyer = await customer_headers(gateway)
    path = f"/api/v1/cart/items/{tea['id']}"
    await asyncio.gather(*(gateway.put(path, json={"quantity": n}, headers=buyer) for n in range(1, 9)))
    items = (await gateway.get("/api/v1/cart", headers=buyer)).json()["items"]
    assert len(items) == 1


async def test_lines_that_cannot_be_ordered_are_flagged(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    scarce = await make_product(gateway, admin, stock=1)
    retiring = await make_product(gateway, admin, stock=10)
    buyer = await customer_headers(gateway)
    await gateway.put(f"/api/v1/cart/items/{scarce['id']}", json={"quantity": 3}, headers=buyer)
    await gateway.put(f"/api/v1/cart/items/{retiring['id']}", json={"quantity": 1}, headers=buyer)
    await gateway.delete(f"/api/v1/products/{retiring['id']}", headers=admin)
    cart = (await gateway.get("/api/v1/cart", headers=buyer)).json()
    problems = {item["product_id"]: item["problems"] for item in cart["items"]}
    assert problems == {scarce["id"]: ["insufficient_stock"], retiring["id"]: ["inactive"]}
    assert cart["orderable"] is False


async def test_only_orderable_products_enter_the_cart(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    retired = await make_product(gateway, admin, active=False)
    buyer = await customer_headers(gateway)
    inactive = await gateway.put(f"/api/v1/cart/items/{retired['id']}", json={"quantity": 1}, headers=buyer)
    assert inactive.status_code == 422
    missing = await gateway.put(f"/api/v1/cart/items/{ObjectId()}", json={"quantity": 1}, headers=buyer)
    assert missing.status_code == 404
    for bad in ({"quantity": 0}, {"quantity": -1}, {"quantity": "2"}, {"quantity": {"$gt": 1}}, {"qty": 1}):
        response = await gateway.put(f"/api/v1/cart/items/{retired['id']}", json=bad, headers=buyer)
        assert response.status_code == 422, bad
