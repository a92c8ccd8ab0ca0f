"""Payment attempts of one order: at most one open provider payment per provider, and a cap on how
many provider payments one order may start.

A new attempt runs in one transaction: it finds the order's pending payment with the same provider
(which it then reuses), or inserts a new payment and counts it against the cap on the order's
attempt counter. That counter is written by every attempt of the order, so concurrent attempts
conflict on it and run one after the other: two requests with different Idempotency-Keys cannot
both create a provider payment, and the cap cannot be raced past.

An order whose total the provider cannot represent (a three-decimal amount not ending in 0 at
Stripe, anything but BDT at bKash) is refused in that transaction, before anything is written.

The provider call itself happens after that transaction. Until it returns, the payment is pending
without a provider id; a request that reuses it waits (briefly) for it to be started, and one that
was left unstarted by a process that died is failed as abandoned so the order can be paid again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from pymongo.asynchronous.client_session import AsyncClientSession

from services.payment.context import PaymentContext
from services.payment.orders import repository as orders
from services.payment.payments import repository
from services.payment.payments.errors import (
    OrderNotPayable,
    PaymentAttemptsExhausted,
    PaymentInProgress,
    PaymentNotFound,
)
from services.payment.payments.schemas import CreatePayment
from services.payment.payments.settlement import PAYABLE_ORDER
from services.payment.payments.units import require_representable
from shared.clock import utcnow
from shared.db import Document
from shared.ids import to_object_id, unguessable_object_id

FIRST_POLL_SECONDS, MAX_POLL_SECONDS = 0.05, 0.5


@dataclass(frozen=True)
class Claim:
    payment: Document
    created: bool  # True: a new payment the caller must now create at the provider


async def claim(ctx: PaymentContext, user_id: str, body: CreatePayment, key: str) -> Claim:
    """Reuse the order's pending payment with this provider, or insert a new one within the cap.

    Raises DuplicateKeyError when the same Idempotency-Key was claimed concurrently.
    """
    order_id = to_object_id(body.order_id)
    limit = ctx.settings.payment_max_attempts_per_order

    async def attempt(session: AsyncClientSession) -> Claim:
        order = await orders.find_owned_order(ctx.db, order_id, user_id, session)
        if order is None:
            raise PaymentNotFound(f"No order with id {body.order_id}.")
        if order["status"] != PAYABLE_ORDER:
            raise OrderNotPayable(f"A {order['status']} order cannot be paid.", status=order["status"])
        total = order["total"]
        require_representable(body.provider, total["currency"], total["amount"], "this order's total")
        pending = await repository.find_pending(ctx.db, order_id, body.provider, session)
        if pending is not None:
            return Claim(pending, created=False)
        payment = new_payment(user_id, order, body.provider, key)
        await repository.insert_payment(ctx.db, payment, session)
        # The contended write, last: every attempt of this order meets here.
        if await repository.count_attempt(ctx.db, order_id, payment["created_at"], session) > limit:
            raise PaymentAttemptsExhausted(
                f"This order has started {limit} payments, the most one order may; "
                "cancel it and order again to pay another way.",
                limit=limit,
            )
        return Claim(payment, created=True)

    return await ctx.transaction(attempt)


def new_payment(user_id: str, order: Document, provider: str, key: str) -> Document:
    now = utcnow()
    return {
        "_id": unguessable_object_id(),  # payment ids appear in URLs (and in the sandbox's redirect)
        "user_id": user_id,
        "order_id": order["_id"],
        "provider": provider,
        "status": "pending",
        "amount": order["total"]["amount"],
        "currency": order["total"]["currency"],
        "idempotency_key": key,
        "provider_payment_id": None,
        "refunded_amount": 0,
        "refund_pending_amount": 0,
        "created_at": now,
        "updated_at": now,
        "history": [{"status": "pending", "at": now, "source": "customer"}],
    }


def start_budget(ctx: PaymentContext) -> timedelta:
    """How long starting a payment at the provider may take: one call with all its retries."""
    settings = ctx.settings
    return timedelta(seconds=settings.provider_timeout_seconds * (settings.provider_max_retries + 1))


async def until_started(ctx: PaymentContext, payment: Document) -> Document:
    """The payment once another request has started it at the provider (or failed it).

    Waits at most one start budget (keeping the caller's answer within the gateway's timeout). A
    payment still unstarted twice its budget after creation was left by a process that died: it is
    failed as abandoned. One that is merely slow answers 409 payment-in-progress with Retry-After.
    """
    budget = start_budget(ctx)
    deadline = asyncio.get_running_loop().time() + budget.total_seconds()
    pause = FIRST_POLL_SECONDS
    current: Document | None = payment
    while current is not None and current["status"] == "pending" and not current["provider_payment_id"]:
        now = utcnow()
        if now - current["created_at"] > 2 * budget:
            await repository.abandon(ctx.db, current["_id"], now)
        elif asyncio.get_running_loop().time() >= deadline:
            raise PaymentInProgress(
                "This order's payment is still being started with the provider; ask again shortly.",
                retry_after_seconds=max(1, round(budget.total_seconds())),
                payment_id=str(current["_id"]),
            )
        else:
            await asyncio.sleep(pause)
            pause = min(pause * 2, MAX_POLL_SECONDS)
        current = await repository.find_payment(ctx.db, payment["_id"])
    assert current is not None
    return current
