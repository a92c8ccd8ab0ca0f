"""Checkout through the gateway: no oversell, all or nothing, exactly once per Idempotency-Key."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from bson import ObjectId

from shared.db import Database
from tests.builders import customer_headers, make_product, place_order, stock_of


async def orders_for(db: Database, product_id: str) -> list[dict[str, object]]:
    return await db.orders.find({"items.product_id": ObjectId(product_id)}).to_list()


async def test_an_order_is_priced_by_the_server_and_takes_its_stock(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    tea = await make_product(gateway, admin, stock=5, price={"amount": 450, "currency": "BDT"})
    cup = await make_product(gateway, admin, stock=3, price={"amount": 1200, "currency": "BDT"})
    buyer = await customer_headers(gateway)
    response = await place_order(gateway, buyer, [(tea["id"], 2), (cup["id"], 1)])
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "pending_payment"
    assert order["total"] == {"amount": 2 * 450 + 1200, "currency": "BDT"}
    assert [line["unit_price"]["amount"] for line in order["items"]] == [450, 1200]
    assert order["expires_at"] is not None
    assert response.headers["location"] == f"/api/v1/orders/{order['id']}"
    assert (await stock_of(db, tea["id"]), await stock_of(db, cup["id"])) == (3, 2)
    events = await db.outbox.find({"aggregate_id": ObjectId(order["id"])}).to_list()
    assert [event["type"] for event in events] == ["OrderPlaced"]


async def test_a_client_cannot_send_a_price(gateway: httpx.AsyncClient, admin: dict[str, str]) -> None:
    tea = await make_product(gateway, admin)
    buyer = await customer_headers(gateway)
    body = {
        "items": [{"product_id": tea["id"], "quantity": 1, "unit_price": {"amount": 1, "currency": "BDT"}}]
    }
    response = await gateway.post(
        "/api/v1/orders", json=body, headers={**buyer, "Idempotency-Key": "k-price"}
    )
    assert response.status_code == 422


async def test_the_last_units_race_sells_exactly_the_stock(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    hot = await make_product(gateway, admin, stock=7)
    other = await make_product(gateway, admin, stock=4)
    buyers = [await customer_headers(gateway) for _ in range(6)]
    # 24 attempts: single units of `hot`, and two-line orders of both hot products.
    attempts = [
        (buyers[n % 6], [(hot["id"], 1)] if n % 2 else [(hot["id"], 1), (other["id"], 1)]) for n in range(24)
    ]
    responses = await asyncio.gather(*(place_order(gateway, headers, items) for headers, items in attempts))
    codes = [response.status_code for response in responses]
    assert set(codes) <= {201, 409}, codes
    assert all(r.json()["type"] == "/problems/insufficient-stock" for r in responses if r.status_code == 409)

    sold_hot = sold_other = 0
    for order in await orders_for(db, hot["id"]):
        for line in order["items"]:  # type: ignore[attr-defined]
            sold_hot += line["quantity"] if str(line["product_id"]) == hot["id"] else 0
            sold_other += line["quantity"] if str(line["product_id"]) == other["id"] else 0
    assert sold_hot == 7, "exactly the stock of the hot product was sold"
    assert await stock_of(db, hot["id"]) == 0
    assert sold_other + await stock_of(db, other["id"]) == 4
    assert codes.count(201) == len(await orders_for(db, hot["id"]))
    # No order is half-made: every order holds all the lines it was asked for.
    for response, (_, items) in zip(responses, attempts, strict=True):
        if response.status_code == 201:
            assert len(response.json()["items"]) == len(items)


async def test_one_short_line_orders_nothing_and_names_every_short_line(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    plenty = await make_product(gateway, admin, stock=50)
    scarce = await make_product(gateway, admin, stock=1)
    empty = await make_product(gateway, admin, stock=0)
    buyer = await customer_headers(gateway)
    response = await place_order(gateway, buyer, [(plenty["id"], 2), (scarce["id"], 3), (empty["id"], 1)])
    assert response.status_code == 409
    short = {line["product_id"]: line for line in response.json()["lines"]}
    assert set(short) == {scarce["id"], empty["id"]}
    assert (short[scarce["id"]]["requested"], short[scarce["id"]]["available"]) == (3, 1)
    assert (await stock_of(db, plenty["id"]), await stock_of(db, scarce["id"])) == (50, 1)
    assert await orders_for(db, plenty["id"]) == []


async def test_a_failing_write_mid_transaction_leaves_nothing_behind(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    good = await make_product(gateway, admin, stock=10)
    # A corrupt product (stock stored as text) whose decrement fails after `good`'s succeeded:
    # ids are decremented in order, and this id is newer.
    broken_id = ObjectId()
    await db.products.insert_one(
        {
            "_id": broken_id,
            "sku": f"BROKEN-{broken_id}",
            "name": "Broken",
            "price": {"amount": 100, "currency": "BDT"},
            "stock": "ten",
            "active": True,
            "version": 1,
        }
    )
    buyer = await customer_headers(gateway)
    key = uuid.uuid4().hex
    try:
        response = await place_order(gateway, buyer, [(good["id"], 2), (str(broken_id), 1)], key=key)
    finally:
        # Left in the catalog it would break every later listing that reaches it (it lacks timestamps).
        await db.products.delete_one({"_id": broken_id})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "ten" not in response.text
    assert await stock_of(db, good["id"]) == 10
    assert await orders_for(db, good["id"]) == []
    assert await db.idempotency_keys.count_documents({"key": key}) == 0


async def test_the_same_key_returns_the_same_order_once(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    tea = await make_product(gateway, admin, stock=10)
    buyer = await customer_headers(gateway)
    first = await place_order(gateway, buyer, [(tea["id"], 2)], key="retry-me")
    again = await place_order(gateway, buyer, [(tea["id"], 2)], key="retry-me")
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert await stock_of(db, tea["id"]) == 8

    different = await place_order(gateway, buyer, [(tea["id"], 3)], key="retry-me")
    assert different.status_code == 422
    assert different.json()["type"] == "/problems/idempotency-key-reused"
    # Keys are per user: another customer's identical key is a different order.
    other = await place_order(gateway, await customer_headers(gateway), [(tea["id"], 2)], key="retry-me")
    assert other.status_code == 201
    assert other.json()["id"] != first.json()["id"]


async def test_concurrent_retries_with_one_key_have_one_effect(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    tea = await make_product(gateway, admin, stock=100)
    buyer = await customer_headers(gateway)
    responses = await asyncio.gather(
        *(place_order(gateway, buyer, [(tea["id"], 1)], key="same") for _ in range(8))
    )
    assert [response.status_code for response in responses] == [201] * 8
    assert len({response.json()["id"] for response in responses}) == 1
    assert await stock_of(db, tea["id"]) == 99
    assert len(await orders_for(db, tea["id"])) == 1


async def test_a_missing_idempotency_key_is_400(gateway: httpx.AsyncClient, admin: dict[str, str]) -> None:
    tea = await make_product(gateway, admin)
    buyer = await customer_headers(gateway)
    body = {"items": [{"product_id": tea["id"], "quantity": 1}]}
    response = await gateway.post("/api/v1/orders", json=body, headers=buyer)
    assert response.status_code == 400
    assert response.json()["type"] == "/problems/idempotency-key-required"


async def test_checkout_from_the_cart_removes_what_was_ordered(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    tea = await make_product(gateway, admin, stock=10)
    buyer = await customer_headers(gateway)
    await gateway.put(f"/api/v1/cart/items/{tea['id']}", json={"quantity": 3}, headers=buyer)
    response = await gateway.post(
        "/api/v1/orders", json={"from_cart": True}, headers={**buyer, "Idempotency-Key": "cart-1"}
    )
    assert response.status_code == 201
    assert [(line["product_id"], line["quantity"]) for line in response.json()["items"]] == [(tea["id"], 3)]
    assert (await gateway.get("/api/v1/cart", headers=buyer)).json()["items"] == []
    assert await stock_of(db, tea["id"]) == 7
    empty = await gateway.post(
        "/api/v1/orders", json={"from_cart": True}, headers={**buyer, "Idempotency-Key": "cart-2"}
    )
    assert empty.status_code == 422
    assert empty.json()["type"] == "/problems/empty-cart"
