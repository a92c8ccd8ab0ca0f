"""bKash through the gateway, against a local fake bKash (tests/fakes/bkash_server.py): payments,
callbacks and reconciliation.

The shopper's browser is played by hand: the fake's "bKash page" answers a redirect to our callback
URL (built from PUBLIC_BASE_URL, which is not the test gateway), and the test follows it on the
provider stack's gateway. Money moves only when our service executes.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from bson import ObjectId

from services.payment.context import PaymentContext
from services.payment.payments.reconciliation import reconcile
from shared.clock import utcnow
from shared.db import Database
from tests.payment.bkash.conftest import (
    CALLBACK_PATH,
    INSUFFICIENT_WALLET,
    PUBLIC_BASE_URL,
    at_bkash,
    calls,
    checkout,
    fault,
    forged,
    order_status,
    pay,
    result_of,
    return_to_shop,
    shopper,
    stored_payment,
)

# --- payments ------------------------------------------------------------------------------------


async def test_pay_with_bkash(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    flow = await checkout(shop, admin)
    assert (flow.payment["status"], flow.payment["amount"]) == (
        "pending",
        {"amount": 5100, "currency": "BDT"},
    )
    assert flow.payment["redirect_url"].startswith(str(fake.base_url) + "/redirect/tokenized/")
    created = await at_bkash(fake, flow.bkash_id)
    assert created["status"] == "Initiated"
    assert (created["amount"], created["currency"], created["intent"]) == ("51.00", "BDT", "sale")
    assert created["merchantInvoiceNumber"] == flow.payment["id"]
    assert created["callbackURL"] == PUBLIC_BASE_URL + CALLBACK_PATH

    location = await shopper(fake, flow.payment["redirect_url"], "approve")
    assert (await at_bkash(fake, flow.bkash_id))["status"] == "Initiated"  # approval alone moves nothing
    result = result_of(await return_to_shop(shop, location))

    assert result == {"payment_id": flow.payment["id"], "status": "succeeded"}
    executed = await at_bkash(fake, flow.bkash_id)
    assert (executed["status"], executed["execute_calls"]) == ("Completed", 1)
    assert await order_status(shop, flow) == "paid"
    payment = (await shop.get(f"/api/v1/payments/{flow.payment['id']}", headers=flow.buyer)).json()
    assert payment["status"] == "succeeded"
    inbox = await db.provider_events.find({"payment_id": ObjectId(flow.payment["id"])}).to_list()
    assert [event["event_id"] for event in inbox] == [f"trx:{executed['trxID']}"]


async def test_duplicate_callbacks_execute_once_and_settle_once(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    flow = await checkout(shop, admin)
    location = await shopper(fake, flow.payment["redirect_url"], "approve")

    answers = await asyncio.gather(*(return_to_shop(shop, location) for _ in range(5)))

    assert [result_of(answer)["status"] for answer in answers] == ["succeeded"] * 5
    assert (await at_bkash(fake, flow.bkash_id))["execute_calls"] == 1
    payment = await stored_payment(db, flow.payment["id"])
    assert [entry["status"] for entry in payment["history"]] == ["pending", "succeeded"]
    assert await db.payment_outbox.count_documents({"payment_id": payment["_id"]}) == 1
    again = await return_to_shop(shop, location, json=True)  # a late refresh, from a script this time
    assert again.status_code == 200
    assert again.json() == {"payment_id": flow.payment["id"], "status": "succeeded"}
    assert (await at_bkash(fake, flow.bkash_id))["execute_calls"] == 1


async def test_a_forged_success_for_an_unapproved_payment_pays_nothing(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    flow = await checkout(shop, admin)

    result = result_of(await return_to_shop(shop, forged(flow.bkash_id, "success")))

    assert result["status"] == "pending"
    at_provider = await at_bkash(fake, flow.bkash_id)
    assert (at_provider["status"], at_provider["execute_calls"]) == ("Initiated", 1)  # bKash said 2056
    assert await order_status(shop, flow) == "pending_payment"
    # The forgery did not spoil the real payment.
    location = await shopper(fake, flow.payment["redirect_url"], "approve")
    assert result_of(await return_to_shop(shop, location))["status"] == "succeeded"
    assert await order_status(shop, flow) == "paid"


async def test_forged_failures_change_nothing(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    flow = await checkout(shop, admin)
    location = await shopper(fake, flow.payment["redirect_url"], "approve")
    before = await calls(fake)

    # Approved but not yet executed: bKash's status is still Initiated, so nothing is failed.
    assert result_of(await return_to_shop(shop, forged(flow.bkash_id, "failure")))["status"] == "pending"
    assert (await calls(fake)).get("execute", 0) == before.get("execute", 0)  # never executed on a failure
    assert result_of(await return_to_shop(shop, location))["status"] == "succeeded"

    # After success: a forged failure or cancel is answered with the truth and changes nothing.
    for status in ("failure", "cancel"):
        assert result_of(await return_to_shop(shop, forged(flow.bkash_id, status)))["status"] == "succeeded"
    payment = await stored_payment(db, flow.payment["id"])
    assert [entry["status"] for entry in payment["history"]] == ["pending", "succeeded"]
    assert await order_status(shop, flow) == "paid"


async def test_a_cancelled_payment_fails_and_the_order_stays_payable(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    flow = await checkout(shop, admin)
    location = await shopper(fake, flow.payment["redirect_url"], "cancel")

    assert result_of(await return_to_shop(shop, location))["status"] == "failed"

    assert (await at_bkash(fake, flow.bkash_id))["execute_calls"] == 0
    assert await order_status(shop, flow) == "pending_payment"
    assert (await pay(shop, flow.buyer, flow.order["id"])).status_code == 201  # the shopper may try again


async def test_insufficient_balance_fails_the_payment(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    flow = await checkout(shop, admin)
    location = await shopper(fake, flow.payment["redirect_url"], "approve", wallet=INSUFFICIENT_WALLET)

    assert result_of(await return_to_shop(shop, location))["status"] == "failed"  # execute: 2023

    assert (await at_bkash(fake, flow.bkash_id))["status"] == "Failed"
    assert await order_status(shop, flow) == "pending_payment"


async def test_unknown_and_malformed_callbacks(shop: httpx.AsyncClient) -> None:
    unknown = await return_to_shop(shop, forged("TR0011NOSUCHPAYMENT", "success"))
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert unknown.json()["type"] == "/problems/payment-not-found"
    missing = await shop.get(CALLBACK_PATH, params={"status": "success"})
    assert missing.status_code == 422
    hostile = await shop.get(CALLBACK_PATH, params={"paymentID": '{"$ne": null}', "status": "success"})
    assert hostile.status_code == 422


async def test_an_execute_that_times_out_is_settled_from_the_status(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    flow = await checkout(shop, admin)
    location = await shopper(fake, flow.payment["redirect_url"], "approve")
    await fault(fake, "execute", "slow", seconds=4)  # executes, then answers after our 2 s timeout

    assert result_of(await return_to_shop(shop, location))["status"] == "succeeded"

    assert (await at_bkash(fake, flow.bkash_id))["execute_calls"] == 1  # never executed twice
    assert await order_status(shop, flow) == "paid"


async def test_reconciliation_settles_an_execute_whose_answer_was_lost(
    shop: httpx.AsyncClient,
    fake: httpx.AsyncClient,
    admin: dict[str, str],
    db: Database,
    reconciler: PaymentContext,
) -> None:
    flow = await checkout(shop, admin)
    location = await shopper(fake, flow.payment["redirect_url"], "approve")
    # bKash takes 3 s to execute: we give up after 2 s, ask the status (still Initiated), answer pending.
    await fault(fake, "execute", "hang", seconds=3)
    assert result_of(await return_to_shop(shop, location))["status"] == "pending"
    for _ in range(50):
        if (await at_bkash(fake, flow.bkash_id))["status"] == "Completed":
            break
        await asyncio.sleep(0.1)
    await db.payments.update_one(
        {"_id": ObjectId(flow.payment["id"])}, {"$set": {"created_at": utcnow() - timedelta(days=1)}}
    )

    await asyncio.gather(reconcile(reconciler), reconcile(reconciler))  # two replicas at once

    assert await order_status(shop, flow) == "paid"
    payment = await stored_payment(db, flow.payment["id"])
    assert [entry["status"] for entry in payment["history"]] == ["pending", "succeeded"]
    assert (await at_bkash(fake, flow.bkash_id))["execute_calls"] == 1


async def test_reconciliation_never_executes_an_approved_payment(
    shop: httpx.AsyncClient,
    fake: httpx.AsyncClient,
    admin: dict[str, str],
    db: Database,
    reconciler: PaymentContext,
) -> None:
    """The shopper approved but the browser never came back: bKash moves money only on our execute,
    its status still says Initiated, so reconciliation leaves the payment pending and charges nobody."""
    flow = await checkout(shop, admin)
    await shopper(fake, flow.payment["redirect_url"], "approve")
    await db.payments.update_one(
        {"_id": ObjectId(flow.payment["id"])}, {"$set": {"created_at": utcnow() - timedelta(days=1)}}
    )

    await reconcile(reconciler)

    at_provider = await at_bkash(fake, flow.bkash_id)
    assert (at_provider["status"], at_provider["execute_calls"]) == ("Initiated", 0)
    assert (await stored_payment(db, flow.payment["id"]))["status"] == "pending"
    assert await order_status(shop, flow) == "pending_payment"


async def test_a_payment_completed_after_the_order_expired_is_refunded_at_bkash(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    flow = await checkout(shop, admin)
    location = await shopper(fake, flow.payment["redirect_url"], "approve")
    await db.orders.update_one(
        {"_id": ObjectId(flow.order["id"])}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}}
    )
    for _ in range(100):
        if await order_status(shop, flow) == "expired":
            break
        await asyncio.sleep(0.1)

    assert result_of(await return_to_shop(shop, location))["status"] == "refunded"

    at_provider = await at_bkash(fake, flow.bkash_id)
    assert (at_provider["status"], at_provider["refundable"]) == ("Completed", "0.00")
    assert [refund["amount"] for refund in at_provider["refunds"]] == ["51.00"]
    assert await order_status(shop, flow) == "expired"
