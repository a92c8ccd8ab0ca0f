"""Money and size bounds: oversized requests are refused small and early, totals above the maximum
are refused before anything is written, and whatever is stored can always be read back."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
from bson import ObjectId

from shared.clock import utcnow
from shared.db import Database
from shared.money import INT64_MAX, MAX_AMOUNT
from tests.builders import Account, bearer, login, make_product, place_order, register, stock_of

MAX_PRICE = {"amount": MAX_AMOUNT, "currency": "BDT"}


async def shopper(gateway: httpx.AsyncClient) -> tuple[Account, dict[str, str]]:
    account = await register(gateway)
    return account, bearer(await login(gateway, account.email, account.password))


async def test_an_order_of_a_hundred_thousand_items_gets_one_small_422(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    _, buyer = await shopper(gateway)
    body = '{"items":[' + ",".join(["{       }"] * 100_000) + "]}"
    assert 900_000 < len(body) <= 1024 * 1024  # just inside the gateway's body limit
    response = await gateway.post(
        "/api/v1/orders",
        content=body,
        headers={**buyer, "Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 422
    assert len(response.content) < 20_000
    errors = response.json()["errors"]
    assert [(error["loc"], error["type"]) for error in errors] == [(["body", "items"], "too_long")]


async def test_a_total_above_the_maximum_is_refused_before_anything_is_written(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    product = await make_product(gateway, admin, stock=10, price=MAX_PRICE)
    account, buyer = await shopper(gateway)
    key = uuid.uuid4().hex
    response = await place_order(gateway, buyer, [(product["id"], 2)], key=key)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert (problem["type"], problem["limit"]) == ("/problems/total-too-large", MAX_AMOUNT)
    assert await stock_of(db, product["id"]) == 10
    assert await db.orders.count_documents({"user_id": account.id}) == 0
    assert await db.idempotency_keys.count_documents({"user_id": account.id}) == 0

    # Exactly the maximum is an order like any other, readable everywhere.
    placed = await place_order(gateway, buyer, [(product["id"], 1)])
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["total"] == MAX_PRICE
    assert (await gateway.get(f"/api/v1/orders/{order['id']}", headers=buyer)).status_code == 200
    listed = await gateway.get(f"/api/v1/orders?customer={account.id}", headers=admin)
    assert [item["total"] for item in listed.json()["items"]] == [MAX_PRICE]
    cancelled = await gateway.post(f"/api/v1/orders/{order['id']}/cancel", headers=buyer)
    assert cancelled.status_code == 200
    assert await stock_of(db, product["id"]) == 10


async def test_a_cart_above_the_maximum_is_refused_and_checkout_from_it_too(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    dear = await make_product(gateway, admin, stock=10, price=MAX_PRICE)
    also_dear = await make_product(gateway, admin, stock=10, price=MAX_PRICE)
    account, buyer = await shopper(gateway)
    doubled = await gateway.put(f"/api/v1/cart/items/{dear['id']}", json={"quantity": 2}, headers=buyer)
    assert doubled.status_code == 422
    assert doubled.json()["type"] == "/problems/total-too-large"
    assert (await gateway.get("/api/v1/cart", headers=buyer)).json()["items"] == []

    assert (
        await gateway.put(f"/api/v1/cart/items/{dear['id']}", json={"quantity": 1}, headers=buyer)
    ).status_code == 200
    second = await gateway.put(f"/api/v1/cart/items/{also_dear['id']}", json={"quantity": 1}, headers=buyer)
    assert second.status_code == 422
    cart = (await gateway.get("/api/v1/cart", headers=buyer)).json()
    assert [line["product_id"] for line in cart["items"]] == [dear["id"]]

    # The catalog cannot be trusted to keep a cart's total in bounds (a price can rise after a line
    # was added): a cart stored beyond it still reads, says why, and cannot be checked out.
    await db.carts.update_one(
        {"_id": account.id},
        {"$push": {"items": {"product_id": ObjectId(also_dear["id"]), "quantity": 1, "added_at": utcnow()}}},
    )
    cart = (await gateway.get("/api/v1/cart", headers=buyer)).json()
    assert (cart["orderable"], cart["problems"]) == (False, ["total_too_large"])
    assert cart["totals"] == [{"amount": 2 * MAX_AMOUNT, "currency": "BDT"}]
    checkout = await gateway.post(
        "/api/v1/orders", json={"from_cart": True}, headers={**buyer, "Idempotency-Key": uuid.uuid4().hex}
    )
    assert checkout.status_code == 422
    assert checkout.json()["type"] == "/problems/total-too-large"
    assert (await stock_of(db, dear["id"]), await stock_of(db, also_dear["id"])) == (10, 10)
    assert await db.orders.count_documents({"user_id": account.id}) == 0


def huge_order(user_id: str) -> dict[str, Any]:
    """An order as no current write path would store it: amounts near the int64 maximum."""
    now = utcnow()
    huge = {"amount": INT64_MAX, "currency": "BDT"}
    return {
        "_id": ObjectId(),
        "user_id": user_id,
        "status": "paid",  # out of the reaper's and the fair-stock limits' way
        "items": [
            {
                "product_id": ObjectId(),
                "sku": "HUGE-1",
                "name": "Huge",
                "quantity": 2**62,
                "unit_price": huge,
                "line_total": huge,
                "restocked_quantity": 0,
            }
        ],
        "total": huge,
        "created_at": now,
        "updated_at": now,
        "expires_at": now,
        "history": [{"status": "pending_payment", "at": now, "by": user_id}],
    }


async def test_a_stored_order_with_huge_values_still_reads(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    account, buyer = await shopper(gateway)
    order = huge_order(account.id)
    await db.orders.insert_one(order)
    order_id = str(order["_id"])

    mine = await gateway.get(f"/api/v1/orders/{order_id}", headers=buyer)
    assert mine.status_code == 200, mine.text
    assert mine.json()["total"]["amount"] == INT64_MAX
    assert mine.json()["items"][0]["quantity"] == 2**62
    assert (await gateway.get(f"/api/v1/orders/{order_id}", headers=admin)).status_code == 200
    for path in (
        "/api/v1/orders?limit=100",
        f"/api/v1/orders?customer={account.id}",
        f"/api/v1/orders?customer={account.id}&status=paid",
    ):
        listed = await gateway.get(path, headers=admin)
        assert listed.status_code == 200, listed.text
        assert order_id in {item["id"] for item in listed.json()["items"]}
    assert (await gateway.get("/api/v1/orders", headers=buyer)).status_code == 200


async def test_a_stored_cart_with_huge_values_still_reads(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    dear = await make_product(gateway, admin, stock=10, price=MAX_PRICE)
    account, buyer = await shopper(gateway)
    await db.carts.insert_one(
        {
            "_id": account.id,
            "items": [{"product_id": ObjectId(dear["id"]), "quantity": 10**6, "added_at": utcnow()}],
            "updated_at": utcnow(),
        }
    )
    response = await gateway.get("/api/v1/cart", headers=buyer)
    assert response.status_code == 200, response.text
    [line] = response.json()["items"]
    assert line["line_total"]["amount"] == MAX_AMOUNT * 10**6
    assert "total_too_large" in line["problems"]
    assert response.json()["orderable"] is False


async def test_order_ids_carry_a_timestamp_but_cannot_be_guessed_from_each_other(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    product = await make_product(gateway, admin, stock=10)
    _, buyer = await shopper(gateway)
    first = (await place_order(gateway, buyer, [(product["id"], 1)])).json()["id"]
    second = (await place_order(gateway, buyer, [(product["id"], 1)])).json()["id"]
    a, b = ObjectId(first).binary, ObjectId(second).binary
    # Default ObjectIds of one process share bytes 4-8 and count up in bytes 9-11.
    assert a[4:9] != b[4:9]
    assert abs(int.from_bytes(b[:4], "big") - time.time()) < 300
    listed = (await gateway.get("/api/v1/orders", headers=buyer)).json()["items"]
    assert [order["id"] for order in listed] == [second, first]


async def test_an_order_of_nothing_to_pay_is_refused_and_so_is_paying_one(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    """No provider takes a payment of 0 (Stripe refuses it): checkout refuses such an order, and the
    payment service refuses to start a payment for one stored before (any provider, the sandbox too)."""
    account, buyer = await shopper(gateway)
    free = await make_product(gateway, admin, stock=5, price={"amount": 0, "currency": "BDT"})
    refused = await place_order(gateway, buyer, [(free["id"], 2)])
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"] == "/problems/zero-total"
    assert await stock_of(db, free["id"]) == 5
    assert await db.orders.count_documents({"user_id": account.id}) == 0
    # Priced alongside something, a free item is fine.
    paid_for = await make_product(gateway, admin, stock=5)
    assert (await place_order(gateway, buyer, [(free["id"], 1), (paid_for["id"], 1)])).status_code == 201

    nothing = {"amount": 0, "currency": "BDT"}
    later = utcnow() + timedelta(hours=1)  # out of the reaper's way meanwhile
    legacy = huge_order(account.id) | {"status": "pending_payment", "total": nothing, "expires_at": later}
    await db.orders.insert_one(legacy)
    payment = await gateway.post(
        "/api/v1/payments",
        json={"order_id": str(legacy["_id"]), "provider": "sandbox"},
        headers={**buyer, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert payment.status_code == 422, payment.text
    assert (payment.json()["type"], payment.json()["rule"]) == (
        "/problems/amount-not-representable",
        "sandbox takes positive amounts only",
    )
    assert await db.payments.count_documents({"order_id": legacy["_id"]}) == 0
    await db.orders.delete_one({"_id": legacy["_id"]})  # its stock is fictional: never to be returned
