"""Refunds decided on the order's truth: admin refunds racing the automatic refund of a payment that
completed for a cancelled order, a late payment's refunds (money, never stock), and automatic
refunds that fail being alarmed and retried by reconciliation until all the money is back."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from bson import ObjectId

from services.payment.context import PaymentContext
from services.payment.payments.reconciliation import reconcile
from services.payment.payments.settlement import settle
from services.payment.providers.base import ProviderError, RefundRequest, RefundResult
from services.payment.providers.sandbox import SandboxProvider
from shared.clock import utcnow
from shared.db import Database
from tests.builders import stock_of
from tests.payment.sandbox import Ordered, complete, ordered, pay, refund, stored, together, with_providers

PRICE, QUANTITY = 1000, 2
CAPTURED = PRICE * QUANTITY
ADMINS = 10  # concurrent admins per round, each asking for a quarter of the payment
ROUNDS = 10


async def cancelled_with_pending_payment(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> tuple[Ordered, dict[str, Any]]:
    """A cancelled order (its 2 units back in stock) whose sandbox payment is still pending."""
    placed = await ordered(gateway, admin, quantity=QUANTITY, price=PRICE)
    payment = (await pay(gateway, placed.buyer, placed.order["id"])).json()
    cancelled = await gateway.post(f"/api/v1/orders/{placed.order['id']}/cancel", headers=placed.buyer)
    assert cancelled.status_code == 200, cancelled.text
    return placed, payment


async def admin_refunding(
    gateway: httpx.AsyncClient, db: Database, admin: dict[str, str], payment_id: str, body: dict[str, Any]
) -> httpx.Response:
    """An admin asking again while the payment is pending (409 payment-not-refundable), so the asks
    land right when the money arrives; the answer once it has."""
    for _ in range(1000):
        response = await refund(gateway, admin, payment_id, body)
        if response.status_code != 409 or (await stored(db, "payments", payment_id))["status"] != "pending":
            return response  # a decision on captured money (409 here: all refunded already)
    raise AssertionError("the payment never completed")


async def assert_all_back_once(db: Database, placed: Ordered, payment_id: str) -> list[dict[str, Any]]:
    """Money: every refund final, together exactly the capture. Stock and order: untouched."""
    refunds = await db.refunds.find({"payment_id": ObjectId(payment_id)}).to_list()
    assert all(made["status"] in ("succeeded", "failed") for made in refunds)
    assert sum(made["amount"] for made in refunds if made["status"] == "succeeded") == CAPTURED
    assert not any(made["items"] for made in refunds)
    payment = await stored(db, "payments", payment_id)
    assert (payment["status"], payment["refunded_amount"], payment["refund_pending_amount"]) == (
        "refunded",
        CAPTURED,
        0,
    )
    assert "auto_refund_due_since" not in payment
    order = await stored(db, "orders", placed.order["id"])
    assert [entry["status"] for entry in order["history"]] == ["pending_payment", "cancelled"]
    assert all(
        not line.get("restocked_quantity") and not line.get("restock_pending") for line in order["items"]
    )
    assert await stock_of(db, placed.product["id"]) == 10  # returned once, by the cancellation
    return refunds


async def test_admin_refunds_racing_the_late_completion_of_a_cancelled_order(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    for _ in range(ROUNDS):
        placed, payment = await cancelled_with_pending_payment(gateway, admin)
        assert await stock_of(db, placed.product["id"]) == 10
        money = {"amount": CAPTURED // 4, "reason": "race"}
        restock = {**money, "items": [{"product_id": placed.product["id"], "quantity": 1}]}
        completed, *answers = await together(
            complete(gateway, placed.buyer, payment["id"]),
            *(
                admin_refunding(gateway, db, admin, payment["id"], restock if n % 2 else money)
                for n in range(ADMINS)
            ),
        )

        assert completed.status_code == 200, completed.text
        refused = {
            409: "/problems/payment-not-refundable",  # all refunded already
            422: "/problems/refund-exceeds-refundable",  # the rest is being refunded
        }
        for n, answer in enumerate(answers):
            problem = answer.json().get("type")
            if n % 2:  # naming units: the cancelled order holds none, so never accepted
                assert answer.status_code in (409, 422), answer.text
                if answer.status_code == 422:
                    assert problem == "/problems/restock-exceeds-sold"
                    assert answer.json()["lines"][0]["restockable"] == 0
            elif answer.status_code != 201:
                assert problem == refused.get(answer.status_code), answer.text
        refunds = await assert_all_back_once(db, placed, payment["id"])
        by_admins = {answer.json()["id"] for answer in answers if answer.status_code == 201}
        assert {str(made["_id"]) for made in refunds if made["by"] != "system:settlement"} == by_admins
        seen = await gateway.get(f"/api/v1/payments/{payment['id']}", headers=placed.buyer)
        assert (seen.json()["status"], seen.json()["refunded"]["amount"]) == ("refunded", CAPTURED)
        seen_order = await gateway.get(f"/api/v1/orders/{placed.order['id']}", headers=placed.buyer)
        assert seen_order.json()["status"] == "cancelled"


class FailingRefunds(SandboxProvider):
    """The sandbox, except that refunds fail: refused outright, or unanswered (retryable)."""

    def __init__(self, sandbox: SandboxProvider, *, retryable: bool) -> None:
        super().__init__(sandbox.db, sandbox.public_base_url)
        self.retryable = retryable

    async def refund(self, request: RefundRequest) -> RefundResult:
        raise ProviderError("refunds are down", retryable=self.retryable)


def failing_refunds(ctx: PaymentContext, *, retryable: bool) -> PaymentContext:
    sandbox = ctx.providers["sandbox"]
    assert isinstance(sandbox, SandboxProvider)
    return with_providers(ctx, {"sandbox": FailingRefunds(sandbox, retryable=retryable)})


def failures(ctx: PaymentContext, stage: str) -> float:
    labels = {"kind": "automatic", "stage": stage}
    return ctx.metrics.registry.get_sample_value("payment_refund_failures_total", labels) or 0.0


async def completed_in_process(ctx: PaymentContext, db: Database, payment_id: str) -> None:
    """The shopper paying at the sandbox, settled by a payment service run in this process."""
    provider = ctx.providers["sandbox"]
    assert isinstance(provider, SandboxProvider)
    doc = await stored(db, "payments", payment_id)
    assert await settle(ctx, "sandbox", await provider.complete(doc["provider_payment_id"], "succeeded")) == (
        "applied"
    )


async def overdue_and_ready(db: Database, payment_id: str) -> None:
    """Let time pass for the payment: its next try is due, and it has been owed for long."""
    past = utcnow() - timedelta(minutes=30)
    await db.payments.update_one(
        {"_id": ObjectId(payment_id)}, {"$set": {"auto_refund_next_at": past, "auto_refund_due_since": past}}
    )
    await db.refunds.update_many({"payment_id": ObjectId(payment_id)}, {"$set": {"created_at": past}})


async def test_a_refused_automatic_refund_is_alarmed_and_completed_by_reconciliation(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database, sandbox_context: PaymentContext
) -> None:
    working, failing = sandbox_context, failing_refunds(sandbox_context, retryable=False)
    placed, payment = await cancelled_with_pending_payment(gateway, admin)
    await completed_in_process(failing, db, payment["id"])

    assert failures(failing, "provider") == 1
    late = await stored(db, "payments", payment["id"])
    assert (late["status"], late["refunded_amount"], late["refund_pending_amount"]) == ("succeeded", 0, 0)
    assert late["auto_refund_next_at"] > utcnow()  # retried later, backing off; not dropped
    [failed] = await db.refunds.find({"payment_id": ObjectId(payment["id"])}).to_list()
    assert (failed["status"], failed["automatic"], failed["amount"]) == ("failed", True, CAPTURED)

    # Meanwhile an admin may give money back, but no units: the cancelled order holds none.
    units = await refund(
        gateway,
        admin,
        payment["id"],
        {"amount": 500, "items": [{"product_id": placed.product["id"], "quantity": 1}], "reason": "x"},
    )
    assert (units.status_code, units.json()["type"]) == (422, "/problems/restock-exceeds-sold")
    money = await refund(gateway, admin, payment["id"], {"amount": 500, "reason": "goodwill"})
    assert (money.status_code, money.json()["status"]) == (201, "succeeded")
    assert (await stored(db, "orders", placed.order["id"]))["status"] == "cancelled"

    await overdue_and_ready(db, payment["id"])
    await reconcile(working)
    assert working.metrics.registry.get_sample_value("payment_automatic_refunds_overdue") == 1
    refunds = await assert_all_back_once(db, placed, payment["id"])
    succeeded = sorted(
        (made["amount"], made["automatic"]) for made in refunds if made["status"] == "succeeded"
    )
    assert succeeded == [(500, False), (CAPTURED - 500, True)]
    await reconcile(working)
    assert working.metrics.registry.get_sample_value("payment_automatic_refunds_overdue") == 0


async def test_an_unanswered_automatic_refund_is_settled_then_completed_by_reconciliation(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database, sandbox_context: PaymentContext
) -> None:
    working, failing = sandbox_context, failing_refunds(sandbox_context, retryable=True)
    placed, payment = await cancelled_with_pending_payment(gateway, admin)
    await completed_in_process(failing, db, payment["id"])

    assert failures(failing, "provider") == 1
    [pending] = await db.refunds.find({"payment_id": ObjectId(payment["id"])}).to_list()
    assert (pending["status"], pending["amount"]) == ("pending", CAPTURED)  # the money stays held
    assert (await stored(db, "payments", payment["id"]))["refund_pending_amount"] == CAPTURED

    await overdue_and_ready(db, payment["id"])
    # Several replicas at once: the provider never got the refund, so it is released as failed,
    # and the payment's money is then refunded once.
    await asyncio.gather(reconcile(working), reconcile(working))
    refunds = await assert_all_back_once(db, placed, payment["id"])
    assert sorted((made["status"], made["amount"]) for made in refunds) == [
        ("failed", CAPTURED),
        ("succeeded", CAPTURED),
    ]
