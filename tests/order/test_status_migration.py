"""Orders stored before fulfilment and money statuses existed: read correctly before the start-up
migration, given both statuses by it once (two replicas migrating at once included), and then moved
along like any other order."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from bson import ObjectId

from services.order.orders.migration import split_order_statuses
from shared.clock import utcnow
from shared.db import Database
from tests.builders import Account, bearer, login, register

# Old status, its history, and what the split must make of it: (fulfilment, money, status).
LEGACY = [
    ("pending_payment", ["pending_payment"], ("placed", "unpaid", "pending_payment")),
    ("paid", ["pending_payment", "paid"], ("paid", "paid", "paid")),
    ("shipped", ["pending_payment", "paid", "shipped"], ("shipped", "paid", "shipped")),
    ("cancelled", ["pending_payment", "cancelled"], ("cancelled", "unpaid", "cancelled")),
    # A refund used to overwrite the status: the history keeps how far the order had gone.
    (
        "partially_refunded",
        ["pending_payment", "paid", "shipped", "partially_refunded"],
        ("shipped", "partially_refunded", "shipped"),
    ),
    ("refunded", ["pending_payment", "paid", "refunded"], ("paid", "refunded", "refunded")),
]


def legacy_order(user_id: str, status: str, steps: list[str]) -> dict[str, Any]:
    now = utcnow()
    line = {
        "product_id": ObjectId(),
        "sku": "OLD-1",
        "name": "Stored long ago",
        "quantity": 1,
        "unit_price": {"amount": 1000, "currency": "BDT"},
        "line_total": {"amount": 1000, "currency": "BDT"},
        "restocked_quantity": 0,
    }
    return {
        "_id": ObjectId(),
        "user_id": user_id,
        "status": status,
        "items": [line],
        "total": {"amount": 1000, "currency": "BDT"},
        "created_at": now,
        "updated_at": now,
        "expires_at": now + timedelta(hours=1),  # never due for the reaper meanwhile
        "history": [{"status": step, "at": now, "by": user_id} for step in steps],
    }


async def test_orders_stored_before_the_split_are_read_and_migrated_once(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    account: Account = await register(gateway)
    buyer = bearer(await login(gateway, account.email, account.password))
    docs = [legacy_order(account.id, status, steps) for status, steps, _ in LEGACY]
    await db.orders.insert_many(docs)
    expected = {doc["_id"]: split for doc, (_, _, split) in zip(docs, LEGACY, strict=True)}

    # Read before any migration: both statuses derived from what is stored.
    for doc in docs:
        seen = (await gateway.get(f"/api/v1/orders/{doc['_id']}", headers=buyer)).json()
        assert (seen["fulfilment_status"], seen["money_status"]) == expected[doc["_id"]][:2]

    # Two replicas starting at once: every order is migrated by exactly one of them.
    unsplit = await db.orders.count_documents({"fulfilment_status": {"$exists": False}})
    assert sum(await asyncio.gather(split_order_statuses(db), split_order_statuses(db))) == unsplit
    stored = {doc["_id"]: doc async for doc in db.orders.find({"_id": {"$in": list(expected)}})}
    for order_id, (fulfilment, money, status) in expected.items():
        assert (stored[order_id]["fulfilment_status"], stored[order_id]["money_status"]) == (
            fulfilment,
            money,
        )
        assert stored[order_id]["status"] == status
    assert await split_order_statuses(db) == 0  # idempotent: nothing left, nothing changed again
    assert {doc["_id"]: doc async for doc in db.orders.find({"_id": {"$in": list(expected)}})} == stored

    # Migrated, the shipped order that was partly refunded is delivered like any other.
    shipped = docs[LEGACY.index(next(case for case in LEGACY if case[0] == "partially_refunded"))]
    path = f"/api/v1/orders/{shipped['_id']}/status"
    delivered = await gateway.post(path, json={"status": "delivered"}, headers=admin)
    assert delivered.status_code == 200, delivered.text
    assert (delivered.json()["status"], delivered.json()["money_status"]) == (
        "delivered",
        "partially_refunded",
    )
    await db.orders.delete_many({"_id": {"$in": list(expected)}})
