"""Stripe and the size of money, through the gateway against the Stripe fake (which keeps Stripe's
currency rules on its own): ISK, JPY and KWD charged and refunded at their real size; what Stripe
cannot take refused before anything is created; a capture that does not match refunded and flagged
within one reconciliation pass; an incomplete success checked with Stripe, never half-checked; and
the PaymentIntent of a closed order cancelled."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from bson import ObjectId

from devstack.stack import Stack
from services.payment.context import PaymentContext
from services.payment.payments.reconciliation import reconcile
from services.payment.providers.stripe import StripeProvider
from shared.clock import utcnow
from shared.db import Database, MongoClient
from tests.builders import stock_of
from tests.payment.stripe_support import (
    PRICE,
    Fake,
    backdate,
    dashboard,
    eventually,
    order_status,
    paid_purchase,
    pay,
    purchase,
    refund,
    started,
    statuses,
    stored_payment,
    stripe_context,
)

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")

SHOP_CURRENCIES = "BDT,USD,EUR,ISK,JPY,KWD,MGA"


@pytest.fixture(scope="module")
def stripe_catalog_env() -> dict[str, str] | None:
    """This module sells in currencies of every Stripe kind: a catalog of its own offers them."""
    return {"SHOP_CURRENCIES": SHOP_CURRENCIES}


@pytest.fixture
def ctx(
    stack: Stack, mongo_client: MongoClient, database_name: str, fake_url: str, provider: StripeProvider
) -> PaymentContext:
    """A payment service in this process (its reconciliation is what the tests run)."""
    return stripe_context(stack, mongo_client, database_name, fake_url, provider)


async def charge_of(fake: Fake, intent: str) -> dict[str, Any]:
    latest: str = (await fake.call("GET", f"objects/{intent}"))["latest_charge"]
    charge: dict[str, Any] = await fake.call("GET", f"objects/{latest}")
    return charge


def flags(ctx: PaymentContext, reason: str) -> float:
    value = ctx.metrics.registry.get_sample_value(
        "payment_attention_flags_total", {"provider": "stripe", "reason": reason}
    )
    return value or 0.0


# --- the right size ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "quantity", "charged", "major", "refunded", "refunded_at_stripe"),
    [
        # 5,000 krónur: ISO 4217 has no decimals, Stripe reads ISK as two-decimal with 00.
        ({"amount": 5000, "currency": "ISK"}, 1, 500000, "5000.00", 1000, 100000),
        ({"amount": 1200, "currency": "JPY"}, 1, 1200, "1200", 240, 240),
        # 2 x 6.170 dinar: three decimals both sides, ending in 0 as Stripe requires.
        ({"amount": 6170, "currency": "KWD"}, 2, 12340, "12.340", 1230, 1230),
    ],
)
async def test_isk_jpy_and_kwd_orders_charge_and_refund_stripe_their_real_size(
    shop: httpx.AsyncClient,
    admin: dict[str, str],
    fake: Fake,
    db: Database,
    price: dict[str, Any],
    quantity: int,
    charged: int,
    major: str,
    refunded: int,
    refunded_at_stripe: int,
) -> None:
    bought = await purchase(shop, admin, quantity, price)
    total = price["amount"] * quantity
    payment, intent = await started(shop, bought)
    assert payment["amount"] == {"amount": total, "currency": price["currency"]}
    [sent] = await fake.requests(f"payment-{payment['id']}")
    assert (sent["params"]["amount"], sent["params"]["currency"]) == (str(charged), price["currency"].lower())
    assert (await fake.call("GET", f"charged/{intent}"))["major"] == major

    # Stripe's webhook reports its own figure: read back in ours, it is exactly the order's total.
    assert (await fake.confirm(intent))["statuses"] == [200]
    paid = await stored_payment(db, payment["id"])
    assert (paid["status"], paid["captured_amount"], paid["captured_currency"]) == (
        "succeeded",
        total,
        price["currency"],
    )
    assert paid.get("attention") is None
    assert await order_status(db, bought.order["id"]) == "paid"

    partial = await refund(shop, admin, payment["id"], amount=refunded)
    assert partial.status_code == 201, partial.text
    assert (partial.json()["status"], partial.json()["amount"]) == (
        "succeeded",
        {"amount": refunded, "currency": price["currency"]},
    )
    [asked] = await fake.requests(f"refund-{partial.json()['id']}")
    assert asked["params"]["amount"] == str(refunded_at_stripe)
    charge = await fake.call(
        "GET", f"objects/{(await fake.call('GET', f'objects/{intent}'))['latest_charge']}"
    )
    assert charge["amount_refunded"] == refunded_at_stripe


async def test_amounts_stripe_cannot_take_are_refused_before_anything_is_created(
    shop: httpx.AsyncClient, admin: dict[str, str], fake: Fake, db: Database
) -> None:
    before = len(await fake.call("GET", "requests"))
    cases = [
        ("KWD", 12345, 1, "last digit is 0"),  # 12.345 dinar
        ("MGA", 150050, 1, "whole units"),  # 1,500.50 ariary: Stripe counts whole ariary
        ("USD", 50_000_000, 2, "at most 99999999"),  # USD 1,000,000.00
    ]
    for currency, amount, quantity, rule in cases:
        price = {"amount": amount, "currency": currency}
        bought = await purchase(shop, admin, quantity, price)
        refused = await pay(shop, bought)
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert problem["type"] == "/problems/amount-not-representable"
        assert rule in problem["rule"]
        assert (problem["provider"], problem["currency"], problem["amount"]) == (
            "stripe",
            currency,
            amount * quantity,
        )
        assert await db.payments.count_documents({"order_id": ObjectId(bought.order["id"])}) == 0
        assert await db.payment_attempts.count_documents({"_id": ObjectId(bought.order["id"])}) == 0
    assert len(await fake.call("GET", "requests")) == before  # Stripe was never asked

    # A refund Stripe cannot take is refused before anything is held.
    bought, payment, intent = await paid_purchase(shop, admin, fake, 1, {"amount": 12340, "currency": "KWD"})
    odd = await refund(shop, admin, payment["id"], amount=1235)
    assert odd.status_code == 422, odd.text
    assert (odd.json()["type"], odd.json()["amount"]) == ("/problems/amount-not-representable", 1235)
    held = await stored_payment(db, payment["id"])
    assert (held["refund_pending_amount"], held["refunded_amount"]) == (0, 0)
    assert await db.refunds.count_documents({"payment_id": held["_id"]}) == 0
    asked = [entry for entry in await fake.call("GET", "requests") if entry["path"] == "/v1/refunds"]
    assert all((entry["params"] or {}).get("payment_intent") != intent for entry in asked)


# --- captures that do not match ------------------------------------------------------------------------


async def test_a_capture_of_another_amount_is_refunded_and_flagged_within_one_reconciliation_pass(
    shop: httpx.AsyncClient,
    admin: dict[str, str],
    fake: Fake,
    db: Database,
    fake_url: str,
    ctx: PaymentContext,
) -> None:
    bought = await purchase(shop, admin)  # 2 x 25.00 USD
    payment, intent = await started(shop, bought)
    # The PaymentIntent is changed at Stripe before the shopper pays (another integration, the
    # dashboard): Stripe captures 40.00 for a 50.00 order, and its webhook is lost.
    async with dashboard(fake_url) as stripe_api:
        await stripe_api.v1.payment_intents.update_async(intent, {"amount": 4000})
    await fake.confirm(intent, webhook=False)
    await backdate(db, payment["id"])

    await reconcile(ctx)  # one pass

    flagged = await stored_payment(db, payment["id"])
    assert flagged["status"] == "refunded"
    assert (flagged["captured_amount"], flagged["captured_currency"], flagged["refunded_amount"]) == (
        4000,
        "USD",
        4000,
    )
    assert flagged["attention_reasons"] == ["amount_mismatch"]
    assert flags(ctx, "amount_mismatch") == 1
    assert await order_status(db, bought.order["id"]) == "pending_payment"  # not paid by it
    [given_back] = await db.refunds.find({"payment_id": flagged["_id"]}).to_list()
    assert (given_back["amount"], given_back["currency"], given_back["automatic"], given_back["status"]) == (
        4000,
        "USD",
        True,
        "succeeded",
    )
    charge = await fake.call(
        "GET", f"objects/{(await fake.call('GET', f'objects/{intent}'))['latest_charge']}"
    )
    assert (charge["amount"], charge["amount_refunded"]) == (4000, 4000)
    mismatch = await db.payment_outbox.find_one(
        {"payment_id": flagged["_id"], "type": "PaymentCaptureMismatch"}
    )
    assert mismatch is not None
    assert (mismatch["captured_amount"], mismatch["captured_currency"], mismatch["currency"]) == (
        4000,
        "USD",
        "USD",
    )

    seen = (await shop.get(f"/api/v1/payments/{payment['id']}", headers=admin)).json()
    assert (seen["status"], seen["attention"], seen["captured"], seen["refunded"]) == (
        "refunded",
        ["amount_mismatch"],
        {"amount": 4000, "currency": "USD"},
        {"amount": 4000, "currency": "USD"},
    )
    assert (await shop.get(f"/api/v1/payments/{payment['id']}", headers=bought.buyer)).json()[
        "attention"
    ] is None

    # Settled: the next pass has nothing to ask about it.
    history = statuses(flagged)
    await reconcile(ctx)
    assert statuses(await stored_payment(db, payment["id"])) == history


async def test_a_capture_in_another_currency_is_refunded_in_that_currency(
    shop: httpx.AsyncClient, admin: dict[str, str], fake: Fake, db: Database, fake_url: str
) -> None:
    bought = await purchase(shop, admin)
    payment, intent = await started(shop, bought)
    async with dashboard(fake_url) as stripe_api:
        await stripe_api.v1.payment_intents.update_async(intent, {"currency": "eur"})
    # The webhook says EUR; Stripe, asked again, says EUR too: a real mismatch, dealt with at once.
    assert (await fake.confirm(intent))["statuses"] == [200]
    flagged = await stored_payment(db, payment["id"])
    assert (flagged["status"], flagged["captured_currency"], flagged["refunded_amount"]) == (
        "refunded",
        "EUR",
        5000,
    )
    assert flagged["attention_reasons"] == ["currency_mismatch"]
    [given_back] = await db.refunds.find({"payment_id": flagged["_id"]}).to_list()
    assert (given_back["amount"], given_back["currency"]) == (5000, "EUR")
    assert await order_status(db, bought.order["id"]) == "pending_payment"


async def test_a_success_without_its_amount_is_checked_with_stripe_never_half_checked(
    shop: httpx.AsyncClient, admin: dict[str, str], fake: Fake, db: Database
) -> None:
    bought = await purchase(shop, admin)
    payment, intent = await started(shop, bought)
    await fake.confirm(intent, webhook=False)
    incomplete = {"amount_received": None, "currency": None}
    # While Stripe cannot be asked, the incomplete event is not applied, and not remembered either.
    await fake.fault("error", 3, status=503, path_prefix=f"/v1/payment_intents/{intent}")
    delivered = await fake.call(
        "POST",
        "deliver",
        {"event_type": "payment_intent.succeeded", "object_id": intent, "overrides": incomplete},
    )
    assert delivered["statuses"] == [200]
    assert statuses(await stored_payment(db, payment["id"])) == ["pending"]
    assert await db.provider_events.count_documents({"event_id": delivered["event_id"]}) == 0

    await fake.call("DELETE", "faults")
    assert await fake.deliver(event_id=delivered["event_id"]) == [200]  # Stripe retries it
    paid = await stored_payment(db, payment["id"])
    assert (paid["status"], paid["captured_amount"], paid.get("attention")) == ("succeeded", 2 * PRICE, None)
    checked = await db.provider_events.find_one({"event_id": delivered["event_id"]})
    assert checked is not None
    assert checked["disposition"] == "checked at the provider: incomplete"
    assert await order_status(db, bought.order["id"]) == "paid"


# --- closed orders ------------------------------------------------------------------------------------


async def test_the_payment_intent_of_a_cancelled_or_expired_order_is_cancelled(
    shop: httpx.AsyncClient, admin: dict[str, str], fake: Fake, db: Database, ctx: PaymentContext
) -> None:
    cancelled = await purchase(shop, admin)
    cancelled_payment, cancelled_intent = await started(shop, cancelled)
    response = await shop.post(f"/api/v1/orders/{cancelled.order['id']}/cancel", headers=cancelled.buyer)
    assert response.status_code == 200, response.text

    expired = await purchase(shop, admin)
    expired_payment, expired_intent = await started(shop, expired)
    await db.orders.update_one({"_id": ObjectId(expired.order["id"])}, {"$set": {"expires_at": utcnow()}})

    async def reaped() -> bool:  # the stack's reaper sweeps twice a second
        return await order_status(db, expired.order["id"]) == "expired"

    await eventually(reaped)

    await reconcile(ctx)  # the orders closed moments ago: no need to wait for RECONCILE_AFTER_SECONDS

    for payment, intent in ((cancelled_payment, cancelled_intent), (expired_payment, expired_intent)):
        at_stripe = await fake.call("GET", f"objects/{intent}")
        assert (at_stripe["status"], at_stripe["cancellation_reason"]) == ("canceled", "abandoned")
        assert statuses(await stored_payment(db, payment["id"])) == ["pending", "cancelled"]
        late = await fake.client.post(
            f"/__control/payment_intents/{intent}/confirm", json={"outcome": "succeeded"}
        )
        assert late.status_code == 400  # nobody can pay it any more: no late payment, no lost fee
        assert late.json()["error"]["code"] == "payment_intent_unexpected_state"


async def test_a_payment_captured_before_its_cancel_arrived_is_refunded_and_the_order_stays_closed(
    shop: httpx.AsyncClient, admin: dict[str, str], fake: Fake, db: Database, ctx: PaymentContext
) -> None:
    bought = await purchase(shop, admin)
    payment, intent = await started(shop, bought)
    await fake.confirm(intent, webhook=False)  # paid at Stripe; the webhook is late
    response = await shop.post(f"/api/v1/orders/{bought.order['id']}/cancel", headers=bought.buyer)
    assert response.status_code == 200, response.text
    assert await stock_of(db, bought.product["id"]) == 10

    await reconcile(ctx)

    late = await stored_payment(db, payment["id"])
    assert (late["status"], late["refunded_amount"]) == ("refunded", 2 * PRICE)
    assert "order_not_payable" in late["attention_reasons"]
    assert await order_status(db, bought.order["id"]) == "cancelled"
    assert await stock_of(db, bought.product["id"]) == 10  # given back once, by the cancel
