"""What the load test starts from: the demo catalog stored in the database, an admin's session, and
shoppers' accounts registered and logged in through the gateway (each login is an Argon2 hash, so
they are made before the clock starts), written to the JSON file the locustfile reads."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
from bson import ObjectId

from bench.catalog_data import seed
from shared.db import Database

# Registrations and logins at once (each an Argon2 hash of ~64 MiB).
SIGN_UP_CONCURRENCY = 4
HOT_PRODUCTS = 40  # what shoppers put in carts and buy: contended, as popular products are
HOT_STOCK = 400  # each hot product's starting stock (the admin restocks them meanwhile)
HOT_CURRENCY = "BDT"
SEARCH_WORDS = 40


@dataclass(frozen=True)
class Fixture:
    data: dict[str, Any]  # what the locustfile reads
    starting_stock: dict[ObjectId, int]  # every product's stock before the load (for the audit)


async def prepare(
    gateway_url: str, db: Database, products: int, accounts: int, admin: tuple[str, str]
) -> Fixture:
    await seed(db, products)
    shown = {"stock": 1, "category": 1, "name": 1, "active": 1, "price.currency": 1}
    stored = await db.products.find({}, shown).to_list()
    active = [product for product in stored if product["active"]]
    # One order is in one currency (mixing them is a 422 by design), so the products shoppers buy
    # together are all priced in the shop's own currency; imported items stay in the browsing mix.
    in_stock = [
        product for product in active if product["stock"] > 0 and product["price"]["currency"] == HOT_CURRENCY
    ]
    hot = [product["_id"] for product in in_stock[:: max(1, len(in_stock) // HOT_PRODUCTS)][:HOT_PRODUCTS]]
    await db.products.update_many({"_id": {"$in": hot}}, {"$set": {"stock": HOT_STOCK}})
    starting = {product["_id"]: product["stock"] for product in stored} | dict.fromkeys(hot, HOT_STOCK)
    words = Counter(word.lower() for product in stored for word in product["name"].split() if len(word) > 3)
    password = secrets.token_urlsafe(24)
    async with httpx.AsyncClient(base_url=gateway_url, timeout=120) as client:
        admin_session = await log_in(client, *admin)
        gate = asyncio.Semaphore(SIGN_UP_CONCURRENCY)
        sessions = await asyncio.gather(
            *(sign_up(client, gate, number, password) for number in range(accounts))
        )
    data = {
        "password": password,
        "admin": {**admin_session, "email": admin[0], "password": admin[1]},
        "sessions": sessions,
        "products": [str(product["_id"]) for product in active],
        "hot": [str(product_id) for product_id in hot],
        "categories": sorted({product["category"] for product in active}),
        "words": [word for word, _ in words.most_common(SEARCH_WORDS)],
    }
    return Fixture(data, starting)


async def sign_up(
    client: httpx.AsyncClient, gate: asyncio.Semaphore, number: int, password: str
) -> dict[str, Any]:
    email = f"shopper-{number}-{secrets.token_hex(3)}@example.com"
    async with gate:
        registered = await client.post(
            "/api/v1/auth/register", json={"email": email, "password": password, "name": f"Shopper {number}"}
        )
        registered.raise_for_status()
        return {"email": email, **await log_in(client, email, password)}


async def log_in(client: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    response.raise_for_status()
    body = response.json()
    return {
        "access_token": body["access_token"],
        "refresh_token": body["refresh_token"],
        "expires_in": body["expires_in"],
        "issued_at": time.time(),
    }
