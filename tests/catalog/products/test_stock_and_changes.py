"""Stock adjustments (atomic, recorded, never below zero, exact under races), patches and deactivation."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from bson import ObjectId

from shared.db import Database
from tests.builders import make_category, make_product


async def adjust(
    gateway: httpx.AsyncClient, admin: dict[str, str], product_id: str, delta: int
) -> httpx.Response:
    return await gateway.post(
        f"/api/v1/products/{product_id}/stock-adjustments",
        json={"delta": delta, "reason": "test"},
        headers=admin,
    )


async def stock_of(gateway: httpx.AsyncClient, product_id: str) -> int:
    stock: int = (await gateway.get(f"/api/v1/products/{product_id}")).json()["stock"]
    return stock


async def test_an_adjustment_is_applied_and_recorded(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    product = await make_product(gateway, admin, stock=2)
    response = await adjust(gateway, admin, product["id"], 5)
    assert response.status_code == 200
    body = response.json()
    assert (body["stock"], body["version"]) == (7, 2)
    assert (body["adjustment"]["delta"], body["adjustment"]["reason"]) == (5, "test")
    history = await db.stock_adjustments.find({"product_id": ObjectId(product["id"])}).to_list()
    assert [(entry["delta"], entry["actor"]) for entry in history] == [(5, body["adjustment"]["actor"])]


async def test_going_below_zero_is_409_and_changes_nothing(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    product = await make_product(gateway, admin, stock=3)
    response = await adjust(gateway, admin, product["id"], -4)
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/insufficient-stock"
    assert response.json()["available"] == 3
    assert await stock_of(gateway, product["id"]) == 3
    assert await db.stock_adjustments.count_documents({"product_id": ObjectId(product["id"])}) == 0


async def test_zero_and_unknown_products(gateway: httpx.AsyncClient, admin: dict[str, str]) -> None:
    product = await make_product(gateway, admin)
    assert (await adjust(gateway, admin, product["id"], 0)).status_code == 422
    assert (await adjust(gateway, admin, str(ObjectId()), 1)).status_code == 404


async def test_concurrent_adjustments_sum_exactly(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    product = await make_product(gateway, admin, stock=50)
    deltas = [3] * 15 + [-2] * 15
    responses = await asyncio.gather(*(adjust(gateway, admin, product["id"], delta) for delta in deltas))
    assert [response.status_code for response in responses] == [200] * len(deltas)
    assert await stock_of(gateway, product["id"]) == 50 + sum(deltas)
    assert await db.stock_adjustments.count_documents({"product_id": ObjectId(product["id"])}) == len(deltas)


async def test_racing_removals_never_oversell(gateway: httpx.AsyncClient, admin: dict[str, str]) -> None:
    product = await make_product(gateway, admin, stock=6)
    responses = await asyncio.gather(*(adjust(gateway, admin, product["id"], -1) for _ in range(15)))
    codes = sorted(response.status_code for response in responses)
    assert codes == [200] * 6 + [409] * 9
    assert await stock_of(gateway, product["id"]) == 0


async def test_patch_changes_fields_search_and_version(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    category = await make_category(gateway, admin)
    product = await make_product(gateway, admin, category=category, name="Old name")
    response = await gateway.patch(
        f"/api/v1/products/{product['id']}",
        json={"name": "Jasmine pearls", "price": {"amount": 2500, "currency": "BDT"}},
        headers=admin,
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["price"]["amount"], body["version"], body["stock"]) == (
        "Jasmine pearls",
        2500,
        2,
        10,
    )
    found = (await gateway.get("/api/v1/products", params={"category": category, "q": "jasmine"})).json()[
        "items"
    ]
    assert [item["id"] for item in found] == [product["id"]]
    stale = (await gateway.get("/api/v1/products", params={"category": category, "q": "old"})).json()["items"]
    assert stale == []


async def test_concurrent_patches_of_different_fields_both_survive(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    product = await make_product(gateway, admin)
    path = f"/api/v1/products/{product['id']}"
    patches: list[dict[str, Any]] = [{"name": f"Name {n}"} for n in range(4)] + [{"description": "New words"}]
    responses = await asyncio.gather(*(gateway.patch(path, json=patch, headers=admin) for patch in patches))
    assert all(response.status_code == 200 for response in responses)
    final = (await gateway.get(path)).json()
    assert final["description"] == "New words"
    assert final["version"] == 1 + len(patches)


async def test_deactivate_hides_but_keeps_the_product(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    category = await make_category(gateway, admin)
    product = await make_product(gateway, admin, category=category)
    path = f"/api/v1/products/{product['id']}"
    assert (await gateway.delete(path, headers=admin)).status_code == 204
    assert (await gateway.delete(path, headers=admin)).status_code == 204  # idempotent
    listed = (await gateway.get(f"/api/v1/products?category={category}")).json()["items"]
    assert listed == []
    detail = (await gateway.get(path)).json()
    assert (detail["active"], detail["version"]) == (False, 2)
    assert (await gateway.delete(f"/api/v1/products/{ObjectId()}", headers=admin)).status_code == 404
