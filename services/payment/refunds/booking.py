"""Booking a refund's outcome exactly once, whoever reports it first: the provider's synchronous
answer, its webhook, or reconciliation. One transaction records the refund, releases the holds,
counts the money refunded on the payment (and its order, when the refund affects it) and, last,
returns the units to stock."""

from __future__ import annotations

import logging

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from services.payment.context import PaymentContext
from services.payment.payments import repository as payments
from services.payment.providers.base import ProviderEvent
from services.payment.refunds import repository
from shared.clock import utcnow
from shared.db import Document, with_transaction
from shared.logging import log_event

logger = logging.getLogger("payment.refunds")


async def finish_refund(ctx: PaymentContext, refund_id: ObjectId, *, succeeded: bool) -> None:
    async def finish(session: AsyncClientSession) -> None:
        await finish_in(ctx, refund_id, succeeded, session)

    await with_transaction(ctx.client, finish, timeout_seconds=ctx.timeout)


async def finish_in(
    ctx: PaymentContext, refund_id: ObjectId, succeeded: bool, session: AsyncClientSession
) -> None:
    """Book a refund's outcome once: statuses, holds, outbox, and (last) the units back in stock."""
    now = utcnow()
    done = await repository.finish(
        ctx.db, refund_id, "succeeded" if succeeded else "failed", {"updated_at": now}, session
    )
    if done is None:
        return  # already booked (by the synchronous answer or the webhook, whichever came first)
    payment = await repository.book_on_payment(
        ctx.db, done["payment_id"], done["amount"], succeeded, now, session
    )
    assert payment is not None
    if done["affects_order"]:
        status = payment["status"] if succeeded else None
        await repository.book_on_order(
            ctx.db, done["order_id"], done["items"], status, f"refund:{refund_id}", now, succeeded, session
        )
    await payments.insert_outbox(
        ctx.db,
        {
            "_id": ObjectId(),
            "type": "RefundIssued" if succeeded else "RefundFailed",
            "refund_id": refund_id,
            "payment_id": done["payment_id"],
            "amount": done["amount"],
            "created_at": now,
            "published_at": None,
        },
        session,
    )
    if succeeded and payment["status"] == "refunded":
        await repository.clear_auto_refund(ctx.db, payment["_id"], session)
    if succeeded and done["items"]:
        await repository.return_units(ctx.db, done["items"], now, session)
    # A failed automatic refund leaves its payment due: the reconciler asks again.
    level = logging.WARNING if not succeeded and done.get("automatic") else logging.INFO
    log_event(logger, "refund.succeeded" if succeeded else "refund.failed", level, refund_id=str(refund_id))


async def apply_provider_outcome(
    ctx: PaymentContext, payment: Document, event: ProviderEvent, session: AsyncClientSession
) -> None:
    """A refund webhook, inside settlement's transaction: book it if it is one of ours and still pending."""
    refund = None
    if event.provider_refund_id:
        refund = await repository.find_by_provider_refund(ctx.db, payment["_id"], event.provider_refund_id)
    if refund is None:
        # The webhook can arrive before the synchronous answer recorded the provider's refund id: only
        # a refund with no provider id yet can be it (not one a dashboard refund happens to equal).
        pending = await repository.pending_for_payment(ctx.db, payment["_id"], session)
        refund = next(
            (c for c in pending if c["amount"] == event.amount and c.get("provider_refund_id") is None), None
        )
    if refund is None:
        return
    if refund["status"] == "succeeded" and event.kind == "refund_failed":
        # The provider took back a refund it had confirmed: the money did not go back. People decide.
        await repository.flag_for_attention(
            ctx.db, refund["_id"], payment["_id"], "refund_failed_after_success", session
        )
        log_event(logger, "refund.failed_after_success", logging.WARNING, refund_id=str(refund["_id"]))
        return
    await finish_in(ctx, refund["_id"], event.kind == "refund_succeeded", session)
