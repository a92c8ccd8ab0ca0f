"""Payment use cases: start a payment for an order with a provider, read one."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from services.payment.context import PaymentContext
from services.payment.payments import repository
from services.payment.payments.errors import (
    OrderNotPayable,
    PaymentKeyReused,
    PaymentNotFound,
    ProviderFailed,
)
from services.payment.payments.schemas import CreatePayment, Payment
from services.payment.payments.views import to_payment
from services.payment.providers.base import PaymentRequest, ProviderError
from shared.clock import utcnow
from shared.db import Database, Document
from shared.ids import to_object_id
from shared.logging import log_event
from shared.tokens import Principal

logger = logging.getLogger("payment.payments")


@dataclass(frozen=True)
class Started:
    payment: Payment
    replayed: bool


async def start_payment(ctx: PaymentContext, user_id: str, body: CreatePayment, key: str) -> Started:
    """Create the provider payment for the caller's unpaid order, for the order's own total."""
    existing = await repository.find_by_key(ctx.db, user_id, key)
    if existing is not None:
        return _replay(existing, body)
    provider = ctx.provider(body.provider)
    order = await ctx.db.orders.find_one({"_id": ObjectId(body.order_id), "user_id": user_id})
    if order is None:
        raise PaymentNotFound(f"No order with id {body.order_id}.")
    if order["status"] != "pending_payment":
        raise OrderNotPayable(f"A {order['status']} order cannot be paid.", status=order["status"])
    payment = _new_payment(user_id, order, body.provider, key)
    try:
        await repository.insert_payment(ctx.db, payment)
    except DuplicateKeyError:
        claimed = await repository.find_by_key(ctx.db, user_id, key)
        assert claimed is not None
        return _replay(claimed, body)
    request = PaymentRequest(
        payment_id=str(payment["_id"]),
        order_id=body.order_id,
        amount=payment["amount"],
        currency=payment["currency"],
        idempotency_key=f"payment-{payment['_id']}",
        callback_url=f"{ctx.settings.public_base_url}/api/v1/payments/callbacks/{body.provider}",
    )
    try:
        created = await provider.create_payment(request)
    except ProviderError as error:
        await _record_failure(ctx.db, payment["_id"], str(error))
        raise ProviderFailed(
            "The payment provider could not start the payment; try again or choose another.",
            payment_id=str(payment["_id"]),
        ) from error
    stored = await repository.record_created(
        ctx.db,
        payment["_id"],
        {
            "provider_payment_id": created.provider_payment_id,
            "client_secret": created.client_secret,
            "redirect_url": created.redirect_url,
        },
        utcnow(),
    )
    assert stored is not None
    log_event(
        logger,
        "payment.started",
        payment_id=str(payment["_id"]),
        provider=body.provider,
        order_id=body.order_id,
    )
    return Started(to_payment(stored), replayed=False)


def _replay(existing: Document, body: CreatePayment) -> Started:
    if str(existing["order_id"]) != body.order_id or existing["provider"] != body.provider:
        raise PaymentKeyReused("This Idempotency-Key was used for another payment request; use a new key.")
    return Started(to_payment(existing), replayed=True)


def _new_payment(user_id: str, order: Document, provider: str, key: str) -> Document:
    now = utcnow()
    return {
        "_id": ObjectId(),
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


async def _record_failure(db: Database, payment_id: ObjectId, reason: str) -> None:
    now = utcnow()
    await repository.move(
        db,
        payment_id,
        ["pending"],
        {"status": "failed", "failure_reason": "provider_error", "updated_at": now},
        {"status": "failed", "at": now, "source": "provider_error"},
    )
    log_event(
        logger, "payment.provider_error", logging.WARNING, payment_id=str(payment_id), error=reason[:200]
    )


async def get_payment(db: Database, payment_id: str, caller: Principal) -> Payment:
    """One payment; another customer's payment does not exist for the caller (404)."""
    doc = await repository.find_payment(
        db, to_object_id(payment_id), user_id=None if caller.is_admin else caller.user_id
    )
    if doc is None:
        raise PaymentNotFound(f"No payment with id {payment_id}.")
    return to_payment(doc)
