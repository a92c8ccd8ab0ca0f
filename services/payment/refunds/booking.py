"""Booking a refund's outcome exactly once, whoever reports it first: the provider's synchronous
answer, its webhook, or reconciliation. One transaction records the refund, releases the holds,
counts the money refunded on the payment (and moves its order's money status, when the refund
affects the order) and, last, returns the units to stock.

A provider's refund event is matched by identity, never by amount: by the provider's refund id once
we know it, else by our refund id, which we send in the provider's metadata and it echoes back. A
refund event that is neither is a refund the shop did not start (made in the provider's dashboard):
it is recorded as an external refund (external.py).
"""

from __future__ import annotations

import logging

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from services.payment.context import PaymentContext
from services.payment.events import refund_event
from services.payment.orders import repository as orders
from services.payment.payments import capture
from services.payment.payments import repository as payments
from services.payment.providers.base import ProviderEvent, RefundResult
from services.payment.refunds import external, repository
from shared.audit import Action, Caller, Outcome, Target, audit
from shared.clock import utcnow
from shared.context import after_commit
from shared.db import Document
from shared.logging import log_event

logger = logging.getLogger("payment.refunds")


async def finish_refund(ctx: PaymentContext, refund_id: ObjectId, *, succeeded: bool) -> None:
    async def finish(session: AsyncClientSession) -> None:
        await finish_in(ctx, refund_id, succeeded, session)

    await ctx.transaction(finish)


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
    await audit(
        ctx.db,
        Action.REFUND_SETTLED,
        Caller.system("settlement"),
        Target("payment", str(done["payment_id"])),
        session,
        after={"status": payment["status"], "refunded_amount": payment["refunded_amount"]},
        outcome=Outcome.SUCCEEDED if succeeded else Outcome.FAILED,
        details={"refund_id": refund_id, "amount": done["amount"], "currency": done["currency"]},
    )
    if done["affects_order"]:
        await orders.book_restock(ctx.db, done["order_id"], done["items"], succeeded, session)
        if succeeded:
            await orders.book_money(ctx.db, payment, f"refund:{refund_id}", now, session)
    await payments.insert_outbox(
        ctx.db, refund_event("RefundIssued" if succeeded else "RefundFailed", done, now), session
    )
    if succeeded and payment["status"] == "refunded":
        await repository.clear_auto_refund(ctx.db, payment["_id"], session)
    if succeeded and done["items"]:
        await orders.return_stock(ctx.db, done["items"], now, session)  # contended: last
        units = sum(line["quantity"] for line in done["items"])
        after_commit(lambda: ctx.metrics.restocked.inc(units))  # refund_restocked_units_total
    # A failed automatic refund leaves its payment due: the reconciler asks again.
    level = logging.WARNING if not succeeded and done.get("automatic") else logging.INFO
    log_event(logger, "refund.succeeded" if succeeded else "refund.failed", level, refund_id=str(refund_id))


async def book_queried(ctx: PaymentContext, refund: Document, result: RefundResult) -> bool:
    """A provider's word on a pending refund (reconciliation asked): the provider's refund id it names
    is claimed for this refund unless another refund of ours owns it, and a final state is booked
    once. False when nothing was booked (still pending, or the id belongs to another refund)."""
    claim = result.provider_refund_id if not refund.get("provider_refund_id") else None
    if not claim:
        if result.state == "pending":
            return False
        await finish_refund(ctx, refund["_id"], succeeded=result.state == "succeeded")
        return True

    async def run(session: AsyncClientSession) -> bool:
        # Two refunds of one payment whose answers were lost may both find the same provider refund
        # (bKash: one new refund of their amount): claims of a payment run one after the other.
        await repository.serialise_claims(ctx.db, refund["payment_id"], session)
        owner = await repository.find_by_provider_refund(ctx.db, refund["payment_id"], claim, session)
        if owner is not None and owner["_id"] != refund["_id"]:
            return False
        await repository.bind_provider_refund(ctx.db, refund["_id"], claim, session)
        if result.state == "pending":
            return False
        await finish_in(ctx, refund["_id"], result.state == "succeeded", session)
        return True

    booked = await ctx.transaction(run)
    log_event(logger, "refund.claimed", refund_id=str(refund["_id"]), provider_refund_id=claim, booked=booked)
    return booked


async def _ours(
    ctx: PaymentContext, payment: Document, event: ProviderEvent, session: AsyncClientSession
) -> Document | None:
    """Our refund this event is about: by the provider's refund id, else by our id in its metadata."""
    if event.provider_refund_id:
        known = await repository.find_by_provider_refund(
            ctx.db, payment["_id"], event.provider_refund_id, session
        )
        if known is not None:
            return known
    if not event.refund_reference or not ObjectId.is_valid(event.refund_reference):
        return None
    refund = await repository.find_refund(ctx.db, ObjectId(event.refund_reference), session)
    if refund is None or refund["payment_id"] != payment["_id"]:
        return None
    bound = refund.get("provider_refund_id")
    if event.provider_refund_id and bound is None:
        # The webhook beat the synchronous answer: now we know the provider's id for it.
        await repository.bind_provider_refund(ctx.db, refund["_id"], event.provider_refund_id, session)
    return refund


async def apply_provider_outcome(
    ctx: PaymentContext,
    provider: str,
    payment: Document,
    event: ProviderEvent,
    session: AsyncClientSession,
    alerts: list[capture.Alert],
) -> None:
    """A refund webhook, inside settlement's transaction: book it once, whoever started it.
    Whatever needs a person is added to `alerts`, raised once the transaction committed."""
    refund = await _ours(ctx, payment, event, session)
    if refund is None:
        await external.record(ctx, provider, payment, event, session, alerts)
        return
    bound = refund.get("provider_refund_id")
    if bound is not None and event.provider_refund_id not in (None, bound):
        # Our id on another provider refund: someone reused our metadata. Nothing is booked.
        await payments.flag(ctx.db, payment["_id"], "refund_id_mismatch", session)
        alerts.append(capture.Alert("refund_id_mismatch", {"refund_id": str(refund["_id"])}))
        return
    if refund["status"] == "succeeded" and event.kind == "refund_failed":
        # The provider took back a refund it had confirmed: the money did not go back. People decide.
        await repository.flag_refund(ctx.db, refund["_id"], "refund_failed_after_success", session)
        await payments.flag(ctx.db, payment["_id"], "refund_failed_after_success", session)
        alerts.append(capture.Alert("refund_failed_after_success", {"refund_id": str(refund["_id"])}))
        return
    await finish_in(ctx, refund["_id"], event.kind == "refund_succeeded", session)
