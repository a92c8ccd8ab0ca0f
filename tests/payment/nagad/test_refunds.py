"""Nagad refunds ("purchase cancel") through the gateway, against the fake: partial and full cancels
booked once whichever documented status Nagad answers, an unknown signed status settled from verify
by reconciliation, refusals, lost answers, and which `originalRequestDate` is sent."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId

from services.payment.context import PaymentContext
from services.payment.payments.reconciliation import reconcile
from services.payment.providers.base import ProviderError, RefundRequest
from shared.clock import utcnow
from shared.db import Database
from tests.payment.nagad.conftest import (
    SERVER_IP,
    backdate_refunds,
    configure,
    counters,
    fake_state,
    fault,
    paid,
    refund,
    stored,
)


async def issued(db: Database, payment_id: str) -> list[dict[str, Any]]:
    """The payment's RefundIssued events: one per refund that gave money back."""
    query = {"type": "RefundIssued", "payment_id": ObjectId(payment_id)}
    return await db.payment_outbox.find(query).to_list()


# --- Cancels that moved money ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("statuses", "partial", "full"),
    [("cancelled", "PartialCancelled", "Cancelled"), ("refunded", "PartialRefunded", "Refunded")],
)
async def test_a_partial_then_a_full_cancel_are_each_booked_once(
    shop: httpx.AsyncClient,
    fake: httpx.AsyncClient,
    admin: dict[str, str],
    db: Database,
    nagad_context: PaymentContext,
    statuses: str,
    partial: str,
    full: str,
) -> None:
    await configure(fake, refund_statuses=statuses)
    order, payment, reference = await paid(shop, fake, admin)

    first = await refund(shop, admin, payment["id"], {"amount": 2000, "reason": "One item returned"}, "nr-1")
    assert first.status_code == 201, first.text
    assert (first.json()["status"], first.json()["amount"]["amount"]) == ("succeeded", 2000)
    at_fake = await fake_state(fake, reference)
    assert (at_fake["status"], [done["amount"] for done in at_fake["cancels"]]) == (partial, ["20.00"])
    booked = await stored(db, "refunds", first.json()["id"])
    assert booked["provider_refund_id"] == at_fake["cancels"][0]["trx_id"]  # Nagad's cancelTrxId
    assert at_fake["client_ips"]["cancel"] == SERVER_IP  # a call the server starts itself

    # Booked once: a replayed request, and reconciliation passes from two replicas, change nothing.
    replay = await refund(shop, admin, payment["id"], {"amount": 2000, "reason": "One item returned"}, "nr-1")
    assert (replay.json()["id"], replay.headers.get("idempotent-replayed")) == (first.json()["id"], "true")
    await asyncio.gather(reconcile(nagad_context), reconcile(nagad_context))
    partly = await stored(db, "payments", payment["id"])
    assert (partly["status"], partly["refunded_amount"], partly["refund_pending_amount"]) == (
        "partially_refunded",
        2000,
        0,
    )
    assert [event["amount"] for event in await issued(db, payment["id"])] == [2000]

    rest = await refund(shop, admin, payment["id"], {"reason": "Order returned"}, "nr-2")
    assert (rest.status_code, rest.json()["status"], rest.json()["amount"]["amount"]) == (
        201,
        "succeeded",
        3100,
    )
    at_fake = await fake_state(fake, reference)
    assert (at_fake["status"], [done["amount"] for done in at_fake["cancels"]]) == (full, ["20.00", "31.00"])
    refunded = await stored(db, "payments", payment["id"])
    assert (refunded["status"], refunded["refunded_amount"]) == ("refunded", 5100)
    assert (await stored(db, "orders", order["id"]))["status"] == "refunded"
    assert sorted(event["amount"] for event in await issued(db, payment["id"])) == [2000, 3100]

    too_much = await refund(shop, admin, payment["id"], {"amount": 1, "reason": "Again"}, "nr-3")
    assert too_much.status_code == 409  # a refunded payment: Nagad is not even asked
    assert (await counters(fake)).get("cancel") == 2


async def test_an_unknown_cancel_status_is_settled_by_reconciliation(
    shop: httpx.AsyncClient,
    fake: httpx.AsyncClient,
    admin: dict[str, str],
    db: Database,
    nagad_context: PaymentContext,
) -> None:
    _, payment, reference = await paid(shop, fake, admin)
    # Nagad cancels 20 taka but answers, signed, a status no source documents.
    await fault(fake, route="cancel", kind="signed_status", answer="InProgress")
    unknown = await refund(shop, admin, payment["id"], {"amount": 2000, "reason": "Scratched"})
    assert (unknown.status_code, unknown.json()["status"]) == (201, "pending")
    [cancel] = (await fake_state(fake, reference))["cancels"]
    pending = await stored(db, "refunds", unknown.json()["id"])
    assert pending["provider_refund_id"] == cancel["trx_id"]  # kept, to be recognised in verify
    assert (await stored(db, "payments", payment["id"]))["refund_pending_amount"] == 2000

    await backdate_refunds(db, payment["id"])
    await asyncio.gather(reconcile(nagad_context), reconcile(nagad_context))  # two replicas at once

    assert (await stored(db, "refunds", unknown.json()["id"]))["status"] == "succeeded"
    settled = await stored(db, "payments", payment["id"])
    assert (settled["status"], settled["refunded_amount"], settled["refund_pending_amount"]) == (
        "partially_refunded",
        2000,
        0,
    )
    assert [event["amount"] for event in await issued(db, payment["id"])] == [2000]
    assert (await counters(fake))["cancel"] == 1  # never sent again


async def test_only_a_reason_and_message_answer_is_a_refusal(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    _, payment, reference = await paid(shop, fake, admin)
    await fault(fake, route="cancel", kind="reason", status=400, reason="InvalidPurchaseInformation")
    refused = await refund(shop, admin, payment["id"], {"amount": 1000, "reason": "Refused"})
    assert (refused.status_code, refused.json()["status"]) == (201, "failed")
    assert (await stored(db, "payments", payment["id"]))["refund_pending_amount"] == 0

    # A WAF page instead of an answer says nothing about whether the cancel happened: pending.
    await fault(fake, route="cancel", kind="waf")
    unclear = await refund(shop, admin, payment["id"], {"amount": 1000, "reason": "Unclear"})
    assert (unclear.status_code, unclear.json()["status"]) == (201, "pending")
    assert (await fake_state(fake, reference))["cancels"] == []


async def test_refunds_whose_answer_was_lost_are_settled_by_reconciliation(
    shop: httpx.AsyncClient,
    fake: httpx.AsyncClient,
    admin: dict[str, str],
    db: Database,
    nagad_context: PaymentContext,
) -> None:
    _, payment, reference = await paid(shop, fake, admin)

    # 1. Nagad answers 503 before doing anything: the cancel is not sent again (Nagad is not known
    # to deduplicate), the refund stays pending, and reconciliation sees nothing was cancelled.
    await fault(fake, route="cancel", kind="error", status=503)
    lost = await refund(shop, admin, payment["id"], {"reason": "Lost answer"})
    assert (lost.status_code, lost.json()["status"]) == (201, "pending")
    assert (await counters(fake))["cancel"] == 1
    await backdate_refunds(db, payment["id"])
    await reconcile(nagad_context)
    assert (await stored(db, "refunds", lost.json()["id"]))["status"] == "failed"
    assert (await stored(db, "payments", payment["id"]))["refund_pending_amount"] == 0

    # 2. Nagad cancels, but answers only after we stopped waiting (2 s): reconciliation finds the
    # payment fully cancelled.
    await fault(fake, route="cancel", kind="slow", seconds=3)
    slow = await refund(shop, admin, payment["id"], {"reason": "Slow answer"})
    assert (slow.status_code, slow.json()["status"]) == (201, "pending")
    assert (await fake_state(fake, reference))["status"] == "Cancelled"
    await backdate_refunds(db, payment["id"])
    await reconcile(nagad_context)
    assert (await stored(db, "refunds", slow.json()["id"]))["status"] == "succeeded"
    assert (await stored(db, "payments", payment["id"]))["status"] == "refunded"
    assert [done["amount"] for done in (await fake_state(fake, reference))["cancels"]] == ["51.00"]


# --- originalRequestDate -------------------------------------------------------------------------
async def test_the_original_date_falls_back_to_the_payments_own_when_verify_has_none(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    _, payment, reference = await paid(shop, fake, admin)
    # Initialized three days ago (at Nagad and with us); Nagad's verify shows orderDateTime null, as
    # its guide's own example does, and this Nagad takes only the payment's own date.
    assert (await fake.post(f"/__control/payments/{reference}/ordered", json={"days_ago": 3})).is_success
    await db.payments.update_one(
        {"_id": ObjectId(payment["id"])}, {"$set": {"created_at": utcnow() - timedelta(days=3)}}
    )
    await configure(fake, refund_request_date="original", order_date_time="null")
    assert (await fake.get(f"/api/dfs/verify/payment/{reference}")).json()["orderDateTime"] is None

    done = await refund(shop, admin, payment["id"], {"amount": 500, "reason": "Dated by our records"})
    assert (done.status_code, done.json()["status"]) == (201, "succeeded")


@pytest.mark.parametrize("rule", ["original", "today"])
async def test_the_request_date_rule_is_a_setting(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str], make_provider: Any, rule: str
) -> None:
    *_, reference = await paid(shop, fake, admin)
    assert (await fake.post(f"/__control/payments/{reference}/ordered", json={"days_ago": 2})).is_success
    request = RefundRequest(str(ObjectId()), reference, 300, "BDT", "Dated", f"refund-{uuid.uuid4().hex}")
    right, wrong = (
        make_provider(nagad_refund_request_date=rule),
        make_provider(nagad_refund_request_date="today" if rule == "original" else "original"),
    )
    await configure(fake, refund_request_date=rule)

    with pytest.raises(ProviderError) as refused:
        await wrong.refund(request)
    assert not refused.value.retryable  # Nagad's {reason, message}: nothing was cancelled
    assert "originalRequestDate" in str(refused.value)
    result = await right.refund(replace(request, refund_id=str(ObjectId())))
    assert result.state == "succeeded"
    assert [done["amount"] for done in (await fake_state(fake, reference))["cancels"]] == ["3.00"]
