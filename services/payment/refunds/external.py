"""Refunds the shop did not start: made in the provider's dashboard, or by its support.

The provider reports them like ours, but without our refund id in their metadata. The money is back
with the customer all the same, so, in settlement's transaction: a refund document marked `external`
(status succeeded, no units returned: nobody said which), the payment's refunded amount (which
lowers what can still be refunded, automatically or by an admin), the order's money status while
this payment holds its sale, a RefundIssued event, and a flag for admins (`external_refund`), who
see it in the payment and its refunds. Identified by the provider's refund id, so its several
events (created, updated, the charge's) book it once.
"""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from services.payment.context import PaymentContext
from services.payment.events import refund_event
from services.payment.orders import repository as orders
from services.payment.payments import capture
from services.payment.payments import repository as payments
from services.payment.providers.base import ProviderEvent
from services.payment.refunds import repository
from services.payment.refunds.limits import captured, captured_currency
from shared.clock import utcnow
from shared.contracts.orders import holds_sale
from shared.db import Document
from shared.ids import unguessable_object_id

# A payment in one of these has captured money that a provider may have given back.
CAPTURED_STATES = ("succeeded", "partially_refunded", "refunded")


async def record(
    ctx: PaymentContext,
    provider: str,
    payment: Document,
    event: ProviderEvent,
    session: AsyncClientSession,
    alerts: list[capture.Alert],
) -> None:
    """Book a refund made at the provider (only a final, successful one moves money)."""
    if event.kind != "refund_succeeded" or not event.provider_refund_id:
        return  # a refund we never started failed: nothing moved
    current = await payments.find_payment(ctx.db, payment["_id"], session=session)
    if current is None or current["status"] not in CAPTURED_STATES:
        return  # nothing captured that we know of (settlement asked the provider about it first)
    currency = captured_currency(current)
    amount = event.amount
    if amount is None or (event.currency or "").upper() != currency:
        await _flag(ctx, current, "external_refund_unreadable", alerts, session, reported=event.amount_error)
        return
    if current.get("refunded_amount", 0) + amount > captured(current):
        # The provider gave back more than we know was captured and not refunded: our books and
        # the provider's disagree. Nothing is booked; a person reconciles them.
        await _flag(ctx, current, "external_refund_exceeds_capture", alerts, session, amount=amount)
        return
    holds = holds_sale(await orders.find_order(ctx.db, current["order_id"], session), current["_id"])
    now = utcnow()
    refund = {
        "_id": unguessable_object_id(),
        "payment_id": current["_id"],
        "order_id": current["order_id"],
        "amount": amount,
        "currency": currency,
        "items": [],
        "reason": f"refunded at {provider}",
        "status": "succeeded",
        # Unique per payment: the refund's other events find it by its provider id and stop there.
        "idempotency_key": f"external-{event.provider_refund_id}",
        "fingerprint": "",
        "automatic": False,
        "external": True,
        "affects_order": holds,
        "by": f"provider:{provider}",
        "provider_refund_id": event.provider_refund_id,
        "created_at": now,
        "updated_at": now,
    }
    await repository.insert_refund(ctx.db, refund, session)
    booked = await repository.book_on_payment(ctx.db, current["_id"], amount, True, now, session, held=False)
    assert booked is not None
    if holds:
        await orders.book_money(ctx.db, booked, f"refund:{refund['_id']}", now, session)
    await payments.insert_outbox(ctx.db, refund_event("RefundIssued", refund, now), session)
    if booked["status"] == "refunded":
        await repository.clear_auto_refund(ctx.db, booked["_id"], session)
    await _flag(ctx, current, "external_refund", alerts, session, refund_id=str(refund["_id"]), amount=amount)


async def _flag(
    ctx: PaymentContext,
    payment: Document,
    reason: str,
    alerts: list[capture.Alert],
    session: AsyncClientSession,
    **fields: object,
) -> None:
    await payments.flag(ctx.db, payment["_id"], reason, session)
    alerts.append(capture.Alert(reason, fields))
