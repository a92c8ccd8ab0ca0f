"""Free text refuses control characters (a NUL, an ANSI escape, a line break in a name) and every
string and number has a bound; nothing refused is ever stored."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from bson import ObjectId

from shared.db import Database
from shared.money import MAX_AMOUNT, MAX_STOCK
from tests.builders import make_product
from tests.catalog.products.test_validation import valid_body

SINGLE_LINE_REFUSED = [
    "Tea\x00",
    "\x00",
    "Green\x00tea",
    "Tea\x1b[31m red",
    "Tea\nInjected: line",
    "Tea\rOverwritten",
    "Tea\tTabbed",
    "Tea\x7f",
    "Tea\x85next",
    "Tea\x85",  # trailing: whitespace to str.strip, refused all the same
    "Tea\x1f",
    "Tea\u2028next",
    "Tea\ud800",  # a lone surrogate: not even encodable as UTF-8
]


async def post_product(
    gateway: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any]
) -> httpx.Response:
    """JSON with every non-ASCII character escaped, so that lone surrogates can be sent too."""
    headers = {**admin, "Content-Type": "application/json"}
    return await gateway.post("/api/v1/products", content=json.dumps(body), headers=headers)


MULTI_LINE_REFUSED = ["Fine\x00", "Fine\x1b[2J", "Fine\rover", "Fine\x0bvertical", "Fine\x9b", "Fine\udc00"]


@pytest.mark.parametrize("name", SINGLE_LINE_REFUSED)
async def test_control_characters_in_a_product_name_are_422_and_nothing_is_stored(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database, name: str
) -> None:
    body = valid_body(name=name)
    response = await post_product(gateway, admin, body)
    assert response.status_code == 422, repr(name)
    assert [error["loc"] for error in response.json()["errors"]] == [["body", "name"]]
    assert await db.products.count_documents({"sku": body["sku"]}) == 0


@pytest.mark.parametrize("description", MULTI_LINE_REFUSED)
async def test_control_characters_in_a_description_are_422(
    gateway: httpx.AsyncClient, admin: dict[str, str], description: str
) -> None:
    response = await post_product(gateway, admin, valid_body(description=description))
    assert response.status_code == 422, repr(description)


async def test_a_description_keeps_its_lines_and_tabs(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    product = await make_product(gateway, admin, description="Line one\n\tindented\r\nWindows line")
    stored = await db.products.find_one({"_id": ObjectId(product["id"])})
    assert stored is not None
    assert stored["description"] == "Line one\n\tindented\nWindows line"


async def test_a_patch_and_a_category_refuse_control_characters_too(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    product = await make_product(gateway, admin, name="Plain")
    patched = await gateway.patch(
        f"/api/v1/products/{product['id']}", json={"name": "Pl\x00ain"}, headers=admin
    )
    assert patched.status_code == 422
    assert (await gateway.get(f"/api/v1/products/{product['id']}")).json()["name"] == "Plain"
    category = await gateway.post(
        "/api/v1/categories", json={"slug": f"c-{ObjectId()}", "name": "Te\x00a"}, headers=admin
    )
    assert category.status_code == 422


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        ("Broken\x00", 422),
        ("\x1b[2J", 422),
        ("Broken\x85", 422),
        ("   ", 422),
        ("r" * 201, 422),
        ("Stocktake\n\tshelf 4", 200),
    ],
)
async def test_stock_adjustment_reasons(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database, reason: str, status: int
) -> None:
    product = await make_product(gateway, admin, stock=5)
    response = await gateway.post(
        f"/api/v1/products/{product['id']}/stock-adjustments",
        json={"delta": 1, "reason": reason},
        headers=admin,
    )
    assert response.status_code == status, response.text
    stored = await db.stock_adjustments.count_documents({"product_id": ObjectId(product["id"])})
    assert stored == (1 if status == 200 else 0)


@pytest.mark.parametrize(
    "overrides",
    [
        {"price": {"amount": MAX_AMOUNT + 1, "currency": "BDT"}},
        {"stock": MAX_STOCK + 1},
        {"images": ["https://images.example.com/a.png"] * 11},
        {"description": "d" * 5001},
        {"sku": "S" * 65},
    ],
)
async def test_numbers_lists_and_strings_have_bounds(
    gateway: httpx.AsyncClient, admin: dict[str, str], overrides: dict[str, Any]
) -> None:
    response = await gateway.post("/api/v1/products", json=valid_body(**overrides), headers=admin)
    assert response.status_code == 422


async def test_stock_cannot_be_raised_above_the_maximum(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    product = await make_product(
        gateway, admin, stock=MAX_STOCK - 1, price={"amount": MAX_AMOUNT, "currency": "BDT"}
    )
    path = f"/api/v1/products/{product['id']}/stock-adjustments"
    over = await gateway.post(path, json={"delta": 2, "reason": "too many"}, headers=admin)
    assert over.status_code == 409
    assert (over.json()["type"], over.json()["limit"]) == ("/problems/stock-too-large", MAX_STOCK)
    up_to = await gateway.post(path, json={"delta": 1, "reason": "exactly"}, headers=admin)
    assert (up_to.status_code, up_to.json()["stock"]) == (200, MAX_STOCK)
    assert await db.stock_adjustments.count_documents({"product_id": ObjectId(product["id"])}) == 1


async def test_a_stored_product_beyond_the_bounds_still_reads(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    product = await make_product(gateway, admin)
    await db.products.update_one(
        {"_id": ObjectId(product["id"])}, {"$set": {"price.amount": 2**62, "stock": 2**62}}
    )
    response = await gateway.get(f"/api/v1/products/{product['id']}")
    assert response.status_code == 200, response.text
    assert (response.json()["price"]["amount"], response.json()["stock"]) == (2**62, 2**62)
