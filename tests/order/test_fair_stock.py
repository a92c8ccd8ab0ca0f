"""Fair stock: one customer's unpaid orders cannot hold a product out of stock for everyone else.

The limits are read from the running stack's settings, so these tests hold whatever the suite
configures (and use the shipped defaults when it configures nothing).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from bson import ObjectId

from devstack.stack import Stack
from services.order.settings import OrderSettings
from shared.db import Database
from tests.builders import Account, bearer, login, make_product, place_order, register, stock_of
from tests.order.test_lifecycle import make_overdue, wait_for_status


def stack_setting(stack: Stack, name: str) -> int:
    """An order-service setting as the running stack has it: its environment, else the default."""
    default = OrderSettings.model_fields[name].default
    return int(stack.child_env.get(name.upper(), default))


@pytest.fixture(scope="module")
def open_limit(stack: Stack) -> int:
    return stack_setting(stack, "order_max_open_per_customer")


@pytest.fixture(scope="module")
def units_limit(stack: Stack) -> int:
    return stack_setting(stack, "order_max_units_per_product")


async def shopper(gateway: httpx.AsyncClient) -> tuple[Account, dict[str, str]]:
    account = await register(gateway)
    return account, bearer(await login(gateway, account.email, account.password))


async def unpaid_orders(db: Database, user_id: str) -> list[dict[str, Any]]:
    return await db.orders.find({"user_id": user_id, "status": "pending_payment"}).to_list()


async def products(gateway: httpx.AsyncClient, admin: dict[str, str], count: int) -> list[str]:
    return [(await make_product(gateway, admin, stock=50))["id"] for _ in range(count)]


async def test_concurrent_checkouts_of_one_customer_stop_at_the_open_orders_limit(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database, open_limit: int
) -> None:
    # One product per attempt, one unit each: only the open-orders limit can refuse them.
    wanted = await products(gateway, admin, open_limit + 3)
    account, buyer = await shopper(gateway)
    responses = await asyncio.gather(*(place_order(gateway, buyer, [(pid, 1)]) for pid in wanted))

    codes = sorted(response.status_code for response in responses)
    assert codes == [201] * open_limit + [409] * 3, codes
    for refused in (response.json() for response in responses if response.status_code == 409):
        assert refused["type"] == "/problems/open-orders-limit"
        assert (refused["limit"], refused["held"]) == (open_limit, open_limit)
    assert len(await unpaid_orders(db, account.id)) == open_limit
    # Refused checkouts took nothing.
    taken = [pid for pid, response in zip(wanted, responses, strict=True) if response.status_code == 201]
    for pid in wanted:
        assert await stock_of(db, pid) == (49 if pid in taken else 50)


async def test_concurrent_checkouts_cannot_hold_more_units_than_the_limit(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database, units_limit: int, open_limit: int
) -> None:
    product = await make_product(gateway, admin, stock=units_limit * 5)
    quantity = units_limit // 3 + 1  # so that fewer orders fit than the open-orders limit allows
    fitting = units_limit // quantity
    assert fitting < open_limit
    account, buyer = await shopper(gateway)
    responses = await asyncio.gather(
        *(place_order(gateway, buyer, [(product["id"], quantity)]) for _ in range(fitting + 4))
    )

    assert sorted(response.status_code for response in responses) == [201] * fitting + [409] * 4
    for refused in (response.json() for response in responses if response.status_code == 409):
        assert (refused["type"], refused["limit"]) == ("/problems/held-units-limit", units_limit)
        [line] = refused["lines"]
        assert (line["product_id"], line["held"], line["requested"]) == (
            product["id"],
            fitting * quantity,
            quantity,
        )
    held = sum(line["quantity"] for order in await unpaid_orders(db, account.id) for line in order["items"])
    assert held == fitting * quantity
    assert await stock_of(db, product["id"]) == units_limit * 5 - held

    # Exactly up to the limit is allowed; one more unit is not.
    rest = units_limit - held
    if rest:
        assert (await place_order(gateway, buyer, [(product["id"], rest)])).status_code == 201
    over = await place_order(gateway, buyer, [(product["id"], 1)])
    assert over.status_code == 409
    assert over.json()["lines"][0]["held"] == units_limit
    # Another customer is not affected by this one's holdings.
    _, other = await shopper(gateway)
    assert (await place_order(gateway, other, [(product["id"], 1)])).status_code == 201


async def test_every_line_over_the_units_limit_is_named(
    gateway: httpx.AsyncClient, admin: dict[str, str], units_limit: int
) -> None:
    tea, cup, jug = await products(gateway, admin, 3)
    _, buyer = await shopper(gateway)
    assert (await place_order(gateway, buyer, [(tea, units_limit), (cup, units_limit)])).status_code == 201
    response = await place_order(gateway, buyer, [(tea, 1), (cup, 1), (jug, 1)])
    assert response.status_code == 409
    named = {line["product_id"]: line["held"] for line in response.json()["lines"]}
    assert named == {tea: units_limit, cup: units_limit}


async def test_a_line_above_the_line_quantity_limit_is_422(
    gateway: httpx.AsyncClient, admin: dict[str, str], stack: Stack, db: Database
) -> None:
    per_line = stack_setting(stack, "max_line_quantity")
    [product] = await products(gateway, admin, 1)
    _, buyer = await shopper(gateway)
    response = await place_order(gateway, buyer, [(product, per_line + 1)])
    assert response.status_code == 422
    cart = await gateway.put(f"/api/v1/cart/items/{product}", json={"quantity": per_line + 1}, headers=buyer)
    assert cart.status_code == 422
    assert await stock_of(db, product) == 50


async def test_cancelling_expiring_and_paying_each_free_a_slot(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database, open_limit: int
) -> None:
    wanted = await products(gateway, admin, open_limit + 4)
    account, buyer = await shopper(gateway)
    orders = []
    for pid in wanted[:open_limit]:
        placed = await place_order(gateway, buyer, [(pid, 1)])
        assert placed.status_code == 201, placed.text
        orders.append(placed.json()["id"])
    spare = iter(wanted[open_limit:])

    async def next_order_status() -> int:
        return (await place_order(gateway, buyer, [(next(spare), 1)])).status_code

    assert await next_order_status() == 409

    # An admin cancels one of the customer's orders: the slot is the customer's again.
    assert (await gateway.post(f"/api/v1/orders/{orders[0]}/cancel", headers=admin)).status_code == 200
    assert await next_order_status() == 201

    await make_overdue(db, orders[1])
    await wait_for_status(db, orders[1], "expired")
    assert await next_order_status() == 201

    # What the payment service's settlement does (tests/payment covers the provider side): a guarded
    # move to paid. A paid order holds its units for good, but no longer against the allowance.
    paid = await db.orders.update_one(
        {"_id": ObjectId(orders[2]), "status": "pending_payment"}, {"$set": {"status": "paid"}}
    )
    assert paid.modified_count == 1
    assert await next_order_status() == 201
    assert len(await unpaid_orders(db, account.id)) == open_limit


async def test_a_refused_checkout_keeps_its_idempotency_key_free(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database, units_limit: int
) -> None:
    [product] = await products(gateway, admin, 1)
    account, buyer = await shopper(gateway)
    first = await place_order(gateway, buyer, [(product, units_limit)])
    assert first.status_code == 201
    key = uuid.uuid4().hex
    assert (await place_order(gateway, buyer, [(product, 1)], key=key)).status_code == 409
    assert await db.idempotency_keys.count_documents({"user_id": account.id, "key": key}) == 0
    assert (
        await gateway.post(f"/api/v1/orders/{first.json()['id']}/cancel", headers=buyer)
    ).status_code == 200
    # The same request, retried with the same key once the customer has room, is placed.
    retried = await place_order(gateway, buyer, [(product, 1)], key=key)
    assert retried.status_code == 201
    assert await db.orders.count_documents({"_id": ObjectId(retried.json()["id"])}) == 1
