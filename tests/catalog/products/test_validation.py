"""Hostile and malformed input is a 422 (or 409 for duplicates), never a query and never stored."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from bson import ObjectId

from shared.db import Database
from tests.builders import make_category, make_product


def valid_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sku": f"VAL-{ObjectId()}",
        "name": "Valid product",
        "price": {"amount": 1999, "currency": "BDT"},
        "stock": 3,
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"sku": {"$gt": ""}}, "sku"),
        ({"sku": "has spaces"}, "sku"),
        ({"sku": "x" * 65}, "sku"),
        ({"name": ""}, "name"),
        ({"name": "n" * 201}, "name"),
        ({"name": {"$ne": None}}, "name"),
        ({"price": {"amount": 10.5, "currency": "BDT"}}, "amount"),
        ({"price": {"amount": "1000", "currency": "BDT"}}, "amount"),
        ({"price": {"amount": -1, "currency": "BDT"}}, "amount"),
        ({"price": {"amount": {"$gt": 0}, "currency": "BDT"}}, "amount"),
        ({"price": {"amount": 10, "currency": "bdt"}}, "currency"),
        ({"price": {"amount": 10, "currency": "USS"}}, "currency"),
        ({"price": {"amount": 10, "currency": "BDT", "discount": 5}}, "discount"),
        ({"stock": -1}, "stock"),
        ({"stock": 1.5}, "stock"),
        ({"category": {"$exists": True}}, "category"),
        ({"category": "Not A Slug"}, "category"),
        ({"images": ["http://insecure.example.com/a.png"]}, "images"),
        ({"images": ["javascript:alert(1)"]}, "images"),
        ({"version": 7}, "version"),
        ({"created_at": "2020-01-01T00:00:00Z"}, "created_at"),
        ({"$where": "sleep(1000)"}, "$where"),
    ],
)
async def test_invalid_product_bodies_are_422(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database, overrides: dict[str, Any], field: str
) -> None:
    body = valid_body(**overrides)
    response = await gateway.post("/api/v1/products", json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "/problems/validation-error"
    assert any(field in [str(part) for part in error["loc"]] for error in response.json()["errors"])
    assert await db.products.count_documents(
        {"sku": body["sku"]} if isinstance(body["sku"], str) else {}
    ) == 0 or (not isinstance(body["sku"], str))


async def test_unknown_category_is_422(gateway: httpx.AsyncClient, admin: dict[str, str]) -> None:
    response = await gateway.post(
        "/api/v1/products", json=valid_body(category="no-such-category"), headers=admin
    )
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/unknown-category"


async def test_duplicate_sku_is_409(gateway: httpx.AsyncClient, admin: dict[str, str]) -> None:
    product = await make_product(gateway, admin)
    response = await gateway.post("/api/v1/products", json=valid_body(sku=product["sku"]), headers=admin)
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/duplicate-sku"


async def test_duplicate_category_is_409(gateway: httpx.AsyncClient, admin: dict[str, str]) -> None:
    slug = await make_category(gateway, admin)
    response = await gateway.post("/api/v1/categories", json={"slug": slug, "name": "Again"}, headers=admin)
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/duplicate-category"


@pytest.mark.parametrize("field", ["stock", "version", "created_at", "sku", "updated_at", "id"])
async def test_mass_assignment_in_a_patch_is_refused(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database, field: str
) -> None:
    product = await make_product(gateway, admin, stock=4)
    value: Any = {"stock": 999, "version": 99, "sku": "HIJACK"}.get(field, "2020-01-01T00:00:00Z")
    response = await gateway.patch(f"/api/v1/products/{product['id']}", json={field: value}, headers=admin)
    assert response.status_code == 422
    stored = await db.products.find_one({"_id": ObjectId(product["id"])})
    assert stored is not None
    assert (stored["stock"], stored["version"], stored["sku"]) == (4, 1, product["sku"])


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=ten",
        "sort=popularity",
        "min_price=-5",
        "currency=usd",
        "category=%7B%22%24gt%22%3A%22%22%7D",  # {"$gt":""}
        "category[$ne]=x&category=UPPER",
        "in_stock=perhaps",
        "q=" + "a" * 101,
    ],
)
async def test_invalid_listing_parameters_are_422(gateway: httpx.AsyncClient, query: str) -> None:
    response = await gateway.get(f"/api/v1/products?{query}")
    assert response.status_code == 422, query
    assert response.json()["type"] == "/problems/validation-error"


@pytest.mark.parametrize("cursor", ["garbage!", "eyJzIjoibmV3ZXN0In0", "e30", "W10"])
async def test_forged_cursors_are_422(gateway: httpx.AsyncClient, cursor: str) -> None:
    response = await gateway.get(f"/api/v1/products?cursor={cursor}")
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/invalid-cursor"


async def test_a_cursor_only_continues_its_own_sort(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    category = await make_category(gateway, admin)
    for _ in range(3):
        await make_product(gateway, admin, category=category)
    page = (await gateway.get(f"/api/v1/products?category={category}&limit=1")).json()
    response = await gateway.get(
        f"/api/v1/products?category={category}&limit=1&sort=name&cursor={page['next_cursor']}"
    )
    assert response.status_code == 422


@pytest.mark.parametrize("q", [".*", "^$", "(a+)+$", '{"$gt": ""}', "\\", "[", "%00"])
async def test_search_text_is_never_a_pattern_or_an_operator(
    gateway: httpx.AsyncClient, admin: dict[str, str], q: str
) -> None:
    category = await make_category(gateway, admin)
    await make_product(gateway, admin, category=category, name="Plain green tea")
    response = await gateway.get("/api/v1/products", params={"category": category, "q": q})
    assert response.status_code == 200
    assert response.json()["items"] == []


@pytest.mark.parametrize("field", ["name", "description", "price", "active", "images"])
async def test_a_patch_cannot_null_a_required_field(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database, field: str
) -> None:
    """Found by schemathesis: `{"price": null}` was stored and broke every later read of the product."""
    product = await make_product(gateway, admin)
    response = await gateway.patch(f"/api/v1/products/{product['id']}", json={field: None}, headers=admin)
    assert response.status_code == 422
    assert (await gateway.get(f"/api/v1/products/{product['id']}")).status_code == 200


async def test_a_patch_can_remove_the_category(gateway: httpx.AsyncClient, admin: dict[str, str]) -> None:
    category = await make_category(gateway, admin)
    product = await make_product(gateway, admin, category=category)
    response = await gateway.patch(
        f"/api/v1/products/{product['id']}", json={"category": None}, headers=admin
    )
    assert response.status_code == 200
    assert response.json()["category"] is None


async def test_a_price_in_a_currency_the_shop_does_not_sell_in_is_refused(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    # SHOP_CURRENCIES is BDT,USD,EUR by default: the yen is a real currency, but not one sold here.
    body = valid_body(price={"amount": 1200, "currency": "JPY"})
    refused = await gateway.post("/api/v1/products", json=body, headers=admin)
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"] == "/problems/currency-not-offered"
    assert refused.json()["offered"] == ["BDT", "USD", "EUR"]
    assert await db.products.count_documents({"sku": body["sku"]}) == 0

    product = await make_product(gateway, admin)
    path = f"/api/v1/products/{product['id']}"
    patched = await gateway.patch(path, json={"price": {"amount": 1200, "currency": "JPY"}}, headers=admin)
    assert patched.status_code == 422, patched.text
    assert patched.json()["type"] == "/problems/currency-not-offered"
    stored = await db.products.find_one({"_id": ObjectId(product["id"])})
    assert stored is not None
    assert stored["price"] == {"amount": 1000, "currency": "BDT"}
    euros = await gateway.patch(path, json={"price": {"amount": 950, "currency": "EUR"}}, headers=admin)
    assert euros.status_code == 200, euros.text
