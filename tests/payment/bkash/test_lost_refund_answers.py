"""bKash refunds whose answer never came back, settled by reconciliation.

bKash takes no idempotency key and its refund status lists refunds without the `sku` we send (only
`refundTrxId`, status, `refundAmount`, `completedTime`), as the fake does now. A refund records the
refundTrxIds bKash listed just before it was sent; when its answer is lost, it is the new refundTrxId
of its amount that no other refund of ours owns, and is booked once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from bson import ObjectId

from services.payment.context import PaymentContext
from services.payment.payments.reconciliation import reconcile
from shared.clock import utcnow
from shared.db import Database
from tests.payment.bkash.conftest import at_bkash, calls, fault, paid_checkout, refund
from tests.payment.sandbox import together


async def backdate_refunds(db: Database, payment_id: str) -> None:
    """Old enough for reconciliation to ask about them."""
    await db.refunds.update_many(
        {"payment_id": ObjectId(payment_id), "status": "pending"},
        {"$set": {"created_at": utcnow() - timedelta(seconds=5)}},
    )


async def refunds_of(db: Database, payment_id: str) -> dict[str, dict[str, Any]]:
    found = await db.refunds.find({"payment_id": ObjectId(payment_id)}).to_list()
    return {str(doc["_id"]): doc for doc in found}


async def issued(db: Database, payment_id: str) -> int:
    return await db.payment_outbox.count_documents(
        {"type": "RefundIssued", "payment_id": ObjectId(payment_id)}
    )


async def test_a_refund_whose_answer_was_dropped_is_recognised_by_its_new_refund_trx_id(
    shop: httpx.AsyncClient,
    fake: httpx.AsyncClient,
    admin: dict[str, str],
    db: Database,
    reconciler: PaymentContext,
) -> None:
    flow = await paid_checkout(shop, fake, admin)
    payment_id = flow.payment["id"]
    # A refund of the same amount first, answered: listed before the next one, and owned by us.
    answered = await refund(shop, admin, payment_id, {"amount": 1000, "reason": "scratched"}, "lr-1")
    assert (answered.status_code, answered.json()["status"]) == (201, "succeeded")

    await fault(fake, "refund", "empty")  # bKash refunds, but its answer is lost on the way
    dropped = await refund(shop, admin, payment_id, {"amount": 1000, "reason": "dented"}, "lr-2")
    assert (dropped.status_code, dropped.json()["status"]) == (201, "pending")
    at_provider = [entry["refundTrxId"] for entry in (await at_bkash(fake, flow.bkash_id))["refunds"]]
    assert len(at_provider) == 2
    ours = await refunds_of(db, payment_id)
    first = ours[answered.json()["id"]]
    assert first["provider_refund_id"] == at_provider[0]
    assert ours[dropped.json()["id"]]["provider_listed_before"] == [at_provider[0]]

    await backdate_refunds(db, payment_id)
    before = await calls(fake)
    await together(reconcile(reconciler), reconcile(reconciler))  # two replicas at once

    settled = (await refunds_of(db, payment_id))[dropped.json()["id"]]
    assert (settled["status"], settled["provider_refund_id"]) == ("succeeded", at_provider[1])
    payment = (await shop.get(f"/api/v1/payments/{payment_id}", headers=admin)).json()
    assert (payment["status"], payment["refunded"]["amount"]) == ("partially_refunded", 2000)
    stored = await db.payments.find_one({"_id": ObjectId(payment_id)})
    assert stored is not None
    assert stored["refund_pending_amount"] == 0
    assert await issued(db, payment_id) == 2
    assert (await calls(fake))["refund"] == before["refund"]  # found, never sent again
    await reconcile(reconciler)
    assert await issued(db, payment_id) == 2


async def test_a_refund_that_never_reached_bkash_fails_and_nothing_is_booked(
    shop: httpx.AsyncClient,
    fake: httpx.AsyncClient,
    admin: dict[str, str],
    db: Database,
    reconciler: PaymentContext,
) -> None:
    flow = await paid_checkout(shop, fake, admin)
    await fault(fake, "refund", "http503")  # refused before processing, as a proxy page
    lost = await refund(shop, admin, flow.payment["id"], {"amount": 700, "reason": "unsure"}, "nr-1")
    assert (lost.status_code, lost.json()["status"]) == (201, "pending")

    await backdate_refunds(db, flow.payment["id"])
    await reconcile(reconciler)

    assert (await refunds_of(db, flow.payment["id"]))[lost.json()["id"]]["status"] == "failed"
    payment = await db.payments.find_one({"_id": ObjectId(flow.payment["id"])})
    assert payment is not None
    assert (payment["status"], payment["refunded_amount"], payment["refund_pending_amount"]) == (
        "succeeded",
        0,
        0,
    )
    assert (await at_bkash(fake, flow.bkash_id))["refunds"] == []


async def test_two_dropped_refunds_of_one_amount_claim_one_refund_trx_id_each(
    shop: httpx.AsyncClient,
    fake: httpx.AsyncClient,
    admin: dict[str, str],
    db: Database,
    reconciler: PaymentContext,
) -> None:
    flow = await paid_checkout(shop, fake, admin)
    payment_id = flow.payment["id"]
    await fault(fake, "refund", "empty", count=2)
    sent = await together(
        refund(shop, admin, payment_id, {"amount": 1500, "reason": "one"}, "tw-1"),
        refund(shop, admin, payment_id, {"amount": 1500, "reason": "two"}, "tw-2"),
    )
    assert [(answer.status_code, answer.json()["status"]) for answer in sent] == [(201, "pending")] * 2

    await backdate_refunds(db, payment_id)
    # Several replicas at once: each may find either new refundTrxId first; each id goes to one refund.
    await together(*(reconcile(reconciler) for _ in range(3)))
    for _ in range(2):  # a refund that lost a claim to the other takes the remaining id next pass
        await reconcile(reconciler)

    ours = [(await refunds_of(db, payment_id))[answer.json()["id"]] for answer in sent]
    at_provider = {entry["refundTrxId"] for entry in (await at_bkash(fake, flow.bkash_id))["refunds"]}
    assert [doc["status"] for doc in ours] == ["succeeded", "succeeded"]
    assert {doc["provider_refund_id"] for doc in ours} == at_provider
    assert len(at_provider) == 2
    payment = await db.payments.find_one({"_id": ObjectId(payment_id)})
    assert payment is not None
    assert (payment["refunded_amount"], payment["refund_pending_amount"]) == (3000, 0)
    assert await issued(db, payment_id) == 2
    await reconcile(reconciler)
    assert await issued(db, payment_id) == 2
