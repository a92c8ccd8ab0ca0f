"""Stripe through the gateway: the official SDK against a local fake that speaks Stripe's protocol
(form bodies, idempotency keys, error envelope) and delivers webhooks signed as Stripe signs them.

Settlement once under duplicated, reordered, forged, stale and mismatched webhooks; provider faults
on creation (no half-state); reconciliation of a lost webhook; refunds racing their own webhooks
and each other."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
import stripe
from bson import ObjectId
from pymongo import AsyncMongoClient

from devstack.stack import Stack
from services.payment.context import PaymentContext
from services.payment.payments.reconciliation import reconcile
from services.payment.providers.base import PaymentRequest, ProviderError, RefundRequest
from services.payment.providers.stripe import StripeProvider, UnreadableEvent, events_of
from shared.clock import utcnow
from shared.db import Database, MongoClient
from tests.builders import stock_of
from tests.payment.stripe_support import (
    PRICE,
    SECRET_KEY,
    WEBHOOK_PATH,
    WEBHOOK_SECRET,
    Fake,
    eventually,
    order_status,
    paid_purchase,
    pay,
    provider_settings,
    purchase,
    refund,
    started,
    statuses,
    stored_payment,
)

# stripe 16.1.0's HTTPXClient posts form bodies with httpx's deprecated `data=<str>`; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")

# --- paying ---------------------------------------------------------------------------------------------


async def test_a_stripe_payment_is_settled_by_its_signed_webhook(
    shop: httpx.AsyncClient, admin: dict[str, str], fake: Fake, db: Database
) -> None:
    bought = await purchase(shop, admin)
    payment, intent = await started(shop, bought)
    assert (payment["status"], payment["amount"]) == ("pending", {"amount": 5000, "currency": "USD"})
    assert payment["client_secret"].startswith(f"{intent}_secret_")

    [sent] = await fake.requests(f"payment-{payment['id']}")
    assert (sent["method"], sent["path"]) == ("POST", "/v1/payment_intents")
    assert sent["params"]["amount"] == "5000"
    assert sent["params"]["currency"] == "usd"
    assert sent["params"]["metadata"] == {"payment_id": payment["id"], "order_id": bought.order["id"]}

    assert (await fake.confirm(intent))["statuses"] == [200]
    assert await order_status(db, bought.order["id"]) == "paid"
    paid = await shop.get(f"/api/v1/payments/{payment['id']}", headers=bought.buyer)
    assert paid.json()["status"] == "succeeded"


async def test_duplicate_deliveries_settle_once(
    shop: httpx.AsyncClient, admin: dict[str, str], fake: Fake, db: Database
) -> None:
    bought = await purchase(shop, admin)
    payment, intent = await started(shop, bought)
    [event_id] = (await fake.confirm(intent, webhook=False))["event_ids"]

    assert await fake.deliver(event_id=event_id, duplicate=5, concurrent=True) == [200] * 5
    assert await fake.deliver(event_id=event_id, duplicate=2) == [200, 200]

    assert statuses(await stored_payment(db, payment["id"])) == ["pending", "succeeded"]
    order = await db.orders.find_one({"_id": ObjectId(bought.order["id"])})
    assert order is not None
    assert statuses(order) == ["pending_payment", "paid"]
    assert await db.payment_outbox.count_documents({"payment_id": ObjectId(payment["id"])}) == 1
    assert await db.provider_events.count_documents({"provider": "stripe", "event_id": event_id}) == 1


async def test_a_failure_reported_after_the_success_changes_nothing(
    shop: httpx.AsyncClient, admin: dict[str, str], fake: Fake, db: Database
) -> None:
    bought, payment, intent = await paid_purchase(shop, admin, fake)
    declined = {"status": "requires_payment_method", "last_payment_error": {"code": "card_declined"}}
    late = await fake.deliver(
        event_type="payment_intent.payment_failed", object_id=intent, overrides=declined
    )
    assert late == [200]
    assert statuses(await stored_payment(db, payment["id"])) == ["pending", "succeeded"]
    assert await order_status(db, bought.order["id"]) == "paid"


async def test_a_failure_that_overtakes_the_success_does_not_stop_the_payment(
    shop: httpx.AsyncClient, admin: dict[str, str], fake: Fake, db: Database
) -> None:
    bought = await purchase(shop, admin)
    payment, intent = await started(shop, bought)
    [success] = (await fake.confirm(intent, webhook=False))["event_ids"]
    # The success is delayed in transit; a failure (an earlier declined attempt) gets there first.
    scheduled = await fake.call("POST", "deliver", {"event_id": success, "delay_seconds": 0.5})
    assert scheduled["scheduled"]
    declined = {"status": "requires_payment_method", "last_payment_error": {"code": "card_declined"}}
    failure = await fake.call(
        "POST",
        "deliver",
        {"event_type": "payment_intent.payment_failed", "object_id": intent, "overrides": declined},
    )
    assert failure["statuses"] == [200]

    async def paid() -> bool:
        return await order_status(db, bought.order["id"]) == "paid"

    await eventually(paid)
    assert await fake.deliver(event_id=failure["event_id"]) == [200]  # and once more, after it
    assert statuses(await stored_payment(db, payment["id"]))[-1] == "succeeded"
    assert await order_status(db, bought.order["id"]) == "paid"


async def test_a_declined_attempt_then_a_successful_one_pays(
    shop: httpx.AsyncClient, admin: dict[str, str], fake: Fake, db: Database
) -> None:
    bought = await purchase(shop, admin)
    payment, intent = await started(shop, bought)
    assert (await fake.confirm(intent, "failed"))["statuses"] == [200]
    assert (await stored_payment(db, payment["id"]))["status"] == "failed"
    assert await order_status(db, bought.order["id"]) == "pending_payment"
    # The Payment Element lets the shopper try another card on the same PaymentIntent.
    assert (await fake.confirm(intent))["statuses"] == [200]
    assert statuses(await stored_payment(db, payment["id"])) == ["pending", "failed", "succeeded"]
    assert await order_status(db, bought.order["id"]) == "paid"


async def test_a_refund_event_before_the_payment_cannot_corrupt_it(
    shop: httpx.AsyncClient, admin: dict[str, str], fake: Fake, db: Database
) -> None:
    bought = await purchase(shop, admin)
    payment, intent = await started(shop, bought)
    forged_refund = {
        "id": "re_" + uuid.uuid4().hex[:24],
        "object": "refund",
        "amount": 5000,
        "currency": "usd",
        "payment_intent": intent,
        "status": "succeeded",
        "metadata": {},
    }
    assert await fake.deliver(event_type="refund.updated", object=forged_refund) == [200]
    pending = await stored_payment(db, payment["id"])
    assert (pending["status"], pending["refunded_amount"]) == ("pending", 0)
    assert await db.refunds.count_documents({"payment_id": ObjectId(payment["id"])}) == 0

    assert (await fake.confirm(intent))["statuses"] == [200]
    paid = await stored_payment(db, payment["id"])
    assert (paid["status"], paid["refunded_amount"], paid["refund_pending_amount"]) == ("succeeded", 0, 0)
    assert await order_status(db, bought.order["id"]) == "paid"


async def test_ignored_event_types_are_acknowledged_and_change_nothing(
    shop: httpx.AsyncClient, admin: dict[str, str], fake: Fake, db: Database
) -> None:
    bought = await purchase(shop, admin)
    payment, intent = await started(shop, bought)
    for event_type in ("payment_intent.created", "payment_intent.processing", "customer.created"):
        assert await fake.deliver(event_type=event_type, object_id=intent) == [200]
    assert statuses(await stored_payment(db, payment["id"])) == ["pending"]


# --- forged, stale and mismatched webhooks --------------------------------------------------------------


async def test_bad_signatures_are_refused_and_change_nothing(
    shop: httpx.AsyncClient, admin: dict[str, str], fake: Fake, db: Database
) -> None:
    bought = await purchase(shop, admin)
    payment, intent = await started(shop, bought)
    [event_id] = (await fake.confirm(intent, webhook=False))["event_ids"]

    assert await fake.deliver(event_id=event_id, bad_signature=True) == [400]
    assert await fake.deliver(event_id=event_id, signature="missing") == [400]
    assert await fake.deliver(event_id=event_id, signature="v0_only") == [400]  # no downgrade

    # A genuine signature over other bytes: the amount was edited after signing.
    [event] = [event for event in await fake.events_about(intent) if event["id"] == event_id]
    genuine = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(genuine, WEBHOOK_SECRET)
    tampered = genuine.replace('"amount": 5000', '"amount": 5')
    assert tampered != genuine
    refused = await shop.post(
        WEBHOOK_PATH,
        content=tampered,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"] == "/problems/invalid-signature"
    assert WEBHOOK_SECRET not in refused.text
    assert statuses(await stored_payment(db, payment["id"])) == ["pending"]
    assert await db.provider_events.count_documents({"event_id": event_id}) == 0

    # During a secret rotation Stripe sends one v1 per secret; one that verifies is enough.
    assert await fake.deliver(event_id=event_id, signature="rotated") == [200]
    assert await order_status(db, bought.order["id"]) == "paid"


async def test_a_stale_signature_is_refused_and_a_fresh_delivery_then_settles(
    shop: httpx.AsyncClient, admin: dict[str, str], fake: Fake, db: Database
) -> None:
    bought = await purchase(shop, admin)
    payment, intent = await started(shop, bought)
    [event_id] = (await fake.confirm(intent, webhook=False))["event_ids"]

    assert await fake.deliver(event_id=event_id, timestamp_offset=-600) == [400]  # tolerance is 300 s
    assert statuses(await stored_payment(db, payment["id"])) == ["pending"]
    # Stripe's retry carries a fresh timestamp; the refused replay left nothing in the inbox.
    assert await fake.deliver(event_id=event_id) == [200]
    assert await order_status(db, bought.order["id"]) == "paid"


async def test_a_signed_event_for_another_amount_is_checked_with_stripe_first(
    shop: httpx.AsyncClient, admin: dict[str, str], fake: Fake, db: Database
) -> None:
    bought = await purchase(shop, admin)
    payment, intent = await started(shop, bought)
    [event_id] = (await fake.confirm(intent, webhook=False))["event_ids"]

    # Stripe captured the right amount; these payloads say otherwise (stale or wrong): before anything
    # is applied, Stripe's own record of the PaymentIntent is asked for, and that is what settles.
    mismatched = []
    for overrides in ({"amount": 1, "amount_received": 1}, {"currency": "eur"}):
        delivered = await fake.call(
            "POST",
            "deliver",
            {"event_type": "payment_intent.succeeded", "object_id": intent, "overrides": overrides},
        )
        assert delivered["statuses"] == [200]
        mismatched.append(delivered["event_id"])
    assert statuses(await stored_payment(db, payment["id"])) == ["pending", "succeeded"]
    assert await order_status(db, bought.order["id"]) == "paid"
    checked = await db.provider_events.find({"event_id": {"$in": mismatched}}).to_list()
    assert sorted(entry["disposition"] for entry in checked) == [
        "checked at the provider: amount_mismatch",
        "checked at the provider: currency_mismatch",
    ]
    settled = await stored_payment(db, payment["id"])
    assert (settled.get("attention"), settled["captured_amount"], settled["refunded_amount"]) == (
        None,
        5000,
        0,
    )

    assert await fake.deliver(event_id=event_id) == [200]
    assert statuses(await stored_payment(db, payment["id"])) == ["pending", "succeeded"]
    assert await db.refunds.count_documents({"payment_id": ObjectId(payment["id"])}) == 0


# --- provider faults -------------------------------------------------------------------------------------


async def test_a_provider_that_does_not_answer_fails_the_payment_cleanly(
    shop: httpx.AsyncClient, admin: dict[str, str], fake: Fake, db: Database
) -> None:
    bought = await purchase(shop, admin)
    await fake.fault("hang", 10, seconds=3, path_prefix="/v1/payment_intents")
    refused = await pay(shop, bought)
    assert refused.status_code == 502, refused.text
    problem = refused.json()
    assert problem["type"] == "/problems/provider-error"
    failed = await stored_payment(db, problem["payment_id"])
    assert (failed["status"], failed["failure_reason"]) == ("failed", "provider_error")
    assert (failed["provider_payment_id"], failed.get("client_secret")) == (None, None)
    # Every attempt (the SDK retries timeouts) carried the same key, so Stripe made at most one PI.
    attempts = await fake.requests(f"payment-{problem['payment_id']}")
    assert len(attempts) == 3
    assert await order_status(db, bought.order["id"]) == "pending_payment"

    await fake.call("DELETE", "faults")
    _, intent = await started(shop, bought)
    assert (await fake.confirm(intent))["statuses"] == [200]
    assert await order_status(db, bought.order["id"]) == "paid"


async def test_a_server_error_is_retried_under_the_same_key(
    shop: httpx.AsyncClient, admin: dict[str, str], fake: Fake
) -> None:
    bought = await purchase(shop, admin)
    await fake.fault("error", 1, status=500, path_prefix="/v1/payment_intents")
    payment, _ = await started(shop, bought)
    attempts = await fake.requests(f"payment-{payment['id']}")
    assert [attempt["status"] for attempt in attempts] == [500, 200]


async def test_a_timed_out_creation_is_replayed_not_repeated(
    shop: httpx.AsyncClient, admin: dict[str, str], fake: Fake
) -> None:
    bought = await purchase(shop, admin)
    # The first attempt is processed, but only after the client gave up (2 s); the retry replays it.
    await fake.fault("hang", 1, seconds=2.2, path_prefix="/v1/payment_intents")
    payment, intent = await started(shop, bought)
    attempts = await fake.requests(f"payment-{payment['id']}")
    executed = [attempt for attempt in attempts if attempt["status"] == 200 and not attempt["replayed"]]
    assert len(executed) == 1
    assert any(attempt["replayed"] for attempt in attempts)
    assert (await fake.call("GET", f"objects/{intent}"))["metadata"]["payment_id"] == payment["id"]


async def test_reconciliation_settles_a_payment_whose_webhook_never_came(
    shop: httpx.AsyncClient,
    admin: dict[str, str],
    fake: Fake,
    db: Database,
    stack: Stack,
    database_name: str,
    fake_url: str,
    provider: StripeProvider,
) -> None:
    bought = await purchase(shop, admin)
    payment, intent = await started(shop, bought)
    await fake.confirm(intent, webhook=False)  # paid at Stripe; the notification is lost
    await db.payments.update_one(
        {"_id": ObjectId(payment["id"])}, {"$set": {"created_at": utcnow() - timedelta(seconds=5)}}
    )
    client: MongoClient = AsyncMongoClient(stack.mongodb_url, tz_aware=True)
    try:
        settings = provider_settings(stack, fake_url)
        ctx = PaymentContext(client, client[database_name], settings, {"stripe": provider})
        await asyncio.gather(reconcile(ctx), reconcile(ctx))  # two replicas at once
    finally:
        await client.close()
    assert await order_status(db, bought.order["id"]) == "paid"
    assert statuses(await stored_payment(db, payment["id"])) == ["pending", "succeeded"]
    inbox = await db.provider_events.find_one({"event_id": f"query:{intent}:succeeded"})
    assert inbox is not None
    assert inbox["disposition"] == "applied"


# --- refunds ----------------------------------------------------------------------------------------------


async def test_a_partial_refund_returns_stock_once_whichever_of_answer_and_webhook_wins(
    shop: httpx.AsyncClient, admin: dict[str, str], fake: Fake, db: Database
) -> None:
    bought, payment, intent = await paid_purchase(shop, admin, fake)
    product_id = bought.product["id"]
    assert await stock_of(db, product_id) == 7

    # The webhooks reach us before Stripe's answer to the refund call does.
    await fake.configure(refund_webhooks="before_response")
    first = await refund(shop, admin, payment["id"], items=[{"product_id": product_id, "quantity": 1}])
    assert first.status_code == 201, first.text
    assert (first.json()["status"], first.json()["amount"]["amount"]) == ("succeeded", PRICE)
    assert await stock_of(db, product_id) == 8
    booked = await db.refunds.find_one({"_id": ObjectId(first.json()["id"])})
    assert booked is not None
    [sent] = await fake.requests(f"refund-{booked['_id']}")
    assert sent["params"]["amount"] == str(PRICE)
    assert sent["params"]["payment_intent"] == intent
    assert sent["params"]["metadata"] == {"refund_id": str(booked["_id"])}
    refund_events = await fake.events_about(booked["provider_refund_id"])
    assert {event["type"] for event in refund_events} == {"refund.created", "refund.updated"}

    # Stripe delivers at least once: every event again, several times, at once.
    for event in refund_events:
        assert await fake.deliver(event_id=event["id"], duplicate=3, concurrent=True) == [200] * 3
    assert await stock_of(db, product_id) == 8

    # The answer first, the webhooks after it.
    await fake.configure(refund_webhooks="send")
    second = await refund(shop, admin, payment["id"], items=[{"product_id": product_id, "quantity": 1}])
    assert second.status_code == 201, second.text
    second_id = (await db.refunds.find_one({"_id": ObjectId(second.json()["id"])}) or {})[
        "provider_refund_id"
    ]

    async def webhooks_delivered() -> bool:
        deliveries = await fake.call("GET", "deliveries")
        mine = {event["id"] for event in await fake.events_about(second_id)}
        return len([entry for entry in deliveries if entry["event_id"] in mine]) >= 2

    await eventually(webhooks_delivered)
    assert await stock_of(db, product_id) == 9
    refunded = await stored_payment(db, payment["id"])
    assert (refunded["status"], refunded["refunded_amount"], refunded["refund_pending_amount"]) == (
        "partially_refunded",
        2 * PRICE,
        0,
    )
    order = await db.orders.find_one({"_id": ObjectId(bought.order["id"])})
    assert order is not None
    assert (order["status"], order["items"][0]["restocked_quantity"]) == ("partially_refunded", 2)


async def test_a_pending_refund_is_completed_or_released_by_its_webhook(
    shop: httpx.AsyncClient, admin: dict[str, str], fake: Fake, db: Database
) -> None:
    bought, payment, _ = await paid_purchase(shop, admin, fake)
    product_id = bought.product["id"]
    await fake.configure(refund_status="pending")
    line = {"product_id": product_id, "quantity": 1}

    failing = await refund(shop, admin, payment["id"], items=[line])
    assert failing.json()["status"] == "pending"
    failing_doc = await db.refunds.find_one({"_id": ObjectId(failing.json()["id"])})
    assert failing_doc is not None
    settled = await fake.call(
        "POST", f"refunds/{failing_doc['provider_refund_id']}/settle", {"outcome": "failed"}
    )
    assert settled["statuses"] == [200, 200]  # refund.failed, refund.updated
    assert (await db.refunds.find_one({"_id": failing_doc["_id"]}) or {})["status"] == "failed"
    released = await stored_payment(db, payment["id"])
    assert (released["status"], released["refunded_amount"], released["refund_pending_amount"]) == (
        "succeeded",
        0,
        0,
    )
    assert await stock_of(db, product_id) == 7

    succeeding = await refund(shop, admin, payment["id"], items=[line])
    succeeding_doc = await db.refunds.find_one({"_id": ObjectId(succeeding.json()["id"])})
    assert succeeding_doc is not None
    path = f"refunds/{succeeding_doc['provider_refund_id']}/settle"
    assert (await fake.call("POST", path, {"outcome": "succeeded"}))["statuses"] == [200, 200]
    assert (await db.refunds.find_one({"_id": succeeding_doc["_id"]}) or {})["status"] == "succeeded"
    assert await stock_of(db, product_id) == 8
    assert (await stored_payment(db, payment["id"]))["refunded_amount"] == PRICE


async def test_a_refund_beyond_what_is_refundable_is_refused(
    shop: httpx.AsyncClient, admin: dict[str, str], fake: Fake, db: Database
) -> None:
    bought, payment, intent = await paid_purchase(shop, admin, fake)
    too_much = await refund(shop, admin, payment["id"], amount=3 * PRICE + 1)
    assert too_much.status_code == 422
    assert too_much.json()["type"] == "/problems/refund-exceeds-refundable"
    too_many = await refund(
        shop, admin, payment["id"], amount=1, items=[{"product_id": bought.product["id"], "quantity": 4}]
    )
    assert too_many.status_code == 422
    assert too_many.json()["type"] == "/problems/restock-exceeds-sold"
    asked = [entry for entry in await fake.call("GET", "requests") if entry["path"] == "/v1/refunds"]
    assert all((entry["params"] or {}).get("payment_intent") != intent for entry in asked)
    assert (await stored_payment(db, payment["id"]))["refund_pending_amount"] == 0


async def test_racing_refunds_cannot_exceed_the_captured_amount(
    shop: httpx.AsyncClient, admin: dict[str, str], fake: Fake, db: Database
) -> None:
    _, payment, intent = await paid_purchase(shop, admin, fake)
    share = 2 * PRICE  # two of these are more than the 3 units paid for
    answers = await asyncio.gather(*(refund(shop, admin, payment["id"], amount=share) for _ in range(2)))
    assert sorted(answer.status_code for answer in answers) == [201, 422]
    refunded = await stored_payment(db, payment["id"])
    assert (refunded["refunded_amount"], refunded["refund_pending_amount"]) == (share, 0)
    charge = await fake.call(
        "GET", f"objects/{(await fake.call('GET', f'objects/{intent}'))['latest_charge']}"
    )
    assert charge["amount_refunded"] == share


# --- the provider on its own -------------------------------------------------------------------------------


async def test_query_reports_a_declined_attempt_only_once_there_was_one(
    provider: StripeProvider, fake: Fake
) -> None:
    payment_id = str(ObjectId())
    request = PaymentRequest(payment_id, str(ObjectId()), 1200, "USD", f"payment-{payment_id}", "")
    created = await provider.create_payment(request)
    assert (await provider.query_payment(created.provider_payment_id, payment_id)).kind == "payment_pending"
    await fake.confirm(created.provider_payment_id, "failed", webhook=False)
    failed = await provider.query_payment(created.provider_payment_id, payment_id)
    assert (failed.kind, failed.amount, failed.currency, failed.reference) == (
        "payment_failed",
        1200,
        "USD",
        payment_id,
    )
    await fake.confirm(created.provider_payment_id, webhook=False)
    assert (await provider.query_payment(created.provider_payment_id, payment_id)).kind == "payment_succeeded"


async def test_sdk_errors_say_whether_a_retry_may_help(provider: StripeProvider, fake: Fake) -> None:
    payment_id = str(ObjectId())
    request = PaymentRequest(payment_id, str(ObjectId()), 1200, "USD", f"payment-{payment_id}", "")
    await provider.create_payment(request)
    reused = PaymentRequest(payment_id, request.order_id, 9900, "USD", request.idempotency_key, "")
    with pytest.raises(ProviderError) as mismatch:
        await provider.create_payment(reused)  # same key, other parameters: idempotency_error
    assert not mismatch.value.retryable
    with pytest.raises(ProviderError) as unknown:
        await provider.query_payment("pi_" + "0" * 24, payment_id)
    assert not unknown.value.retryable
    await fake.fault("error", 3, status=503)
    with pytest.raises(ProviderError) as down:
        await provider.query_payment("pi_" + "0" * 24, payment_id)
    assert down.value.retryable


async def test_an_unanswered_refund_is_found_by_our_id_or_asked_for_again(
    provider: StripeProvider, fake: Fake
) -> None:
    payment_id = str(ObjectId())
    created = await provider.create_payment(
        PaymentRequest(payment_id, str(ObjectId()), 3000, "USD", f"payment-{payment_id}", "")
    )
    await fake.confirm(created.provider_payment_id, webhook=False)
    made = RefundRequest("r-made", created.provider_payment_id, 1000, "USD", "damaged", "refund-r-made")
    answered = await provider.refund(made)
    # Our call timed out, so we never learned the refund's id: it is found by our refund id.
    assert await provider.query_refund(made, None) == answered
    # A refund that never reached Stripe is asked for again, under its own key, once.
    lost = RefundRequest("r-lost", created.provider_payment_id, 500, "USD", "damaged", "refund-r-lost")
    found = await provider.query_refund(lost, None)
    assert found.state == "succeeded"
    assert await provider.query_refund(lost, found.provider_refund_id) == found
    assert [entry["status"] for entry in await fake.requests("refund-r-lost")] == [200]


async def test_the_fake_confirms_with_magic_payment_methods_as_stripe_does(fake_url: str) -> None:
    http = stripe.HTTPXClient()
    client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": fake_url}, http_client=http)
    try:
        intent = await client.v1.payment_intents.create_async({"amount": 700, "currency": "usd"})
        with pytest.raises(stripe.CardError) as declined:
            await client.v1.payment_intents.confirm_async(
                intent.id, {"payment_method": "pm_card_chargeDeclined"}
            )
        assert declined.value.code == "card_declined"
        retried = await client.v1.payment_intents.confirm_async(intent.id, {"payment_method": "pm_card_visa"})
        assert (retried.status, retried.amount_received) == ("succeeded", 700)
        assert retried.latest_charge is not None
        with pytest.raises(stripe.InvalidRequestError) as twice:
            await client.v1.payment_intents.confirm_async(intent.id, {"payment_method": "pm_card_visa"})
        assert twice.value.code == "payment_intent_unexpected_state"
        rest = await client.v1.refunds.create_async({"payment_intent": intent.id})
        assert (rest.amount, rest.status) == (700, "succeeded")
        with pytest.raises(stripe.InvalidRequestError) as empty:
            await client.v1.refunds.create_async({"payment_intent": intent.id, "amount": 1})
        assert empty.value.code == "charge_already_refunded"
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]


def test_a_charge_refunded_event_is_read_only_with_its_refund_list() -> None:
    charge: dict[str, Any] = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": "pi_1",
        "amount_refunded": 700,
    }
    event: dict[str, Any] = {
        "id": "evt_1",
        "object": "event",
        "type": "charge.refunded",
        "data": {"object": charge},
    }
    assert events_of(event) == []  # cumulative totals alone cannot say which refund it was
    charge["refunds"] = {
        "object": "list",
        "data": [
            {"id": "re_1", "amount": 300, "currency": "usd", "payment_intent": "pi_1", "status": "succeeded"},
            {"id": "re_2", "amount": 400, "currency": "usd", "payment_intent": "pi_1", "status": "pending"},
        ],
    }
    [only] = events_of(event)
    assert (only.event_id, only.kind, only.provider_refund_id, only.amount) == (
        "evt_1:re_1",
        "refund_succeeded",
        "re_1",
        300,
    )
    with pytest.raises(UnreadableEvent):
        events_of({"object": "event", "type": "payment_intent.succeeded"})
