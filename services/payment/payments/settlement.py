"""Settlement: apply what a provider vouches for, exactly once.

Every event is verified before it gets here (signature, or the provider's own answer to execute /
verify / query). Then: match it to our payment and check amount, currency and reference; then one
transaction stores it in the inbox under its unique (provider, event id) — a duplicate stops there —
and applies it: payment succeeded/failed, order paid, outbox event. Out-of-order events cannot
corrupt state, because every change is a guarded transition (a failure never undoes a success).

A payment that succeeds for an order that already expired, was cancelled or was paid by another
payment is recorded, the order is not touched, and the payment is marked due for an automatic
refund in the same transaction: refunded right after, and by reconciliation until all of it is back.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import asdict
from typing import Literal

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from services.payment.context import PaymentContext
from services.payment.payments import repository
from services.payment.providers.base import ProviderEvent
from services.payment.refunds import booking
from services.payment.refunds import repository as refund_repository
from services.payment.refunds import service as refunds
from shared.clock import utcnow
from shared.db import Document, with_transaction
from shared.logging import log_event

logger = logging.getLogger("payment.settlement")

Outcome = Literal["applied", "duplicate", "ignored", "rejected"]
# An order can be paid only while it waits for payment.
PAYABLE_ORDER = "pending_payment"


async def settle(ctx: PaymentContext, provider: str, event: ProviderEvent) -> Outcome:
    """Apply one verified provider event once; duplicates and irrelevant events change nothing."""
    if event.kind == "payment_pending":
        return "ignored"
    payment = await _payment_for(ctx, provider, event)
    if payment is None:
        await _remember(ctx, provider, event, None, "unmatched")
        return "ignored"
    mismatch = _mismatch(payment, event)
    if mismatch:
        log_event(
            logger,
            "payment.event_rejected",
            logging.WARNING,
            provider=provider,
            event_id=event.event_id,
            payment_id=str(payment["_id"]),
            reason=mismatch,
        )
        await _remember(ctx, provider, event, payment["_id"], f"rejected: {mismatch}")
        return "rejected"
    needs_refund = False

    async def apply(session: AsyncClientSession) -> bool:
        await repository.insert_provider_event(
            ctx.db, _inbox_entry(provider, event, payment["_id"], "applied"), session
        )
        if event.kind == "payment_succeeded":
            return await _succeed(ctx, payment, event, session)
        if event.kind == "payment_failed":
            await _fail(ctx, payment, event, session)
        else:
            await booking.apply_provider_outcome(ctx, payment, event, session)
        return False

    try:
        needs_refund = await with_transaction(ctx.client, apply, timeout_seconds=ctx.timeout)
    except DuplicateKeyError:
        return "duplicate"
    log_event(
        logger,
        "payment.event_applied",
        provider=provider,
        event_id=event.event_id,
        kind=event.kind,
        payment_id=str(payment["_id"]),
    )
    if needs_refund:
        await refunds.refund_automatically(ctx, payment["_id"])
    return "applied"


async def _payment_for(ctx: PaymentContext, provider: str, event: ProviderEvent) -> Document | None:
    payment = await repository.find_by_provider_payment(ctx.db, provider, event.provider_payment_id)
    if payment is None and event.reference and ObjectId.is_valid(event.reference):
        candidate = await repository.find_payment(ctx.db, ObjectId(event.reference))
        if candidate is not None and candidate["provider"] == provider:
            payment = candidate
    return payment


def _mismatch(payment: Document, event: ProviderEvent) -> str | None:
    if event.reference is not None and event.reference != str(payment["_id"]):
        return "reference"
    wrong_money = event.amount != payment["amount"] or (event.currency or "").upper() != payment["currency"]
    if event.kind.startswith("payment_") and event.amount is not None and wrong_money:
        return "amount"
    return None


async def _succeed(
    ctx: PaymentContext, payment: Document, event: ProviderEvent, session: AsyncClientSession
) -> bool:
    """Payment succeeded; order paid. True when the order could not be paid (the money goes back)."""
    now = utcnow()
    moved = await repository.move(
        ctx.db,
        payment["_id"],
        ["pending", "failed"],
        {"status": "succeeded", "captured_at": now, "updated_at": now},
        {"status": "succeeded", "at": now, "source": f"event:{event.event_id}"},
        session,
    )
    if moved is None:
        return False  # already succeeded (another event for the same money), or refunded since
    paid = await ctx.db.orders.find_one_and_update(
        {"_id": payment["order_id"], "status": PAYABLE_ORDER},
        {
            "$set": {"status": "paid", "updated_at": now, "payment_id": payment["_id"]},
            "$push": {
                "history": {"status": "paid", "at": now, "by": f"payment:{payment['_id']}", "reason": None}
            },
        },
        session=session,
    )
    if paid is None:
        # Recorded with the success itself, so the refund happens even if this process dies now.
        retry_at = now + ctx.settings.reconcile_backoff(0, ctx.settings.reconcile_every_seconds)
        await refund_repository.mark_auto_refund_due(ctx.db, payment["_id"], now, retry_at, session)
    await repository.insert_outbox(ctx.db, _outbox("PaymentSucceeded", moved, now), session)
    return paid is None


async def _fail(
    ctx: PaymentContext, payment: Document, event: ProviderEvent, session: AsyncClientSession
) -> None:
    now = utcnow()
    # Only a pending payment can fail: a late failure never undoes a success.
    moved = await repository.move(
        ctx.db,
        payment["_id"],
        ["pending"],
        {"status": "failed", "failure_reason": "declined", "updated_at": now},
        {"status": "failed", "at": now, "source": f"event:{event.event_id}"},
        session,
    )
    if moved is not None:
        await repository.insert_outbox(ctx.db, _outbox("PaymentFailed", moved, now), session)


async def _remember(
    ctx: PaymentContext, provider: str, event: ProviderEvent, payment_id: ObjectId | None, disposition: str
) -> None:
    """Keep what was not applied too (support can see it); a duplicate of it is simply ignored."""
    with contextlib.suppress(DuplicateKeyError):
        await repository.insert_provider_event(ctx.db, _inbox_entry(provider, event, payment_id, disposition))


def _inbox_entry(
    provider: str, event: ProviderEvent, payment_id: ObjectId | None, disposition: str
) -> Document:
    return {
        "provider": provider,
        **asdict(event),
        "payment_id": payment_id,
        "disposition": disposition,
        "received_at": utcnow(),
    }


def _outbox(kind: str, payment: Document, now: object) -> Document:
    return {
        "_id": ObjectId(),
        "type": kind,
        "payment_id": payment["_id"],
        "order_id": payment["order_id"],
        "amount": payment["amount"],
        "currency": payment["currency"],
        "created_at": now,
        "published_at": None,
    }
