"""Payments through the gateway with the sandbox provider: settlement once, paid-after-expiry,
reconciliation, isolation (only the owner or an admin settles; ids that cannot be guessed)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from bson import ObjectId

from services.payment.context import PaymentContext
from services.payment.payments.reconciliation import reconcile
from shared.clock import utcnow
from shared.db import Database
from tests.builders import customer_headers, stock_of
from tests.payment.sandbox import complete, ordered, pay, refund, stored


async def test_pay_an_order_with_the_sandbox(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    order, _, buyer = await ordered(gateway, admin)
    response = await pay(gateway, buyer, order["id"])
    assert response.status_code == 201, response.text
    payment = response.json()
    assert (payment["status"], payment["amount"]) == ("pending", {"amount": 5000, "currency": "BDT"})
    assert f"/api/v1/payments/sandbox/{payment['id']}/page?ticket=" in payment["redirect_url"]

    settled = await complete(gateway, buyer, payment["id"])
    assert settled.json()["status"] == "succeeded"
    paid = (await gateway.get(f"/api/v1/orders/{order['id']}", headers=buyer)).json()
    assert paid["status"] == "paid"
    assert paid["expires_at"] is None
    assert (await gateway.get(f"/api/v1/payments/{payment['id']}", headers=buyer)).json()[
        "status"
    ] == "succeeded"


async def test_settlement_happens_once_under_duplicates(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    order, _, buyer = await ordered(gateway, admin)
    payment = (await pay(gateway, buyer, order["id"])).json()
    results = await asyncio.gather(*(complete(gateway, buyer, payment["id"]) for _ in range(6)))
    assert all(result.status_code == 200 for result in results)
    stored = await db.payments.find_one({"_id": ObjectId(payment["id"])})
    assert stored is not None
    assert [entry["status"] for entry in stored["history"]] == ["pending", "succeeded"]
    placed = await db.orders.find_one({"_id": ObjectId(order["id"])})
    assert placed is not None
    assert [entry["status"] for entry in placed["history"]] == ["pending_payment", "paid"]
    assert await db.payment_outbox.count_documents({"payment_id": ObjectId(payment["id"])}) == 1


async def test_a_failure_after_a_success_changes_nothing(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    order, _, buyer = await ordered(gateway, admin)
    payment = (await pay(gateway, buyer, order["id"])).json()
    await complete(gateway, buyer, payment["id"], "succeeded")
    late_failure = await complete(gateway, buyer, payment["id"], "failed")
    assert late_failure.json()["status"] == "succeeded"


async def test_a_declined_payment_leaves_the_order_payable(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    order, _, buyer = await ordered(gateway, admin)
    first = (await pay(gateway, buyer, order["id"])).json()
    assert (await complete(gateway, buyer, first["id"], "failed")).json()["status"] == "failed"
    assert (await gateway.get(f"/api/v1/orders/{order['id']}", headers=buyer)).json()[
        "status"
    ] == "pending_payment"
    second = (await pay(gateway, buyer, order["id"])).json()
    assert (await complete(gateway, buyer, second["id"])).json()["status"] == "succeeded"


async def test_the_same_key_starts_one_payment(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    order, _, buyer = await ordered(gateway, admin)
    responses = await asyncio.gather(*(pay(gateway, buyer, order["id"], key="pay-once") for _ in range(5)))
    assert {response.status_code for response in responses} == {201}
    assert len({response.json()["id"] for response in responses}) == 1
    assert await db.payments.count_documents({"order_id": ObjectId(order["id"])}) == 1


async def test_only_the_owner_pays_and_sees_a_payment(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    order, _, buyer = await ordered(gateway, admin)
    stranger = await customer_headers(gateway)
    assert (await pay(gateway, stranger, order["id"])).status_code == 404
    payment = (await pay(gateway, buyer, order["id"])).json()
    assert (await gateway.get(f"/api/v1/payments/{payment['id']}", headers=stranger)).status_code == 404
    assert (await gateway.get(f"/api/v1/payments/{payment['id']}", headers=admin)).status_code == 200


async def test_unpayable_orders_and_unknown_providers(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    order, _, buyer = await ordered(gateway, admin)
    await gateway.post(f"/api/v1/orders/{order['id']}/cancel", headers=buyer)
    refused = await pay(gateway, buyer, order["id"])
    assert refused.status_code == 409
    assert refused.json()["type"] == "/problems/order-not-payable"
    other, _, buyer2 = await ordered(gateway, admin)
    stripe = await gateway.post(
        "/api/v1/payments",
        json={"order_id": other["id"], "provider": "stripe"},
        headers={**buyer2, "Idempotency-Key": "s"},
    )
    assert stripe.status_code == 422
    assert stripe.json()["type"] == "/problems/provider-unavailable"


async def test_paid_after_expiry_is_refunded_and_the_order_stays_expired(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    order, product, buyer = await ordered(gateway, admin)
    payment = (await pay(gateway, buyer, order["id"])).json()
    await db.orders.update_one(
        {"_id": ObjectId(order["id"])}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}}
    )
    for _ in range(100):
        if (await db.orders.find_one({"_id": ObjectId(order["id"])}) or {}).get("status") == "expired":
            break
        await asyncio.sleep(0.1)
    assert await stock_of(db, product["id"]) == 10  # expiry returned the units

    late = await complete(gateway, buyer, payment["id"])
    assert late.json()["status"] == "refunded"
    stored_order = await db.orders.find_one({"_id": ObjectId(order["id"])})
    assert stored_order is not None
    assert stored_order["status"] == "expired"
    assert await stock_of(db, product["id"]) == 10  # and the refund did not return them again
    refunds = await db.refunds.find({"payment_id": ObjectId(payment["id"])}).to_list()
    assert [(refund["status"], refund["amount"]) for refund in refunds] == [("succeeded", 5000)]
    assert "auto_refund_due_since" not in await stored(db, "payments", payment["id"])


async def test_only_the_owner_or_an_admin_settles_a_sandbox_payment(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    order, _, buyer = await ordered(gateway, admin)
    payment = (await pay(gateway, buyer, order["id"])).json()
    anonymous = await complete(gateway, {}, payment["id"])
    assert anonymous.status_code == 401
    assert anonymous.json()["type"] == "/problems/unauthorized"
    stranger = await complete(gateway, await customer_headers(gateway), payment["id"], "failed")
    assert stranger.status_code == 404
    assert stranger.json()["type"] == "/problems/payment-not-found"
    assert (await stored(db, "payments", payment["id"]))["status"] == "pending"
    assert (await stored(db, "orders", order["id"]))["status"] == "pending_payment"

    by_admin = await complete(gateway, admin, payment["id"])
    assert (by_admin.status_code, by_admin.json()["status"]) == (200, "succeeded")
    assert (await stored(db, "orders", order["id"]))["status"] == "paid"


async def test_payment_and_refund_ids_cannot_be_derived_from_a_neighbour(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    # A default ObjectId repeats its process's 5 random bytes and counts up in the last 3: from one's
    # own id a neighbour's is a few guesses away. Ids in URLs must share nothing but the timestamp.
    payments = []
    for _ in range(3):
        order, _, buyer = await ordered(gateway, admin)
        payments.append((await pay(gateway, buyer, order["id"])).json())
        await complete(gateway, buyer, payments[-1]["id"])
    refunded = [
        (await refund(gateway, admin, payment["id"], {"amount": 1, "reason": "id check"})).json()
        for payment in payments
    ]
    for ids in ([payment["id"] for payment in payments], [made["id"] for made in refunded]):
        assert len({ObjectId(value).binary[4:9] for value in ids}) == len(ids)


async def test_reconciliation_settles_a_payment_whose_confirmation_was_lost(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database, sandbox_context: PaymentContext
) -> None:
    payment_context = sandbox_context
    order, _, buyer = await ordered(gateway, admin)
    payment = (await pay(gateway, buyer, order["id"])).json()
    stored = await db.payments.find_one({"_id": ObjectId(payment["id"])})
    assert stored is not None
    # The shopper paid at the provider, but the notification never reached us.
    await db.sandbox_ledger.update_one(
        {"_id": stored["provider_payment_id"]}, {"$set": {"status": "succeeded"}}
    )
    await db.payments.update_one(
        {"_id": stored["_id"]}, {"$set": {"created_at": utcnow() - timedelta(seconds=5)}}
    )
    await asyncio.gather(reconcile(payment_context), reconcile(payment_context))  # two replicas at once
    assert (await gateway.get(f"/api/v1/orders/{order['id']}", headers=buyer)).json()["status"] == "paid"
    settled = await db.payments.find_one({"_id": stored["_id"]})
    assert settled is not None
    assert [entry["status"] for entry in settled["history"]] == ["pending", "succeeded"]
