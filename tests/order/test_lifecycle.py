"""Cancel, expiry and fulfilment: stock comes back exactly once, whoever races whom."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient

from devstack.stack import Stack
from services.order.orders.checkout import OrderContext
from services.order.orders.lifecycle import expire_order
from services.order.settings import OrderSettings
from shared.clock import utcnow
from shared.db import Database, MongoClient
from tests.builders import customer_headers, make_product, place_order, stock_of
from tests.conftest import stack_settings


async def new_order(
    gateway: httpx.AsyncClient, admin: dict[str, str], stock: int = 10, quantity: int = 3
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    product = await make_product(gateway, admin, stock=stock)
    buyer = await customer_headers(gateway)
    response = await place_order(gateway, buyer, [(product["id"], quantity)])
    assert response.status_code == 201, response.text
    return response.json(), product, buyer


async def make_overdue(db: Database, order_id: str) -> None:
    await db.orders.update_one(
        {"_id": ObjectId(order_id)}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}}
    )


async def mark_paid(db: Database, order_id: str) -> None:
    """What the payment service's settlement does to a pending order its payment paid."""
    paid = {"status": "paid", "fulfilment_status": "paid", "money_status": "paid"}
    pending = {"_id": ObjectId(order_id), "status": "pending_payment"}
    moved = await db.orders.update_one(pending, {"$set": paid})
    assert moved.modified_count == 1


async def wait_for_status(db: Database, order_id: str, status: str, seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.1)):
        doc = await db.orders.find_one({"_id": ObjectId(order_id)})
        if doc is not None and doc["status"] == status:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"order {order_id} did not become {status}")


async def test_customer_cancel_restocks(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    order, product, buyer = await new_order(gateway, admin)
    assert await stock_of(db, product["id"]) == 7
    response = await gateway.post(f"/api/v1/orders/{order['id']}/cancel", headers=buyer)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["expires_at"] is None
    assert [entry["status"] for entry in body["history"]] == ["pending_payment", "cancelled"]
    assert await stock_of(db, product["id"]) == 10
    again = await gateway.post(f"/api/v1/orders/{order['id']}/cancel", headers=buyer)
    assert again.status_code == 409
    assert again.json()["type"] == "/problems/illegal-transition"
    assert await stock_of(db, product["id"]) == 10


async def test_the_reaper_expires_overdue_orders_and_restocks(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    order, product, buyer = await new_order(gateway, admin)
    await make_overdue(db, order["id"])
    await wait_for_status(db, order["id"], "expired")
    assert await stock_of(db, product["id"]) == 10
    events = [
        event["type"] for event in await db.outbox.find({"aggregate_id": ObjectId(order["id"])}).to_list()
    ]
    assert events == ["OrderPlaced", "OrderExpired"]
    cancel = await gateway.post(f"/api/v1/orders/{order['id']}/cancel", headers=buyer)
    assert cancel.status_code == 409


@pytest.fixture
async def order_context(stack: Stack, database_name: str) -> Any:
    client: MongoClient = AsyncMongoClient(stack.mongodb_url, tz_aware=True)
    settings = OrderSettings(_env_file=None, env="test", data_dir=stack.settings.data_dir)
    yield OrderContext(client, client[database_name], settings)
    await client.close()


async def test_cancel_and_expiry_racing_restock_once(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database, order_context: OrderContext
) -> None:
    for _ in range(5):
        order, product, buyer = await new_order(gateway, admin)
        await make_overdue(db, order["id"])
        results = await asyncio.gather(
            gateway.post(f"/api/v1/orders/{order['id']}/cancel", headers=buyer),
            *(expire_order(order_context, ObjectId(order["id"])) for _ in range(4)),
        )
        cancel, *expiries = results
        assert isinstance(cancel, httpx.Response)
        winners = (cancel.status_code == 200) + sum(1 for won in expiries if won)
        # The stack's own reaper (sweeping twice a second) races for the overdue order too, so the
        # winner may be none of these calls; exactly one close, by anyone, is what must hold.
        assert winners <= 1
        stored = await db.orders.find_one({"_id": ObjectId(order["id"])})
        assert stored is not None
        closes = [entry for entry in stored["history"] if entry["status"] in ("cancelled", "expired")]
        assert len(closes) == 1
        assert stored["status"] == closes[0]["status"]
        assert await stock_of(db, product["id"]) == 10


@pytest.fixture(scope="module")
def second_reaper(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Another order-service replica on the same database, sweeping as often as the first."""
    root: Path = tmp_path_factory.mktemp("second-order")
    replica = Stack(stack_settings(root / "data"), log_dir=root / "logs")
    replica.child_env = dict(stack.child_env)
    try:
        replica.start_app("order", env={"ORDER_EXPIRY_SWEEP_SECONDS": "0.2"})
        yield replica
    finally:
        replica.stop()


async def test_two_reapers_restock_each_order_once(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database, second_reaper: Stack
) -> None:
    product = await make_product(gateway, admin, stock=40)
    # Five buyers with two orders each: one customer may not hold ten unpaid orders.
    buyers = [await customer_headers(gateway) for _ in range(5)]
    orders = []
    for number in range(10):
        response = await place_order(gateway, buyers[number % 5], [(product["id"], 2)])
        assert response.status_code == 201, response.text
        orders.append(response.json()["id"])
    assert await stock_of(db, product["id"]) == 20
    for order_id in orders:
        await make_overdue(db, order_id)
    for order_id in orders:
        await wait_for_status(db, order_id, "expired")
    assert await stock_of(db, product["id"]) == 40
    expiries = await db.outbox.count_documents(
        {"type": "OrderExpired", "aggregate_id": {"$in": [ObjectId(order_id) for order_id in orders]}}
    )
    assert expiries == 10


async def test_a_paid_order_is_not_expired(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database, order_context: OrderContext
) -> None:
    order, product, _ = await new_order(gateway, admin)
    await mark_paid(db, order["id"])
    await make_overdue(db, order["id"])
    assert await expire_order(order_context, ObjectId(order["id"])) is False
    assert await stock_of(db, product["id"]) == 7


async def test_fulfilment_steps_in_order_only(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    order, _, buyer = await new_order(gateway, admin)
    path = f"/api/v1/orders/{order['id']}/status"
    early = await gateway.post(path, json={"status": "shipped"}, headers=admin)
    assert early.status_code == 409
    await mark_paid(db, order["id"])
    assert (await gateway.post(path, json={"status": "delivered"}, headers=admin)).status_code == 409
    shipped = await gateway.post(path, json={"status": "shipped"}, headers=admin)
    assert shipped.status_code == 200
    assert shipped.json()["history"][-1]["status"] == "shipped"
    assert (await gateway.post(path, json={"status": "delivered"}, headers=admin)).json()[
        "status"
    ] == "delivered"
    assert (await gateway.post(path, json={"status": "paid"}, headers=admin)).status_code == 422
    assert (await gateway.post(path, json={"status": "shipped"}, headers=buyer)).status_code == 403


async def test_racing_fulfilment_steps_only_one_wins(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    order, _, _ = await new_order(gateway, admin)
    await mark_paid(db, order["id"])
    path = f"/api/v1/orders/{order['id']}/status"
    responses = await asyncio.gather(
        *(gateway.post(path, json={"status": "shipped"}, headers=admin) for _ in range(5))
    )
    assert sorted(response.status_code for response in responses) == [200, 409, 409, 409, 409]
    stored = await db.orders.find_one({"_id": ObjectId(order["id"])})
    assert stored is not None
    assert [entry["status"] for entry in stored["history"]].count("shipped") == 1
