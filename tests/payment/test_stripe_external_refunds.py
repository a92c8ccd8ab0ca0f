"""Refund webhooks are matched by identity (our refund id in Stripe's metadata, or Stripe's refund
id once known), never by amount; a refund made in Stripe's dashboard is recorded as an external
refund, lowers what can still be refunded, moves the order's money status, and is shown to admins."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from bson import ObjectId

from shared.db import Database
from tests.builders import stock_of
from tests.conftest import internal_headers
from tests.payment.conftest import ProviderStack
from tests.payment.stripe_support import (
    PRICE,
    Fake,
    dashboard,
    eventually,
    paid_purchase,
    refund,
    stored_payment,
)

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")


async def refunds_of(shop: httpx.AsyncClient, admin: dict[str, str], payment_id: str) -> list[dict[str, Any]]:
    listed = await shop.get(f"/api/v1/payments/{payment_id}/refunds", headers=admin)
    assert listed.status_code == 200, listed.text
    items: list[dict[str, Any]] = listed.json()["items"]
    return items


async def test_a_dashboard_refund_is_recorded_once_as_external_and_lowers_what_is_refundable(
    shop: httpx.AsyncClient,
    admin: dict[str, str],
    fake: Fake,
    db: Database,
    fake_url: str,
    stripe_stack: ProviderStack,
) -> None:
    bought, payment, intent = await paid_purchase(shop, admin, fake)  # 3 x 25.00 USD
    async with dashboard(fake_url) as stripe_api:
        made = await stripe_api.v1.refunds.create_async({"payment_intent": intent, "amount": PRICE})

    async def booked() -> bool:
        refunded: int = (await stored_payment(db, payment["id"]))["refunded_amount"]
        return refunded == PRICE

    await eventually(booked)  # Stripe's webhooks arrive after its answer to the dashboard
    # Stripe delivers at least once: every event about it again, several times, at once.
    for event in await fake.events_about(made.id):
        assert await fake.deliver(event_id=event["id"], duplicate=3, concurrent=True) == [200] * 3

    [external] = await refunds_of(shop, admin, payment["id"])
    assert (external["external"], external["status"], external["amount"]) == (
        True,
        "succeeded",
        {"amount": PRICE, "currency": "USD"},
    )
    seen = (await shop.get(f"/api/v1/payments/{payment['id']}", headers=admin)).json()
    assert (seen["status"], seen["refunded"], seen["attention"]) == (
        "partially_refunded",
        {"amount": PRICE, "currency": "USD"},
        ["external_refund"],
    )
    assert (await shop.get(f"/api/v1/payments/{payment['id']}", headers=bought.buyer)).json()[
        "attention"
    ] is None
    order = (await shop.get(f"/api/v1/orders/{bought.order['id']}", headers=bought.buyer)).json()
    assert (order["fulfilment_status"], order["money_status"], order["status"]) == (
        "paid",
        "partially_refunded",
        "partially_refunded",
    )
    assert await stock_of(db, bought.product["id"]) == 7  # nobody said which units came back
    issued = await db.payment_outbox.find_one({"type": "RefundIssued", "payment_id": ObjectId(payment["id"])})
    assert issued is not None
    assert (issued["amount"], issued["currency"], issued["external"]) == (PRICE, "USD", True)

    too_much = await refund(shop, admin, payment["id"], amount=2 * PRICE + 1)
    assert too_much.status_code == 422
    assert too_much.json()["refundable"] == {"amount": 2 * PRICE, "currency": "USD"}
    rest = await refund(shop, admin, payment["id"])
    assert rest.status_code == 201, rest.text
    assert rest.json()["amount"] == {"amount": 2 * PRICE, "currency": "USD"}
    assert (await stored_payment(db, payment["id"]))["status"] == "refunded"

    metrics = await shop_metrics(stripe_stack)
    assert 'payment_attention_flags_total{provider="stripe",reason="external_refund"}' in metrics


async def shop_metrics(running: ProviderStack) -> str:
    async with httpx.AsyncClient(base_url=running.payment_url, timeout=30) as service:
        answer = await service.get("/metrics", headers=internal_headers())
    assert answer.status_code == 200
    return answer.text


async def test_refund_webhooks_are_matched_by_our_refund_id_never_by_amount(
    shop: httpx.AsyncClient, admin: dict[str, str], fake: Fake, db: Database, fake_url: str
) -> None:
    _, payment, intent = await paid_purchase(shop, admin, fake)
    await fake.configure(refund_status="pending")
    ours = await refund(shop, admin, payment["id"], amount=PRICE)
    assert ours.json()["status"] == "pending"
    ours_id = ObjectId(ours.json()["id"])
    stripe_id = (await db.refunds.find_one({"_id": ours_id}) or {})["provider_refund_id"]
    # As if Stripe's answer to our call had not been recorded yet (its webhooks can come first).
    await db.refunds.update_one({"_id": ours_id}, {"$set": {"provider_refund_id": None}})

    # Meanwhile the same amount is refunded in the dashboard: it is not ours, whatever its amount.
    await fake.configure(refund_status="succeeded")
    async with dashboard(fake_url) as stripe_api:
        theirs = await stripe_api.v1.refunds.create_async({"payment_intent": intent, "amount": PRICE})

    async def external_booked() -> bool:
        return await db.refunds.count_documents({"provider_refund_id": theirs.id, "external": True}) == 1

    await eventually(external_booked)
    assert (await db.refunds.find_one({"_id": ours_id}) or {})["status"] == "pending"

    # Ours completes: its webhooks carry our refund id, which finds it (and binds Stripe's id to it).
    settled = await fake.call("POST", f"refunds/{stripe_id}/settle", {"outcome": "succeeded"})
    assert settled["statuses"] == [200, 200]
    booked = await db.refunds.find_one({"_id": ours_id})
    assert booked is not None
    assert (booked["status"], booked["provider_refund_id"], booked.get("external")) == (
        "succeeded",
        stripe_id,
        None,
    )
    both = await stored_payment(db, payment["id"])
    assert (both["refunded_amount"], both["refund_pending_amount"], both["status"]) == (
        2 * PRICE,
        0,
        "partially_refunded",
    )
