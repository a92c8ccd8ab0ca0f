"""Fulfilment and money are two statuses of an order, moved apart: a partly refunded order still
ships and is delivered, a delivered order can be partly (and then fully) refunded, neither overwrites
the other, and `status` keeps summing them up for existing clients (sandbox payments, main stack)."""

from __future__ import annotations

from typing import Any

import httpx
from bson import ObjectId

from shared.db import Database
from tests.builders import stock_of
from tests.payment.sandbox import refund
from tests.payment.test_refunds import paid_order


async def step(
    gateway: httpx.AsyncClient, admin: dict[str, str], order_id: str, status: str
) -> httpx.Response:
    return await gateway.post(f"/api/v1/orders/{order_id}/status", json={"status": status}, headers=admin)


async def order_of(gateway: httpx.AsyncClient, headers: dict[str, str], order_id: str) -> dict[str, Any]:
    seen = await gateway.get(f"/api/v1/orders/{order_id}", headers=headers)
    assert seen.status_code == 200, seen.text
    order: dict[str, Any] = seen.json()
    return order


def three(order: dict[str, Any]) -> tuple[str, str, str]:
    return order["status"], order["fulfilment_status"], order["money_status"]


async def test_a_partly_refunded_order_ships_and_a_delivered_one_is_refunded(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    paid = await paid_order(gateway, admin)  # 3 teas at 500 and 2 cups at 1000 BDT
    order_id, payment_id, buyer, tea, cup = (
        paid["order"]["id"], paid["payment"]["id"], paid["buyer"], paid["tea"], paid["cup"],
    )  # fmt: skip
    assert three(await order_of(gateway, buyer, order_id)) == ("paid", "paid", "paid")

    broken = {"items": [{"product_id": tea["id"], "quantity": 1}], "reason": "broken in the box"}
    assert (await refund(gateway, admin, payment_id, broken)).status_code == 201
    assert three(await order_of(gateway, buyer, order_id)) == (
        "partially_refunded",
        "paid",
        "partially_refunded",
    )

    shipped = await step(gateway, admin, order_id, "shipped")
    assert shipped.status_code == 200, shipped.text
    assert three(shipped.json()) == ("shipped", "shipped", "partially_refunded")
    delivered = await step(gateway, admin, order_id, "delivered")
    assert three(delivered.json()) == ("delivered", "delivered", "partially_refunded")

    returned = {"items": [{"product_id": cup["id"], "quantity": 1}], "reason": "returned after delivery"}
    assert (await refund(gateway, admin, payment_id, returned)).status_code == 201
    assert three(await order_of(gateway, buyer, order_id)) == ("delivered", "delivered", "partially_refunded")
    assert (await stock_of(db, tea["id"]), await stock_of(db, cup["id"])) == (8, 9)

    rest = await refund(gateway, admin, payment_id, {"reason": "goodwill"})
    assert rest.json()["amount"] == {"amount": 2000, "currency": "BDT"}
    final = await order_of(gateway, buyer, order_id)
    assert three(final) == ("refunded", "delivered", "refunded")
    assert [(entry["fulfilment_status"], entry["money_status"]) for entry in final["history"]] == [
        ("placed", "unpaid"),
        ("paid", "paid"),
        ("paid", "partially_refunded"),
        ("shipped", "partially_refunded"),
        ("delivered", "partially_refunded"),
        ("delivered", "partially_refunded"),
        ("delivered", "refunded"),
    ]
    issued = await db.payment_outbox.find(
        {"type": "RefundIssued", "payment_id": ObjectId(payment_id)}
    ).to_list()
    assert [(event["amount"], event["currency"]) for event in issued] == [
        (500, "BDT"),
        (1000, "BDT"),
        (2000, "BDT"),
    ]


async def test_a_fully_refunded_order_is_not_shipped(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    paid = await paid_order(gateway, admin)
    order_id = paid["order"]["id"]
    assert (
        await refund(gateway, admin, paid["payment"]["id"], {"reason": "out of stock"})
    ).status_code == 201
    refused = await step(gateway, admin, order_id, "shipped")
    assert refused.status_code == 409
    problem = refused.json()
    assert (problem["type"], problem["fulfilment_status"], problem["money_status"]) == (
        "/problems/illegal-transition",
        "paid",
        "refunded",
    )
    assert three(await order_of(gateway, admin, order_id)) == ("refunded", "paid", "refunded")


async def test_admins_list_orders_by_fulfilment_and_money_status(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    to_ship = await paid_order(gateway, admin)
    customer = to_ship["order"]["user_id"]

    async def listed(**filters: str) -> set[str]:
        answer = await gateway.get("/api/v1/orders", params={"customer": customer, **filters}, headers=admin)
        assert answer.status_code == 200, answer.text
        return {order["id"] for order in answer.json()["items"]}

    assert await listed(fulfilment_status="paid") == {to_ship["order"]["id"]}
    assert await listed(money_status="partially_refunded") == set()
    await refund(gateway, admin, to_ship["payment"]["id"], {"amount": 100, "reason": "late"})
    assert await listed(fulfilment_status="paid", money_status="partially_refunded") == {
        to_ship["order"]["id"]
    }
    assert (await step(gateway, admin, to_ship["order"]["id"], "shipped")).status_code == 200
    assert await listed(fulfilment_status="paid") == set()
    assert await listed(fulfilment_status="shipped", status="shipped") == {to_ship["order"]["id"]}
