"""What a payment event does, inside settlement's transaction: a capture pays the order (or is
refunded), a failure or a withdrawal ends a pending payment, and a capture that does not match the
payment is never stranded.

A capture whose amount or currency is not the payment's (checked at the provider first, see
settlement.py) does not pay the order: the payment is recorded as succeeded with what was really
captured, flagged for a person (`attention`, the `payment_attention_flags_total` metric and an error
log), and marked due for an automatic refund of everything captured, in the same transaction. So it
leaves `pending` at once (reconciliation stops asking about it), and the refund is retried by the
reconciler until the money is back. The order is left alone: still payable by another payment, or
expiring and giving its stock back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from services.payment.context import PaymentContext
from services.payment.events import payment_event
from services.payment.orders import repository as orders
from services.payment.payments import repository
from services.payment.providers.base import ProviderEvent
from services.payment.refunds import repository as refund_repository
from shared.clock import utcnow
from shared.db import Document
from shared.logging import log_event

logger = logging.getLogger("payment.settlement")

# A capture can arrive for a payment in any of these: a failed attempt can be followed by a good one
# (Stripe), and a withdrawn payment can still have been paid where the provider cannot withdraw.
CAPTURABLE = ["pending", "failed", "cancelled"]


@dataclass(frozen=True)
class Alert:
    """A flag raised inside a transaction, alerted once it has committed (a callback may re-run)."""

    reason: str
    fields: dict[str, object] = field(default_factory=dict)


async def _due_for_refund(
    ctx: PaymentContext, payment_id: ObjectId, now: datetime, session: AsyncClientSession
) -> None:
    # Settlement refunds at once itself; reconciliation's first retry is one period away.
    retry_at = now + ctx.settings.reconcile_backoff(0, ctx.settings.reconcile_every_seconds)
    await refund_repository.mark_auto_refund_due(ctx.db, payment_id, now, retry_at, session)


async def succeed(
    ctx: PaymentContext, payment: Document, event: ProviderEvent, session: AsyncClientSession
) -> bool:
    """Payment succeeded; order paid. True when the order could not be paid (the money goes back)."""
    now = utcnow()
    moved = await repository.transition(
        ctx.db,
        payment["_id"],
        CAPTURABLE,
        {
            "status": "succeeded",
            "captured_at": now,
            "captured_amount": payment["amount"],
            "captured_currency": payment["currency"],
            "updated_at": now,
        },
        {"status": "succeeded", "at": now, "source": f"event:{event.event_id}"},
        session,
    )
    if moved is None:
        return False  # already succeeded (another event for the same money), or refunded since
    paid = await orders.pay(ctx.db, payment["order_id"], payment["_id"], now, session)
    if paid is None:
        # Recorded with the success itself, so the refund happens even if this process dies now.
        await _due_for_refund(ctx, payment["_id"], now, session)
        await repository.flag(ctx.db, payment["_id"], "order_not_payable", session)
    await repository.insert_outbox(ctx.db, payment_event("PaymentSucceeded", moved, now), session)
    return paid is None


async def mismatched(
    ctx: PaymentContext,
    payment: Document,
    event: ProviderEvent,
    problem: str,
    session: AsyncClientSession,
) -> bool:
    """Record a capture that is not this payment's money; True when it can be refunded automatically."""
    now = utcnow()
    captured: Document = {"captured_at": now, "updated_at": now}
    refundable = event.amount is not None and event.currency is not None
    if refundable:
        # What the provider really holds, in our units of its currency: the refund gives back exactly that.
        captured.update(captured_amount=event.amount, captured_currency=str(event.currency).upper())
    else:
        captured.update(captured_amount=0, captured_report=event.amount_error)
    moved = await repository.transition(
        ctx.db,
        payment["_id"],
        CAPTURABLE,
        {"status": "succeeded", **captured},
        {"status": "succeeded", "at": now, "source": f"event:{event.event_id}:{problem}"},
        session,
    )
    await repository.flag(ctx.db, payment["_id"], problem, session)
    if moved is None:
        return False  # a report contradicting a capture already booked: flagged, nothing moves
    if refundable:
        await _due_for_refund(ctx, payment["_id"], now, session)
    await repository.insert_outbox(
        ctx.db,
        payment_event(
            "PaymentCaptureMismatch",
            moved,
            now,
            captured_amount=event.amount,
            captured_currency=event.currency,
        ),
        session,
    )
    return refundable


async def fail(
    ctx: PaymentContext, payment: Document, event: ProviderEvent, session: AsyncClientSession
) -> None:
    """Only a pending payment can fail: a late failure never undoes a success."""
    await _end_pending(ctx, payment, event, "failed", "declined", session)


async def withdraw(
    ctx: PaymentContext, payment: Document, event: ProviderEvent, session: AsyncClientSession
) -> None:
    """The provider withdrew the payment (we cancelled it for a closed order, or it was cancelled there)."""
    await _end_pending(ctx, payment, event, "cancelled", "cancelled", session)


async def _end_pending(
    ctx: PaymentContext,
    payment: Document,
    event: ProviderEvent,
    status: str,
    reason: str,
    session: AsyncClientSession,
) -> None:
    now = utcnow()
    moved = await repository.transition(
        ctx.db,
        payment["_id"],
        ["pending"],
        {"status": status, "failure_reason": reason, "updated_at": now},
        {"status": status, "at": now, "source": f"event:{event.event_id}"},
        session,
    )
    if moved is not None:
        kind = "PaymentFailed" if status == "failed" else "PaymentCancelled"
        await repository.insert_outbox(ctx.db, payment_event(kind, moved, now), session)


def alert(ctx: PaymentContext, provider: str, payment_id: ObjectId, reason: str, **fields: object) -> None:
    """A payment needs a person: counted (alert on any increase) and logged as an error."""
    ctx.metrics.flagged(provider, reason)
    log_event(
        logger, "payment.needs_attention", logging.ERROR, provider=provider, payment_id=str(payment_id),
        reason=reason, **fields,
    )  # fmt: skip
