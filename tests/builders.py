"""Small async builders for test data, all through the gateway's public API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from bson import ObjectId

from shared.db import Database

DEFAULT_PASSWORD = "a long and unusual test passphrase"  # pragma: allowlist secret


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    id: str


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


async def register(
    gateway: httpx.AsyncClient,
    *,
    email: str | None = None,
    password: str = DEFAULT_PASSWORD,
    name: str = "Test User",
) -> Account:
    email = email or unique_email()
    response = await gateway.post(
        "/api/v1/auth/register", json={"email": email, "password": password, "name": name}
    )
    assert response.status_code == 201, response.text
    return Account(email, password, response.json()["id"])


async def login(gateway: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    response = await gateway.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def make_category(
    gateway: httpx.AsyncClient, admin: dict[str, str], *, name: str = "Test category"
) -> str:
    slug = f"cat-{uuid.uuid4().hex[:10]}"
    response = await gateway.post("/api/v1/categories", json={"slug": slug, "name": name}, headers=admin)
    assert response.status_code == 201, response.text
    return slug


async def make_product(gateway: httpx.AsyncClient, admin: dict[str, str], **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sku": f"SKU-{uuid.uuid4().hex[:12]}",
        "name": "Test product",
        "description": "",
        "price": {"amount": 1000, "currency": "BDT"},
        "stock": 10,
        **fields,
    }
    response = await gateway.post("/api/v1/products", json=body, headers=admin)
    assert response.status_code == 201, response.text
    product: dict[str, Any] = response.json()
    return product


async def customer_headers(gateway: httpx.AsyncClient) -> dict[str, str]:
    """A new customer, logged in: their Authorization headers."""
    account = await register(gateway)
    return bearer(await login(gateway, account.email, account.password))


async def place_order(
    gateway: httpx.AsyncClient, headers: dict[str, str], items: list[tuple[str, int]], key: str | None = None
) -> httpx.Response:
    body = {"items": [{"product_id": product_id, "quantity": quantity} for product_id, quantity in items]}
    return await gateway.post(
        "/api/v1/orders", json=body, headers={**headers, "Idempotency-Key": key or uuid.uuid4().hex}
    )


async def stock_of(db: Database, product_id: str) -> int:
    """A product's stock as stored (what the tests of selling and returning units check)."""
    doc = await db.products.find_one({"_id": ObjectId(product_id)})
    assert doc is not None
    stock: int = doc["stock"]
    return stock
