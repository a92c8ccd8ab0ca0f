"""Refunds through the gateway (sandbox provider): validated, exactly once, stock back exactly once."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from bson import ObjectId

from shared.db import Database
from tests.builders import customer_headers, make_product, place_order, stock_of
from tests.payment.sandbox import complete, pay, refund


async def paid_order(gateway: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    """An order of 3 teas (500 each) and 2 cups (1000 each), paid with the sandbox: 3500 captured."""
    tea = await make_product(gateway, admin, stock=10, price={"amount": 500, "currency": "BDT"})
    cup = await make_product(gateway, admin, stock=10, price={"amount": 1000, "currency": "BDT"})
    buyer = await customer_headers(gateway)
    order = (await place_order(gateway, buyer, [(tea["id"], 3), (cup["id"], 2)])).json()
    payment = (await pay(gateway, buyer, order["id"])).json()
    assert (await complete(gateway, buyer, payment["id"])).json()["status"] == "succeeded"
    return {"tea": tea, "cup": cup, "buyer": buyer, "order": order, "payment": payment}


async def test_partial_refund_with_restock_then_the_rest(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    paid = await paid_order(gateway, admin)
    payment_id, tea = paid["payment"]["id"], paid["tea"]
    assert await stock_of(db, tea["id"]) == 7

    first = await refund(
        gateway, admin, payment_id, {"items": [{"product_id": tea["id"], "quantity": 2}], "reason": "broken"}
    )
    assert first.status_code == 201, first.text
    assert (first.json()["status"], first.json()["amount"]["amount"]) == ("succeeded", 1000)
    assert await stock_of(db, tea["id"]) == 9
    payment = (await gateway.get(f"/api/v1/payments/{payment_id}", headers=paid["buyer"])).json()
    assert (payment["status"], payment["refunded"]["amount"]) == ("partially_refunded", 1000)
    order = (await gateway.get(f"/api/v1/orders/{paid['order']['id']}", headers=paid["buyer"])).json()
    assert order["status"] == "partially_refunded"

    rest = await refund(gateway, admin, payment_id, {"reason": "goodwill"})
    assert rest.json()["amount"]["amount"] == 2500
    payment = (await gateway.get(f"/api/v1/payments/{payment_id}", headers=admin)).json()
    assert (payment["status"], payment["refunded"]["amount"]) == ("refunded", 3500)
    assert (await gateway.get(f"/api/v1/orders/{paid['order']['id']}", headers=admin)).json()[
        "status"
    ] == "refunded"
    assert await stock_of(db, tea["id"]) == 9  # a money-only refund returns no units


async def test_limits_are_named(gateway: httpx.AsyncClient, admin: dict[str, str], db: Database) -> None:
    paid = await paid_order(gateway, admin)
    payment_id, tea = paid["payment"]["id"], paid["tea"]
    too_much = await refund(gateway, admin, payment_id, {"amount": 3501, "reason": "x"})
    assert too_much.status_code == 422
    assert too_much.json()["type"] == "/problems/refund-exceeds-refundable"
    assert too_much.json()["refundable"] == {"amount": 3500, "currency": "BDT"}
    too_many = await refund(
        gateway,
        admin,
        payment_id,
        {"amount": 100, "items": [{"product_id": tea["id"], "quantity": 4}], "reason": "x"},
    )
    assert too_many.status_code == 422
    assert too_many.json()["type"] == "/problems/restock-exceeds-sold"
    never_sold = await refund(
        gateway,
        admin,
        payment_id,
        {"amount": 100, "items": [{"product_id": str(ObjectId()), "quantity": 1}], "reason": "x"},
    )
    assert never_sold.status_code == 422
    assert await stock_of(db, tea["id"]) == 7
    assert await db.refunds.count_documents({"payment_id": ObjectId(payment_id)}) == 0


async def test_a_retried_refund_has_one_effect(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    paid = await paid_order(gateway, admin)
    body = {"items": [{"product_id": paid["cup"]["id"], "quantity": 1}], "reason": "late"}
    responses = await asyncio.gather(
        *(refund(gateway, admin, paid["payment"]["id"], body, key="r-1") for _ in range(5))
    )
    assert {response.status_code for response in responses} == {201}
    assert len({response.json()["id"] for response in responses}) == 1
    assert await stock_of(db, paid["cup"]["id"]) == 9
    other_body = await refund(gateway, admin, paid["payment"]["id"], {"amount": 5, "reason": "x"}, key="r-1")
    assert other_body.status_code == 422


async def test_racing_refunds_never_exceed_the_capture(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    paid = await paid_order(gateway, admin)
    payment_id = paid["payment"]["id"]
    responses = await asyncio.gather(
        *(refund(gateway, admin, payment_id, {"amount": 1000, "reason": "race"}) for _ in range(6))
    )
    assert sorted(response.status_code for response in responses) == [201, 201, 201, 422, 422, 422]
    stored = await db.payments.find_one({"_id": ObjectId(payment_id)})
    assert stored is not None
    assert (stored["refunded_amount"], stored["refund_pending_amount"]) == (3000, 0)


async def test_racing_restocks_never_return_more_than_sold(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    paid = await paid_order(gateway, admin)
    body = {"amount": 1, "items": [{"product_id": paid["tea"]["id"], "quantity": 2}], "reason": "race"}
    responses = await asyncio.gather(*(refund(gateway, admin, paid["payment"]["id"], body) for _ in range(4)))
    assert sorted(response.status_code for response in responses) == [201, 422, 422, 422]
    assert await stock_of(db, paid["tea"]["id"]) == 9


async def test_only_admins_refund_and_only_captured_money(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    paid = await paid_order(gateway, admin)
    as_customer = await refund(gateway, paid["buyer"], paid["payment"]["id"], {"reason": "mine"})
    assert as_customer.status_code == 403
    product = await make_product(gateway, admin, stock=5)
    buyer = await customer_headers(gateway)
    order = (await place_order(gateway, buyer, [(product["id"], 1)])).json()
    unpaid = (await pay(gateway, buyer, order["id"])).json()
    refused = await refund(gateway, admin, unpaid["id"], {"reason": "nothing captured"})
    assert refused.status_code == 409
    assert refused.json()["type"] == "/problems/payment-not-refundable"
    assert (await refund(gateway, admin, str(ObjectId()), {"reason": "x"})).status_code == 404
    missing_key = await gateway.post(
        f"/api/v1/payments/{paid['payment']['id']}/refunds", json={"reason": "x"}, headers=admin
    )
    assert missing_key.status_code == 400
